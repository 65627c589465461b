"""Build the fixed set of product-like texts the multilingual encoder's fidelity is measured on.

Reproducible (fixed seed, standard library only):

    python models_onnx/make_multilingual_texts.py [--data PATH] [--out PATH]

Hand-written shop texts — catalogue titles (some in capitals, as feeds send them), shopper
queries and short descriptions — in Russian, Turkish, German, Spanish and French (the shops this
is for), a smaller number in the model's other languages (Italian, Portuguese, Dutch, Polish,
Japanese, Chinese, Korean, Arabic, Thai), English titles, category rows and descriptions built
from the real UCI Online Retail catalogue (``make_fidelity_texts.build``), and blank texts. Every
row is ``{"lang", "kind", "text"}``; the texts are stored as written: the encoder lower-cases
them itself (the model folder's config says so).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from make_fidelity_texts import DEFAULT_DATA, build

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "tests" / "fixtures" / "encoder_multilingual" / "texts.json"
SEED = 20261201

# Per language: catalogue titles, shopper queries, short descriptions. Written as shops and
# shoppers write them, not as translations of particular catalogue rows.
_TEXTS: dict[str, dict[str, list[str]]] = {
    "ru": {
        "title": [
            "Подсвечник металлический «Сердце», белый, подвесной",
            "Кружка керамическая с рисунком лисы, 350 мл",
            "Сумка-шоппер хлопковая в красный горошек",
            "Набор ёлочных игрушек из стекла, 12 шт., золото и серебро",
            "Форма для выпечки кексов силиконовая на 12 ячеек",
            "Часы настенные в стиле ретро, деревянные, 30 см",
            "Фоторамка деревянная 10х15, белая патина",
            "Гирлянда из флажков для дня рождения, 3 м",
            "Детский ночник «Зайчик» с тёплым светом",
            "Набор бумажных салфеток «Новый год», 20 шт.",
            "Плед флисовый 150×200 см, серый",
            "Чайник заварочный фарфоровый с цветочным узором",
            "ПОДСТАВКА ДЛЯ ТОРТА ТРЁХЪЯРУСНАЯ",
            "ЛАНЧБОКС ДЕТСКИЙ С КОСМОНАВТОМ",
            "ФОНАРЬ САДОВЫЙ МЕТАЛЛИЧЕСКИЙ ЧЁРНЫЙ",
        ],
        "query": [
            "подарок маме на день рождения",
            "красная сумка для покупок",
            "свечи для уютного вечера",
            "ёлочные игрушки стекло",
            "кружка с котиком",
            "что подарить коллеге недорого",
            "формочки для печенья новогодние",
            "рамка для фото на стену",
            "детская посуда без пластика",
            "украшения для свадьбы",
            "ночник в детскую",
            "упаковочная бумага крафт",
        ],
        "description": [
            "Уютный подсвечник для чайных свечей. Подойдёт для гостиной и веранды, "
            "приятный подарок к празднику.",
            "Вместительная сумка из плотного хлопка, выдерживает до 10 кг. Можно стирать "
            "при 30 градусах.",
            "Набор из трёх жестяных банок для хранения печенья, чая и кофе. "
            "Крышки плотно закрываются.",
            "Керамическая кружка ручной работы, каждая немного отличается по цвету. "
            "Не рекомендуется мыть в посудомоечной машине.",
            "Мягкая игрушка высотой 25 см из гипоаллергенных материалов, для детей от 3 лет.",
            "Бумажная гирлянда с помпонами для детского праздника, длина 2,5 метра.",
        ],
    },
    "tr": {
        "title": [
            "Beyaz Metal Kalp Tealight Mumluk, Asma",
            "Seramik Kupa Tilki Desenli 350 ml",
            "Kırmızı Puantiyeli Pamuklu Alışveriş Çantası",
            "Cam Yılbaşı Ağacı Süsü 12'li Set, Altın ve Gümüş",
            "Silikon Muffin Kalıbı 12 Bölmeli",
            "Retro Ahşap Duvar Saati 30 cm",
            "Ahşap Fotoğraf Çerçevesi 10x15, Eskitme Beyaz",
            "Doğum Günü Bayrak Süs Zinciri 3 Metre",
            "Tavşan Figürlü Çocuk Odası Gece Lambası",
            "Desenli Kağıt Peçete 20'li Paket",
            "Polar Battaniye 150x200 cm Gri",
            "Porselen Demlik Çiçek Desenli",
            "ÜÇ KATLI PASTA STANDI PORSELEN",
            "ÇOCUK BESLENME ÇANTASI ASTRONOT DESENLİ",
            "BAHÇE FENERİ SİYAH METAL",
        ],
        "query": [
            "anneler günü hediyesi",
            "kırmızı alışveriş çantası",
            "mum ve mumluk seti",
            "yılbaşı ağacı süsleri cam",
            "kedili kupa bardak",
            "iş arkadaşına ucuz hediye",
            "kurabiye kalıbı yılbaşı",
            "duvara fotoğraf çerçevesi",
            "plastiksiz çocuk tabağı",
            "düğün süslemeleri",
            "bebek odası gece lambası",
            "kraft hediye paketi kağıdı",
        ],
        "description": [
            "Tealight mumlar için şık bir mumluk. Oturma odası ve balkon için ideal, "
            "bayramlarda güzel bir hediye.",
            "Kalın pamuktan geniş alışveriş çantası, 10 kg'a kadar taşır. 30 derecede yıkanabilir.",
            "Kurabiye, çay ve kahve saklamak için üçlü teneke kutu seti. Kapakları sıkıca kapanır.",
            "El yapımı seramik kupa, her biri renk olarak biraz farklıdır. Bulaşık "
            "makinesinde yıkanması önerilmez.",
            "Antialerjik malzemeden 25 cm peluş oyuncak, 3 yaş ve üzeri çocuklar için.",
            "Çocuk partileri için ponponlu kağıt süs, uzunluğu 2,5 metre.",
        ],
    },
    "de": {
        "title": [
            "Teelichthalter Herz aus Metall, weiß, zum Aufhängen",
            "Keramikbecher mit Fuchsmotiv, 350 ml",
            "Einkaufstasche aus Baumwolle, rot gepunktet",
            "Christbaumkugeln aus Glas, 12er-Set, Gold und Silber",
            "Muffinform aus Silikon für 12 Muffins",
            "Wanduhr im Retro-Stil aus Holz, 30 cm",
            "Bilderrahmen Holz 10x15, Antikweiß",
            "Wimpelkette zum Geburtstag, 3 m",
            "Kinder-Nachtlicht Hase mit warmweißem Licht",
            "Papierservietten Weihnachten, 20 Stück",
            "Kuscheldecke Fleece 150 x 200 cm, grau",
            "Teekanne aus Porzellan mit Blumenmuster",
            "ETAGERE 3 STÖCKIG PORZELLAN",
            "BROTDOSE KINDER ASTRONAUT",
            "GARTENLATERNE METALL SCHWARZ",
        ],
        "query": [
            "geschenk für mama zum geburtstag",
            "rote einkaufstasche",
            "kerzen für gemütliche abende",
            "weihnachtskugeln glas",
            "tasse mit katze",
            "kleines geschenk für kollegen",
            "ausstecher weihnachten plätzchen",
            "bilderrahmen für die wand",
            "kindergeschirr ohne plastik",
            "hochzeitsdeko",
            "nachtlicht kinderzimmer",
            "geschenkpapier kraftpapier",
        ],
        "description": [
            "Hübscher Halter für Teelichter. Passt ins Wohnzimmer und auf die Terrasse, "
            "ein schönes Mitbringsel.",
            "Geräumige Tasche aus fester Baumwolle, trägt bis zu 10 kg. Waschbar bei 30 Grad.",
            "Set aus drei Blechdosen für Kekse, Tee und Kaffee. Die Deckel schließen dicht.",
            "Handgemachter Keramikbecher, jedes Stück weicht in der Farbe etwas ab. "
            "Nicht spülmaschinenfest.",
            "Kuscheltier, 25 cm hoch, aus hypoallergenem Material, ab 3 Jahren.",
            "Papiergirlande mit Pompons für den Kindergeburtstag, 2,5 Meter lang.",
        ],
    },
    "es": {
        "title": [
            "Portavelas de metal con forma de corazón, blanco, para colgar",
            "Taza de cerámica con dibujo de zorro, 350 ml",
            "Bolsa de la compra de algodón con lunares rojos",
            "Bolas de Navidad de cristal, set de 12, dorado y plateado",
            "Molde de silicona para 12 magdalenas",
            "Reloj de pared retro de madera, 30 cm",
            "Marco de fotos de madera 10x15, blanco envejecido",
            "Guirnalda de banderines para cumpleaños, 3 m",
            "Lámpara quitamiedos infantil con forma de conejo",
            "Servilletas de papel navideñas, 20 unidades",
            "Manta polar 150 x 200 cm, gris",
            "Tetera de porcelana con estampado de flores",
            "SOPORTE PARA TARTAS DE TRES PISOS",
            "FIAMBRERA INFANTIL ASTRONAUTA",
            "FAROL DE JARDÍN DE METAL NEGRO",
        ],
        "query": [
            "regalo para mi madre cumpleaños",
            "bolsa roja para la compra",
            "velas para una noche acogedora",
            "adornos árbol de navidad cristal",
            "taza con gato",
            "regalo barato para un compañero",
            "cortadores de galletas navidad",
            "marcos de fotos para la pared",
            "vajilla infantil sin plástico",
            "decoración para bodas",
            "luz de noche para bebé",
            "papel de regalo kraft",
        ],
        "description": [
            "Bonito portavelas para velas de té. Queda bien en el salón y en la terraza, "
            "un detalle perfecto.",
            "Bolsa amplia de algodón resistente, aguanta hasta 10 kg. Lavable a 30 grados.",
            "Juego de tres latas para guardar galletas, té y café. Las tapas cierran bien.",
            "Taza de cerámica hecha a mano, cada pieza tiene un color ligeramente distinto. "
            "No apta para lavavajillas.",
            "Peluche de 25 cm de materiales hipoalergénicos, para niños a partir de 3 años.",
            "Guirnalda de papel con pompones para fiestas infantiles, 2,5 metros de largo.",
        ],
    },
    "fr": {
        "title": [
            "Photophore cœur en métal blanc à suspendre",
            "Mug en céramique motif renard, 350 ml",
            "Sac cabas en coton à pois rouges",
            "Boules de Noël en verre, lot de 12, or et argent",
            "Moule à muffins en silicone 12 empreintes",
            "Horloge murale rétro en bois, 30 cm",
            "Cadre photo en bois 10x15, blanc vieilli",
            "Guirlande de fanions anniversaire, 3 m",
            "Veilleuse lapin pour chambre d'enfant, lumière chaude",
            "Serviettes en papier de Noël, paquet de 20",
            "Plaid polaire 150 x 200 cm, gris",
            "Théière en porcelaine à motif floral",
            "PRÉSENTOIR À GÂTEAUX 3 ÉTAGES",
            "BOÎTE À GOÛTER ENFANT ASTRONAUTE",
            "LANTERNE DE JARDIN EN MÉTAL NOIR",
        ],
        "query": [
            "cadeau anniversaire maman",
            "sac de courses rouge",
            "bougies pour une soirée cosy",
            "boules de sapin en verre",
            "mug avec un chat",
            "petit cadeau pas cher pour un collègue",
            "emporte-pièces biscuits de noël",
            "cadres photo pour le mur",
            "vaisselle enfant sans plastique",
            "décoration de mariage",
            "veilleuse chambre bébé",
            "papier cadeau kraft",
        ],
        "description": [
            "Joli photophore pour bougies chauffe-plat. Idéal pour le salon ou la terrasse, "
            "une belle idée cadeau.",
            "Grand sac en coton épais, supporte jusqu'à 10 kg. Lavable à 30 degrés.",
            "Lot de trois boîtes en fer pour ranger biscuits, thé et café. Les couvercles "
            "ferment bien.",
            "Mug en céramique fait main, chaque pièce a une couleur un peu différente. "
            "Ne passe pas au lave-vaisselle.",
            "Peluche de 25 cm en matières hypoallergéniques, dès 3 ans.",
            "Guirlande en papier avec pompons pour fête d'enfants, 2,5 mètres de long.",
        ],
    },
    "it": {
        "title": [
            "Portacandele a cuore in metallo bianco da appendere",
            "Tazza in ceramica con volpe, 350 ml",
            "Borsa della spesa in cotone a pois rossi",
            "Palline di Natale in vetro, set da 12",
            "Orologio da parete vintage in legno",
        ],
        "query": [
            "regalo per la mamma",
            "tazza con il gatto",
            "decorazioni albero di natale",
            "cornice foto legno",
            "luce notturna cameretta",
        ],
    },
    "pt": {
        "title": [
            "Porta-velas de coração em metal branco para pendurar",
            "Caneca de cerâmica com estampa de raposa, 350 ml",
            "Sacola de compras de algodão com bolinhas vermelhas",
            "Bolas de Natal de vidro, kit com 12",
            "Relógio de parede retrô de madeira",
        ],
        "query": [
            "presente para mãe aniversário",
            "caneca de gato",
            "enfeites de natal de vidro",
            "porta retrato de madeira",
            "luminária infantil para quarto",
        ],
    },
    "nl": {
        "title": [
            "Waxinelichthouder hart van metaal, wit, om op te hangen",
            "Keramische mok met vos, 350 ml",
            "Katoenen boodschappentas met rode stippen",
            "Glazen kerstballen, set van 12",
            "Retro wandklok van hout",
        ],
        "query": [
            "cadeau voor moeder verjaardag",
            "mok met kat",
            "kerstversiering glas",
            "fotolijst hout",
            "nachtlampje kinderkamer",
        ],
    },
    "pl": {
        "title": [
            "Świecznik w kształcie serca z metalu, biały, wiszący",
            "Kubek ceramiczny z lisem, 350 ml",
            "Bawełniana torba na zakupy w czerwone kropki",
            "Bombki choinkowe ze szkła, zestaw 12 sztuk",
            "Zegar ścienny retro z drewna",
        ],
        "query": [
            "prezent dla mamy na urodziny",
            "kubek z kotem",
            "ozdoby choinkowe szklane",
            "ramka na zdjęcia drewniana",
            "lampka nocna do pokoju dziecka",
        ],
    },
    "ja": {
        "title": [
            "ハート型キャンドルホルダー 吊り下げ 白",
            "キツネ柄のセラミックマグカップ 350ml",
            "赤い水玉のコットンエコバッグ",
            "ガラスのクリスマスオーナメント 12個セット",
            "木製レトロ壁掛け時計 30cm",
        ],
        "query": ["母の日 プレゼント", "猫のマグカップ", "クリスマスツリー 飾り", "写真立て 木製"],
    },
    "zh": {
        "title": [
            "白色金属爱心蜡烛台 可悬挂",
            "狐狸图案陶瓷马克杯 350毫升",
            "红色波点棉质购物袋",
            "玻璃圣诞树挂饰 12个装",
            "复古木质挂钟 30厘米",
        ],
        "query": ["送妈妈的生日礼物", "猫咪马克杯", "圣诞节装饰品", "木质相框"],
    },
    "ko": {
        "title": [
            "하트 모양 메탈 캔들 홀더 화이트",
            "여우 그림 세라믹 머그컵 350ml",
            "빨간 물방울 무늬 면 장바구니",
            "유리 크리스마스 트리 장식 12개 세트",
            "레트로 원목 벽시계 30cm",
        ],
        "query": ["엄마 생일 선물", "고양이 머그컵", "크리스마스 장식", "원목 액자"],
    },
    "ar": {
        "title": [
            "حامل شموع معدني على شكل قلب أبيض للتعليق",
            "كوب سيراميك برسمة ثعلب 350 مل",
            "حقيبة تسوق قطنية منقطة بالأحمر",
            "كرات زينة زجاجية لشجرة الميلاد، 12 قطعة",
            "ساعة حائط خشبية بتصميم قديم",
        ],
        "query": ["هدية عيد ميلاد للأم", "كوب عليه قطة", "زينة الكريسماس", "إطار صور خشب"],
    },
    "th": {
        "title": [
            "ที่วางเทียนรูปหัวใจ โลหะสีขาว แบบแขวน",
            "แก้วมัคเซรามิกลายสุนัขจิ้งจอก 350 มล.",
            "กระเป๋าผ้าฝ้ายลายจุดสีแดง",
            "ลูกบอลแก้วประดับต้นคริสต์มาส 12 ชิ้น",
        ],
        "query": ["ของขวัญวันเกิดแม่", "แก้วลายแมว", "ของตกแต่งคริสต์มาส"],
    },
}

_ENGLISH_QUERIES = [
    "gift for mum birthday",
    "red shopping bag",
    "candles for a cosy evening",
    "glass christmas tree baubles",
    "mug with a cat on it",
    "cheap present for a colleague",
    "christmas cookie cutters",
    "picture frames for the wall",
    "plastic free kids tableware",
    "wedding decorations",
    "night light for the nursery",
    "kraft wrapping paper",
    "something to keep cake fresh",
    "vintage style alarm clock",
    "85123a",
]

_BLANK = ["", " ", "\t\n"]


def build_multilingual(data: Path, *, seed: int = SEED) -> list[dict[str, str]]:
    """Every text with its language and kind, in a fixed order."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    for lang, kinds in _TEXTS.items():
        for kind, texts in kinds.items():
            rows.extend({"lang": lang, "kind": kind, "text": t} for t in texts)
    english = [r for r in build(data) if r["kind"] in {"title", "category", "description"}]
    for kind in ("title", "category", "description"):
        pool = [r["text"] for r in english if r["kind"] == kind]
        rows.extend({"lang": "en", "kind": kind, "text": t} for t in rng.sample(pool, 30))
    rows.extend({"lang": "en", "kind": "query", "text": t} for t in _ENGLISH_QUERIES)
    rows.extend({"lang": "blank", "kind": "blank", "text": t} for t in _BLANK)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    rows = build_multilingual(args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} texts to {args.out}")


if __name__ == "__main__":
    main()
