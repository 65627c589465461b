"""Build the fixed set of product-like texts the int8 encoder's fidelity is measured on.

Reproducible (fixed seed, sorted inputs, standard library only):

    python models_onnx/make_fidelity_texts.py [--data PATH] [--out PATH]

Sources: the real product descriptions of the UCI Online Retail data set (titles as they are,
then category-like and description-like expansions built from the title's own words, some
long texts beyond 256 tokens), hand-written product texts in German, French, Spanish,
Japanese, Chinese, Russian and Arabic, and empty / whitespace-only texts.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"
DEFAULT_OUT = ROOT / "tests" / "fixtures" / "encoder" / "texts.json"
SEED = 20261123

#: StockCodes that are fees, postage or adjustments, not products.
_NOT_PRODUCTS = re.compile(
    r"^(POST|D|M|DOT|BANK CHARGES|AMAZONFEE|CRUK|C2|PADS|S|B|DCGS.*|gift_.*)$"
)

#: Coarse category paths chosen by keywords of the title (first match wins).
_CATEGORIES: list[tuple[tuple[str, ...], str]] = [
    (("BAG", "SHOPPER", "TOTE"), "Bags & Accessories > Shopping Bags"),
    (("MUG", "TEACUP", "CUP", "SAUCER", "PLATE", "BOWL"), "Kitchen & Dining > Tableware"),
    (("CAKE", "BAKING", "TIN", "JAM", "RECIPE", "MOULD"), "Kitchen & Dining > Baking"),
    (("T-LIGHT", "CANDLE", "LANTERN", "LIGHT"), "Home Decor > Lighting & Candles"),
    (("CHRISTMAS", "BAUBLE", "ADVENT"), "Seasonal > Christmas Decorations"),
    (("FRAME", "CHALKBOARD", "SIGN", "CLOCK"), "Home Decor > Wall Decor"),
    (("CARD", "WRAP", "PAPER", "NAPKIN", "BUNTING"), "Party & Stationery > Paper Goods"),
    (("DOLL", "TOY", "GAME", "JIGSAW", "SPACEBOY"), "Toys & Games"),
    (("GARDEN", "PLANT", "FLOWER", "BIRD"), "Garden & Outdoor"),
    (("NECKLACE", "EARRINGS", "BRACELET", "RING"), "Jewellery"),
]

_MATERIALS = ["ceramic", "wood", "enamelled metal", "glass", "recycled paper", "cotton", "zinc"]
_USES = [
    "a thoughtful gift for friends and family",
    "brightening up a kitchen shelf",
    "birthday parties and summer fetes",
    "a cosy living room",
    "weddings, christenings and baby showers",
    "everyday use at home or in the office",
]
_PHRASES = [
    "Part of our best-selling range, designed in-house and made to last.",
    "Each piece is finished by hand so slight variations are part of its charm.",
    "Wipe clean with a damp cloth; not suitable for the dishwasher.",
    "Supplied flat-packed in a recyclable gift box with a printed tag.",
    "Matches the rest of the collection shown in our seasonal catalogue.",
    "Please note colours may vary slightly from the photograph.",
    "Minimum order quantities apply to trade customers; see the price breaks below.",
    "Dimensions are approximate and measured at the widest point.",
]

#: Product texts in other languages (not translations of a specific row; product-like on purpose).
_NON_ENGLISH: dict[str, list[str]] = {
    "de": [
        "Weißer hängender Herz-Teelichthalter aus Metall",
        "Kuchenständer mit drei Etagen im Regency-Stil, Porzellan mit Rosenmuster",
        "Brotdose für Kinder mit Raumfahrer-Motiv, spülmaschinenfest",
        "Großer Einkaufsbeutel aus Jute, rot gepunktet, 40 x 30 cm",
        "Weihnachtskugeln aus Glas, 12er-Set, handbemalt in Gold und Silber",
        "Wecker im Retro-Design, Bakelit-Optik, grün. Ein schönes Geschenk für Nostalgiker.",
        "Bilderrahmen aus Holz, antikweiß, für Fotos 10 x 15 cm",
        "Marmeladen-Set mit Gläsern, Etiketten und Deckeln aus Stoff",
        "Nachtlicht Hase für das Kinderzimmer, warmweißes LED-Licht",
        "Papiergirlande mit Wimpeln für Gartenpartys, 10 Meter lang",
    ],
    "fr": [
        "Porte-bougie coeur blanc à suspendre en métal",
        "Présentoir à gâteaux trois étages style Régence, porcelaine fleurie",
        "Sac à déjeuner isotherme motif tête de mort noire",
        "Lot de 72 caissettes à cupcakes à pois rouges",
        "Lanterne en métal blanc pour le jardin, avec poignée",
        "Horloge murale vintage en bois, chiffres romains, 30 cm de diamètre",
        "Coffret de recettes au design garde-manger jaune avec 50 fiches",
        "Guirlande de fanions en tissu pour anniversaire et mariage",
        "Théière en céramique et deux tasses assorties, idée cadeau pour la fête des mères",
        "Veilleuse lapin pour chambre d'enfant",
    ],
    "es": [
        "Portavelas de corazón blanco colgante de metal",
        "Bolsa grande de la compra con lunares rosas",
        "Juego de tres latas para pasteles con diseño de despensa",
        "Pizarra de pizarra natural en forma de corazón para la cocina",
        "Taza de té y platillo de porcelana con rosas, estilo regencia",
        "Adornos de pájaros de colores surtidos para colgar en el árbol",
        "Reloj despertador retro de baquelita, rojo, con campana",
        "Marco de fotos de madera con acabado blanco envejecido",
        "Kit de cadena de papel navideño de los años 50",
        "Servilletas de papel con lunares rojos, paquete de 20 unidades",
    ],
    "ja": [
        "白いハート型のキャンドルホルダー(吊り下げ式)",
        "3段のケーキスタンド リージェンシー調 陶器製",
        "赤い水玉模様のジャンボバッグ",
        "子ども用ランチバッグ 宇宙飛行士デザイン",
        "天然スレートのハート型黒板 キッチンのメモに",
        "レトロな目覚まし時計 ベークライト風 グリーン",
        "木製フォトフレーム アンティークホワイト仕上げ",
        "クリスマス用ペーパーチェーンキット 50年代風",
        "ウサギのナイトライト 子ども部屋に優しい明かり",
        "紅茶カップとソーサーのセット バラ柄 ギフトボックス入り",
    ],
    "zh": [
        "白色悬挂爱心茶烛灯座",
        "三层摄政风格蛋糕架,骨瓷玫瑰图案",
        "红色圆点大号购物袋",
        "儿童午餐袋,太空男孩图案",
        "天然石板心形黑板",
        "复古电木闹钟,红色",
        "白色木质相框,做旧效果",
        "圣诞节纸链装饰套装",
        "兔子小夜灯,适合儿童房",
        "玫瑰图案茶杯和茶碟套装,送礼佳品",
    ],
    "ru": [
        "Подсвечник в форме белого сердца, подвесной",
        "Трёхъярусная подставка для торта в стиле Регентства",
        "Большая хозяйственная сумка в красный горошек",
        "Сумка для обеда с рисунком черепа, чёрная",
        "Набор из трёх жестяных банок для выпечки",
        "Будильник в стиле ретро, под бакелит, зелёный",
        "Деревянная рамка для фотографий, белая патина",
        "Гирлянда из флажков для праздника, 10 метров",
        "Ночник-кролик для детской комнаты",
        "Набор для варенья: банки, этикетки и крышки",
    ],
    "ar": [
        "حامل شموع على شكل قلب أبيض معلق",
        "حامل كعك من ثلاث طبقات بتصميم ريجنسي",
        "حقيبة تسوق كبيرة منقطة باللون الأحمر",
        "حقيبة غداء للأطفال بتصميم رائد الفضاء",
        "سبورة على شكل قلب من الأردواز الطبيعي",
        "منبه كلاسيكي بلون أخضر",
        "إطار صور خشبي بلون أبيض عتيق",
        "زينة عيد الميلاد من الورق",
        "مصباح ليلي على شكل أرنب لغرفة الأطفال",
        "طقم فنجان وصحن شاي بنقشة الورود",
    ],
}

_BLANK = ["", " ", "   ", "\t", "\n\n", " \t \n "]


def _titles(data: Path) -> list[tuple[str, float]]:
    """Distinct product titles with their most common unit price, most frequent first."""
    counts: Counter[str] = Counter()
    price: dict[str, float] = {}
    with gzip.open(data, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            title = " ".join((row["Description"] or "").split())
            if not title or _NOT_PRODUCTS.match(row["StockCode"]) or not title[:1].isalnum():
                continue
            if title.isupper() and len(title) > 6:
                counts[title] += 1
                price.setdefault(title, float(row["UnitPrice"] or 0))
    ranked = sorted(counts, key=lambda t: (-counts[t], t))
    return [(t, price[t]) for t in ranked]


def _category(title: str) -> str:
    words = set(re.split(r"[^A-Z\-]+", title))
    for keys, path in _CATEGORIES:
        if words & set(keys):
            return path
    return "Gifts > Miscellaneous"


def _describe(title: str, price: float, rng: random.Random, sentences: int) -> str:
    name = title.title()
    body = [
        f"{name}.",
        f"Made from {rng.choice(_MATERIALS)}, perfect for {rng.choice(_USES)}.",
        *rng.sample(_PHRASES, k=min(sentences, len(_PHRASES))),
        f"Price £{price:.2f} each.",
    ]
    return " ".join(body)


def build(data: Path, *, seed: int = SEED) -> list[dict[str, str]]:
    """The texts, each tagged with the kind of expansion that produced it."""
    rng = random.Random(seed)
    titles = _titles(data)
    head, tail = titles[:400], titles[400:]
    # Frequent titles plus a random spread of the long tail, so rare spellings are included.
    picked = rng.sample(head, 110) + rng.sample(tail, 110)
    rng.shuffle(picked)
    texts: list[dict[str, str]] = []
    for title, _ in picked[:70]:
        texts.append({"kind": "title", "text": title})
    for title, _ in picked[70:110]:
        texts.append({"kind": "title_lower", "text": title.capitalize()})
    for title, _ in picked[110:155]:
        texts.append({"kind": "category", "text": f"{title.title()}. {_category(title)}."})
    for title, price in picked[155:220]:
        sentences = rng.randint(1, 4)
        text = f"{title.title()}. {_category(title)}. {_describe(title, price, rng, sentences)}"
        texts.append({"kind": "description", "text": text})
    # Long texts: several products' descriptions run together, well beyond 256 tokens.
    for _ in range(12):
        group = rng.sample(picked, 8)
        parts = [_describe(t, p, rng, len(_PHRASES)) for t, p in group]
        texts.append({"kind": "long", "text": " ".join(parts)})
    for lang, items in sorted(_NON_ENGLISH.items()):
        texts.extend({"kind": f"lang_{lang}", "text": item} for item in items)
    # Mixed-language catalogue rows (English title, foreign description), as marketplaces have.
    for lang, items in sorted(_NON_ENGLISH.items()):
        title, _ = picked[rng.randrange(len(picked))]
        texts.append({"kind": f"mixed_{lang}", "text": f"{title.title()}. {items[-1]}"})
    texts.extend({"kind": "blank", "text": blank} for blank in _BLANK)
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    texts = build(args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(texts, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(texts)} texts to {args.out}")


if __name__ == "__main__":
    main()
