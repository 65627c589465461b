"""The search query set: shopper queries over the Online Retail catalog and their relevant products.

Written by hand from the catalog (``recsys.datasets.online_retail.load_catalog``), as shoppers
would type them — not word-for-word translations of the titles (which are terse upper-case
English: "ALARM CLOCK BAKELIKE RED"). Kinds:

- ``language``: one query per language (ru, tr, de, es, fr) for each product *concept*;
- ``rare``: English queries built on a distinctive catalog word, or a product code (StockCode);
- ``paraphrase``: English descriptions of the need that share few words with the titles;
- ``nomatch``: nonsense strings and other shops' products (tyres, engine oil, …) in several
  languages; nothing in the catalog is relevant.

Relevance is not hand-listed: each concept states which titles are equivalent (every regex in
``match`` must match the title, none in ``exclude``), and :func:`build` resolves that against the
catalog, so "products with equivalent titles" (the shop lists colour variants and re-listings
under separate codes) all count, and a target that does not exist fails the build. Each query
also carries ``split`` ("a" or "b", fixed by its concept) so a choice made on one half can be
checked on the other.

Run ``.venv/bin/python -m bench.search_queryset`` to regenerate docs/data/search_queries.jsonl
(the full set) and tests/fixtures/search_queries.jsonl with tests/fixtures/search_catalog.jsonl
(the test subset and a small real catalog sample holding its targets and distractors).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CATALOG = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"
FULL_OUT = ROOT / "docs" / "data" / "search_queries.jsonl"
TEST_OUT = ROOT / "tests" / "fixtures" / "search_queries.jsonl"
TEST_CATALOG_OUT = ROOT / "tests" / "fixtures" / "search_catalog.jsonl"

LANGUAGES = ("ru", "tr", "de", "es", "fr")


@dataclass(frozen=True)
class Concept:
    """Products a query is about: titles matching every ``match`` regex and no ``exclude`` one."""

    id: str
    match: Sequence[str]
    exclude: Sequence[str] = ()
    #: language → query (``language`` kind), or "en" → query (``rare``/``paraphrase``).
    queries: Mapping[str, str] = field(default_factory=dict)
    #: Product codes relevant by id (code queries); added to whatever ``match`` finds.
    codes: Sequence[str] = ()

    def matches(self, title: str) -> bool:
        return all(re.search(p, title) for p in self.match) and not any(
            re.search(p, title) for p in self.exclude
        )


def C(
    cid: str, match: str | Sequence[str], queries: Mapping[str, str], exclude: Sequence[str] = ()
) -> Concept:
    return Concept(
        cid, [match] if isinstance(match, str) else list(match), list(exclude), dict(queries)
    )


# --- one query per language for each concept ----------------------------------------------------

LANGUAGE_CONCEPTS: tuple[Concept, ...] = (
    C(
        "hanging-heart-tlight",
        ["HEART", "HANGING", "T-LIGHT|CANDLE"],
        {
            "ru": "подвесной подсвечник в виде сердца",
            "tr": "kalp şeklinde asılır mumluk",
            "de": "Herz Windlicht zum Aufhängen",
            "es": "portavelas de corazón para colgar",
            "fr": "photophore coeur à suspendre",
        },
    ),
    C(
        "cakestand-3-tier",
        ["CAKE ?STAND", "3 TIER"],
        {
            "ru": "трёхъярусная подставка для пирожных",
            "tr": "3 katlı kek standı",
            "de": "Etagere mit 3 Etagen für Kuchen",
            "es": "soporte para tartas de tres pisos",
            "fr": "présentoir à gâteaux 3 étages",
        },
    ),
    C(
        "alarm-clock",
        "ALARM CLOCK",
        {
            "ru": "настольный будильник",
            "tr": "çalar saat",
            "de": "Wecker",
            "es": "despertador de mesa",
            "fr": "réveil matin",
        },
    ),
    C(
        "jam-making",
        "JAM MAKING",
        {
            "ru": "набор чтобы варить варенье",
            "tr": "ev yapımı reçel seti",
            "de": "Set zum Marmelade einkochen",
            "es": "kit para hacer mermelada casera",
            "fr": "kit pour faire sa confiture",
        },
    ),
    C(
        "kitchen-scales",
        "KITCHEN SCALES",
        {
            "ru": "кухонные весы в ретро стиле",
            "tr": "retro mutfak tartısı",
            "de": "Küchenwaage im Retro-Look",
            "es": "báscula de cocina vintage",
            "fr": "balance de cuisine rétro",
        },
    ),
    C(
        "lunchbox-cutlery",
        ["LUNCH BOX", "CUTLERY"],
        {
            "ru": "ланчбокс с вилкой и ложкой для ребёнка",
            "tr": "çatal kaşıklı beslenme kutusu",
            "de": "Brotdose mit Besteck",
            "es": "fiambrera con cubiertos",
            "fr": "boîte à goûter avec couverts",
        },
    ),
    C(
        "knitting-nancy",
        "KNITTING NANCY",
        {
            "ru": "вязальная катушка для детей",
            "tr": "çocuklar için örgü makarası",
            "de": "Strickliesel",
            "es": "tricotín para niños",
            "fr": "tricotin pour enfant",
        },
    ),
    C(
        "dominoes",
        "DOMINO",
        {
            "ru": "домино деревянное",
            "tr": "domino taşları",
            "de": "Dominosteine aus Holz",
            "es": "juego de dominó",
            "fr": "jeu de dominos",
        },
    ),
    C(
        "snakes-ladders",
        "SNAKES",
        {
            "ru": "настольная игра змеи и лестницы",
            "tr": "yılan merdiven oyunu",
            "de": "Brettspiel Schlangen und Leitern",
            "es": "juego de serpientes y escaleras",
            "fr": "jeu serpents et échelles",
        },
    ),
    C(
        "harmonica",
        "HARMONICA",
        {
            "ru": "губная гармошка",
            "tr": "mızıka",
            "de": "Mundharmonika",
            "es": "armónica",
            "fr": "harmonica pour enfant",
        },
    ),
    C(
        "skipping-rope",
        "SKIPPING ROPE",
        {
            "ru": "скакалка",
            "tr": "atlama ipi",
            "de": "Springseil",
            "es": "comba para saltar",
            "fr": "corde à sauter",
        },
    ),
    C(
        "teapot",
        "TEAPOT",
        {
            "ru": "заварочный чайник",
            "tr": "porselen demlik",
            "de": "Teekanne",
            "es": "tetera de cerámica",
            "fr": "théière",
        },
    ),
    C(
        "bread-bin",
        "BREAD BIN",
        {
            "ru": "хлебница",
            "tr": "ekmek kutusu",
            "de": "Brotkasten",
            "es": "panera",
            "fr": "boîte à pain",
        },
    ),
    C(
        "watering-can",
        "WATERING CAN",
        {
            "ru": "лейка для цветов",
            "tr": "çiçek sulama kabı",
            "de": "Gießkanne",
            "es": "regadera",
            "fr": "arrosoir",
        },
        exclude=["MARKER", "JIGSAW", "HOOK"],
    ),
    C(
        "cookie-cutters",
        "COOKIE CUTTER|BISCUIT CUTTER",
        {
            "ru": "формочки для вырезания печенья",
            "tr": "kurabiye kalıbı",
            "de": "Ausstechformen für Plätzchen",
            "es": "cortadores de galletas",
            "fr": "emporte-pièces pour biscuits",
        },
    ),
    C(
        "picnic-basket",
        "PICNIC BASKET",
        {
            "ru": "плетёная корзина для пикника",
            "tr": "hasır piknik sepeti",
            "de": "Picknickkorb",
            "es": "cesta de picnic de mimbre",
            "fr": "panier pique-nique en osier",
        },
    ),
    C(
        "kids-umbrella",
        ["UMBRELLA", "CHILD"],
        {
            "ru": "детский зонтик",
            "tr": "cocuk semsiyesi",
            "de": "Regenschirm für Kinder",
            "es": "paraguas infantil",
            "fr": "parapluie enfant",
        },
    ),
    C(
        "sewing-kit",
        "SEWING KIT",
        {
            "ru": "набор для шитья с иголками и нитками",
            "tr": "dikiş seti",
            "de": "Nähset",
            "es": "kit de costura",
            "fr": "kit de couture",
        },
    ),
    C(
        "first-aid-tin",
        "FIRST AID",
        {
            "ru": "аптечка",
            "tr": "ilk yardım kutusu",
            "de": "Erste-Hilfe-Dose",
            "es": "botiquín de primeros auxilios",
            "fr": "trousse de premiers secours",
        },
    ),
    C(
        "plasters-tin",
        "PLASTERS",
        {
            "ru": "детские пластыри в жестяной коробочке",
            "tr": "teneke kutuda yara bandı",
            "de": "Pflaster in der Blechdose",
            "es": "tiritas en caja de metal",
            "fr": "pansements dans une boîte en métal",
        },
    ),
    C(
        "wall-clock",
        "WALL CLOCK",
        {
            "ru": "настенные часы",
            "tr": "duvar saati",
            "de": "Wanduhr",
            "es": "reloj de pared",
            "fr": "horloge murale",
        },
    ),
    C(
        "night-light",
        "NIGHT LIGHT",
        {
            "ru": "ночник в детскую",
            "tr": "çocuk odası gece lambası",
            "de": "Nachtlicht fürs Kinderzimmer",
            "es": "lamparita de noche para niños",
            "fr": "veilleuse pour chambre d'enfant",
        },
    ),
    C(
        "playing-cards",
        "PLAYING CARDS",
        {
            "ru": "колода игральных карт",
            "tr": "iskambil kağıdı",
            "de": "Spielkarten",
            "es": "baraja de cartas",
            "fr": "jeu de 52 cartes",
        },
    ),
    C(
        "egg-cup",
        "EGG CUP",
        {
            "ru": "подставка для варёного яйца",
            "tr": "yumurtalık",
            "de": "Eierbecher",
            "es": "huevera",
            "fr": "coquetier",
        },
    ),
    C(
        "doorstop",
        "DOORSTOP",
        {
            "ru": "стопор для двери",
            "tr": "kapı stoperi",
            "de": "Türstopper",
            "es": "tope de puerta",
            "fr": "cale-porte",
        },
    ),
    C(
        "money-box",
        "MONEY BANK|PIGGY BANK|MONEY BOX",
        {
            "ru": "копилка",
            "tr": "kumbara",
            "de": "Spardose",
            "es": "hucha",
            "fr": "tirelire",
        },
    ),
    C(
        "colander",
        "COLANDER",
        {
            "ru": "дуршлаг эмалированный",
            "tr": "emaye süzgeç",
            "de": "Nudelsieb aus Emaille",
            "es": "escurridor esmaltado",
            "fr": "passoire émaillée",
        },
    ),
    C(
        "frying-pan",
        "FRYING PAN",
        {
            "ru": "сковородка",
            "tr": "kızartma tavası",
            "de": "Bratpfanne",
            "es": "sartén",
            "fr": "poêle à frire",
        },
    ),
    C(
        "garden-thermometer",
        "GARDEN THERMOMETER|WALL THERMOMETER",
        {
            "ru": "уличный термометр для сада",
            "tr": "bahçe termometresi",
            "de": "Gartenthermometer",
            "es": "termómetro de jardín",
            "fr": "thermomètre extérieur de jardin",
        },
    ),
    C(
        "hand-warmer",
        "HAND WARMER",
        {
            "ru": "грелка для рук",
            "tr": "el ısıtıcı",
            "de": "Handwärmer",
            "es": "calentador de manos",
            "fr": "chauffe-mains",
        },
    ),
    C(
        "bicycle-bell",
        "BICYCLE BELL",
        {
            "ru": "звонок на велосипед",
            "tr": "bisiklet zili",
            "de": "Fahrradklingel",
            "es": "timbre para bicicleta",
            "fr": "sonnette de vélo",
        },
    ),
    C(
        "luggage-tag",
        "LUGGAGE TAG",
        {
            "ru": "бирка на чемодан",
            "tr": "bavul etiketi",
            "de": "Kofferanhänger",
            "es": "etiqueta para maleta",
            "fr": "étiquette de bagage",
        },
    ),
    C(
        "passport-cover",
        "PASSPORT COVER",
        {
            "ru": "обложка на паспорт",
            "tr": "pasaport kılıfı",
            "de": "Reisepasshülle",
            "es": "funda para pasaporte",
            "fr": "protège-passeport",
        },
    ),
    C(
        "measuring-spoons",
        "MEASURING SPOON",
        {
            "ru": "мерные ложки",
            "tr": "ölçü kaşığı seti",
            "de": "Messlöffel",
            "es": "cucharas medidoras",
            "fr": "cuillères doseuses",
        },
    ),
    C(
        "lolly-moulds",
        "LOLLY|POPSICLE",
        {
            "ru": "формочки для фруктового льда",
            "tr": "dondurma kalıbı",
            "de": "Eis am Stiel Formen",
            "es": "moldes para polos",
            "fr": "moules à esquimaux",
        },
    ),
    C(
        "tape-measure",
        "TAPE MEASURE|MEASURING TAPE",
        {
            "ru": "сантиметровая лента",
            "tr": "mezura",
            "de": "Maßband",
            "es": "cinta métrica",
            "fr": "mètre ruban de couture",
        },
    ),
    C(
        "hammock",
        "HAMMOCK",
        {
            "ru": "гамак для дачи",
            "tr": "bahçe hamağı",
            "de": "Hängematte für den Garten",
            "es": "hamaca para el jardín",
            "fr": "hamac de jardin",
        },
    ),
    C(
        "chopsticks",
        "CHOPSTICK",
        {
            "ru": "палочки для еды",
            "tr": "yemek çubukları",
            "de": "Essstäbchen",
            "es": "palillos chinos",
            "fr": "baguettes chinoises",
        },
    ),
    C(
        "mug-warmer",
        "MUG WARMER",
        {
            "ru": "подогреватель для кружки",
            "tr": "kupa ısıtıcı",
            "de": "Tassenwärmer fürs Büro",
            "es": "calentador de tazas",
            "fr": "chauffe-tasse de bureau",
        },
    ),
    C(
        "advent-calendar",
        "ADVENT",
        {
            "ru": "адвент календарь",
            "tr": "yılbaşı geri sayım takvimi",
            "de": "Adventskalender",
            "es": "calendario de adviento",
            "fr": "calendrier de l'avent",
        },
    ),
    C(
        "record-frame",
        "RECORD.*FRAME|RECORD FRAME",
        {
            "ru": "рамка для виниловой пластинки",
            "tr": "plak çerçevesi",
            "de": "Bilderrahmen für Schallplatten",
            "es": "marco para discos de vinilo",
            "fr": "cadre pour disque vinyle",
        },
    ),
    C(
        "oven-glove",
        "OVEN GLOVE|OVEN MITT",
        {
            "ru": "рукавица-прихватка для духовки",
            "tr": "fırın eldiveni",
            "de": "Ofenhandschuh",
            "es": "manopla de horno",
            "fr": "gant de cuisine pour le four",
        },
    ),
    C(
        "washing-up-gloves",
        "WASHING UP GLOVE",
        {
            "ru": "резиновые перчатки для мытья посуды",
            "tr": "bulaşık eldiveni",
            "de": "Spülhandschuhe",
            "es": "guantes para fregar",
            "fr": "gants de vaisselle",
        },
    ),
    C(
        "marbles",
        "MARBLES",
        {
            "ru": "стеклянные шарики для игры",
            "tr": "bilye",
            "de": "Murmeln",
            "es": "canicas",
            "fr": "billes en verre",
        },
    ),
    C(
        "bird-feeder",
        "BIRD FEEDER|BIRD TABLE",
        {
            "ru": "кормушка для птиц",
            "tr": "kuş yemliği",
            "de": "Vogelfutterhaus",
            "es": "comedero para pájaros",
            "fr": "mangeoire pour oiseaux",
        },
    ),
    C(
        "hot-water-bottle",
        "HOT WATER BOTTLE|HOTTIE",
        {
            "ru": "грелка с чехлом",
            "tr": "sıcak su torbası",
            "de": "Wärmflasche",
            "es": "bolsa de agua caliente",
            "fr": "bouillotte",
        },
    ),
    C(
        "doormat",
        "DOORMAT",
        {
            "ru": "коврик у входной двери",
            "tr": "kapı paspası",
            "de": "Fußmatte",
            "es": "felpudo",
            "fr": "paillasson",
        },
    ),
    C(
        "tea-towel",
        "TEA TOWEL",
        {
            "ru": "кухонное полотенце",
            "tr": "mutfak havlusu",
            "de": "Geschirrtuch",
            "es": "paño de cocina",
            "fr": "torchon de cuisine",
        },
    ),
    C(
        "salt-pepper",
        "SALT AND PEPPER",
        {
            "ru": "солонка и перечница",
            "tr": "tuzluk biberlik",
            "de": "Salz- und Pfefferstreuer",
            "es": "salero y pimentero",
            "fr": "salière et poivrière",
        },
    ),
    C(
        "butter-dish",
        "BUTTER DISH|BEURRE",
        {
            "ru": "маслёнка",
            "tr": "tereyağlık",
            "de": "Butterdose",
            "es": "mantequera",
            "fr": "beurrier",
        },
    ),
    C(
        "secateurs",
        "SECATEURS",
        {
            "ru": "секатор садовый",
            "tr": "budama makası",
            "de": "Gartenschere",
            "es": "tijeras de podar",
            "fr": "sécateur",
        },
    ),
    C(
        "croquet",
        "CROQUET",
        {
            "ru": "набор для крокета",
            "tr": "kroket oyunu seti",
            "de": "Krocket-Spiel für den Garten",
            "es": "juego de croquet",
            "fr": "jeu de croquet",
        },
    ),
)


def R(cid: str, match: str | Sequence[str], query: str, exclude: Sequence[str] = ()) -> Concept:
    return C(cid, match, {"en": query}, exclude)


def CODE(code: str, query: str) -> Concept:
    return Concept(f"code-{code.lower()}", [], [], {"en": query}, codes=[code])


# --- English: a distinctive catalog word, or a product code -------------------------------------

RARE_CONCEPTS: tuple[Concept, ...] = (
    R("rare-bakelike", "BAKELIKE", "bakelike clock"),
    R("rare-gymkhana", "GYMKHANA", "gymkhana"),
    R("rare-babushka-notebook", ["BABUSHKA", "NOTEBOOK"], "babushka notebook"),
    R("rare-acapulco", "ACAPULCO", "acapulco mat"),
    R("rare-pannetone", "PANN?ETONE", "pannetone box"),
    R("rare-apothecary", "APOTHECARY", "apothecary"),
    R("rare-knick-knack", "KNICK KNACK", "knick knack tins"),
    R("rare-cloche", "CLOCHE", "glass cloche"),
    R("rare-jean-paul", "JEAN-PAUL", "jean-paul felt kit"),
    R("rare-filigree-stand", ["FILIGREE", "CAKE STAND"], "victorian filigree cake stand"),
    R("rare-dovecote", "DOVECOTE", "dovecote"),
    R("rare-flytrap", "FLYTRAP", "flytrap"),
    R("rare-citronella", "CITRONELLA", "citronella candle"),
    R("rare-dolly-pegs", "DOLLY PEGS", "dolly pegs"),
    R("rare-naughts", "NAUGHTS", "naughts and crosses"),
    R("rare-ludo", "LUDO", "ludo"),
    R("rare-toadstool", "TOADSTOOL", "toadstool"),
    R("rare-suki", "SUKI", "suki"),
    R("rare-strongman", "STRONGMAN", "strongman plasters"),
    R("rare-buffalo-bill", "BUFFALO BILL", "buffalo bill"),
    R("rare-charlie-lola", ["CHARLIE", "LOLA", "HOT WATER"], "charlie and lola hot water bottle"),
    R("rare-psychedelic", "PSYCHEDELIC", "psychedelic"),
    R("rare-willie-winkie", "WILLIE WINKIE", "willie winkie"),
    R("rare-gumball", "GUMBALL", "gumball rack"),
    R("rare-regency-teacup", ["REGENCY", "TEACUP"], "regency teacup and saucer"),
    R("rare-spaceboy-lunch", ["SPACEBOY", "LUNCH"], "spaceboy lunch"),
    R("rare-retrospot-umbrella", ["RETROSPOT", "UMBRELLA"], "retrospot umbrella"),
    CODE("85123A", "85123A"),
    CODE("22423", "22423"),
    CODE("47566", "47566"),
    CODE("84879", "84879"),
    CODE("22197", "22197"),
    CODE("85099B", "85099B jumbo bag"),
    CODE("23084", "23084"),
    CODE("22086", "22086"),
    CODE("79321", "79321"),
    CODE("84946", "84946 t-light"),
    CODE("48138", "48138"),
    CODE("15056N", "15056n"),
    CODE("90214K", "90214K"),
    CODE("22727", "22727 alarm clock"),
)

# --- English: the need in other words ------------------------------------------------------------

PARAPHRASE_CONCEPTS: tuple[Concept, ...] = (
    R("para-mug-warmer", "MUG WARMER", "keep my coffee hot while I work at my desk"),
    R("para-alarm-clock", "ALARM CLOCK", "something that rings to wake me up in the morning"),
    R("para-doorstop", "DOORSTOP", "stop the door from slamming shut in a draught"),
    R("para-bread-bin", "BREAD BIN", "keep loaves fresh on the kitchen counter"),
    R("para-knitting", "KNITTING", "teach a child to knit"),
    R("para-oven-glove", "OVEN GLOVE|OVEN MITT", "protect my hands taking a hot tray out"),
    R("para-money-box", "MONEY BANK|PIGGY BANK|MONEY BOX", "help kids save their coins"),
    R("para-advent", "ADVENT", "count down the days until christmas"),
    R(
        "para-watering-can",
        "WATERING CAN",
        "water the flowers on my balcony",
        exclude=["MARKER", "JIGSAW", "HOOK"],
    ),
    R("para-cookie-cutters", "COOKIE CUTTER|BISCUIT CUTTER", "cut dough into shapes"),
    R("para-hot-water-bottle", "HOT WATER BOTTLE|HOTTIE", "warm up my bed on cold nights"),
    R("para-doormat", "DOORMAT", "wipe your feet before coming inside"),
    R("para-tea-towel", "TEA TOWEL", "cloth for drying the dishes"),
    R("para-plasters", "PLASTERS|FIRST AID", "box for bandages for small cuts"),
    R("para-night-light", "NIGHT LIGHT", "toddler is afraid of the dark at bedtime"),
    R("para-lolly", "LOLLY|POPSICLE", "make frozen fruit ice on a stick for kids"),
    R("para-cake-tiers", ["CAKE ?STAND", "TIER"], "serve scones and sandwiches on several levels"),
    R("para-bicycle-bell", "BICYCLE BELL", "warn pedestrians when I ride my bike"),
    R("para-luggage-tag", "LUGGAGE TAG", "label my suitcase so it is not lost at the airport"),
    R("para-hammock", "HAMMOCK", "lie and swing between two trees"),
    R("para-jam", "JAM MAKING", "make preserves from summer fruit"),
    R("para-scales", "KITCHEN SCALES", "weigh flour and sugar for a recipe"),
    R("para-bird-feeder", "BIRD FEEDER|BIRD TABLE", "feed the birds in winter"),
    R("para-colander", "COLANDER", "drain the pasta water"),
    R("para-hand-warmer", "HAND WARMER", "keep my fingers warm on winter walks"),
    R("para-passport", "PASSPORT COVER", "sleeve to protect my travel documents"),
    R("para-secateurs", "SECATEURS", "cut back shrubs and prune bushes"),
    R("para-croquet", "CROQUET", "lawn game with mallets and hoops"),
    R("para-harmonica", "HARMONICA", "small instrument you play by blowing into it"),
    R("para-skipping", "SKIPPING ROPE", "jumping game for the school playground"),
    R("para-egg-cup", "EGG CUP", "hold a soft boiled egg at breakfast"),
    R("para-record-frame", "RECORD.*FRAME|RECORD FRAME", "display my vinyl singles on the wall"),
    R("para-lunchbox", ["LUNCH BOX", "CUTLERY"], "school lunch container with fork and spoon"),
    R("para-tape", "TAPE MEASURE|MEASURING TAPE", "check my waist size for sewing"),
    R("para-egg-pan", "EGG FRYING PAN", "small pan that cooks a single fried egg"),
    R("para-wall-clock", "WALL CLOCK", "tell the time from across the kitchen"),
    R("para-dominoes", "DOMINO", "tile game with dots"),
    R("para-thermometer", "GARDEN THERMOMETER|WALL THERMOMETER", "see how cold it is outside"),
    R("para-chopsticks", "CHOPSTICK", "eat sushi and noodles the asian way"),
    R("para-gloves", "WASHING UP GLOVE", "rubber protection for hands at the sink"),
    R("para-marbles", "MARBLES", "little glass balls children roll and collect"),
    R("para-sewing", "SEWING BOX|SEWING KIT|NEEDLE SET", "keep needles and thread together"),
)

# --- nothing in the catalog is relevant ----------------------------------------------------------

NOMATCH_QUERIES: tuple[tuple[str, str], ...] = (
    ("en", "zzqxv wqqzt"),
    ("en", "qwrtpl mnbvx"),
    ("en", "asdfghjkl"),
    ("en", "xq7 zz9 kkp"),
    ("en", "car tyres 205/55 R16"),
    ("en", "engine oil 5w-30"),
    ("en", "laptop power adapter 65w"),
    ("en", "iphone 15 pro screen protector"),
    ("en", "washing machine drum bearing"),
    ("en", "hydraulic excavator bucket teeth"),
    ("ru", "зимние шины 205/55 R16"),
    ("tr", "motor yağı 5w30"),
    ("de", "Bremsbeläge für VW Golf"),
    ("es", "cargador para portátil lenovo"),
    ("fr", "pneus hiver 205/55"),
    ("en", "lkjhgf poiuy"),
    ("en", "zxcvbnm"),
    ("en", "1234567"),
    ("en", "brake fluid dot 4"),
    ("en", "nvme ssd 1tb"),
    ("en", "printer toner cartridge hp 305"),
    ("en", "plumber near me"),
    ("en", "mortgage broker fees"),
    ("ru", "перфоратор bosch"),
    ("ru", "фывапролд"),
    ("tr", "kombi bakımı"),
    ("de", "Rasenmäher Benzin"),
    ("de", "Steuerberater Kosten"),
    ("es", "neumáticos de invierno"),
    ("fr", "huile moteur 5w40"),
)

#: Words of a no-match query; no title may hold all of them (checked by :func:`queries`).
_NOMATCH_WORD = re.compile(r"[^\W\d_]{3,}")


def _split(concept_id: str) -> str:
    """ "a" or "b", fixed by the concept id (crc32 is stable across runs and machines)."""
    return "ab"[zlib.crc32(concept_id.encode("utf-8")) % 2]


def resolve(concept: Concept, catalog: Sequence[Mapping[str, Any]]) -> list[str]:
    """The product ids relevant to ``concept`` in ``catalog`` (catalog order)."""
    ids = {str(r["product_id"]) for r in catalog}
    missing = [c for c in concept.codes if c not in ids]
    if missing:
        raise ValueError(f"{concept.id}: product codes not in the catalog: {missing}")
    hits = [
        str(r["product_id"])
        for r in catalog
        if (concept.match and concept.matches(str(r["title"]).upper()))
        or str(r["product_id"]) in concept.codes
    ]
    if not hits:
        raise ValueError(f"{concept.id}: matches no product")
    return hits


def queries(catalog: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every query with its kind, language, relevant product ids and split."""
    out: list[dict[str, Any]] = []
    for concept in LANGUAGE_CONCEPTS:
        relevant = resolve(concept, catalog)
        if set(concept.queries) != set(LANGUAGES):
            raise ValueError(f"{concept.id}: needs one query in each of {LANGUAGES}")
        for lang in LANGUAGES:
            out.append(_row(concept, "language", lang, concept.queries[lang], relevant))
    for kind, concepts in (("rare", RARE_CONCEPTS), ("paraphrase", PARAPHRASE_CONCEPTS)):
        for concept in concepts:
            out.append(_row(concept, kind, "en", concept.queries["en"], resolve(concept, catalog)))
    titles = [set(_NOMATCH_WORD.findall(str(r["title"]).lower())) for r in catalog]
    for index, (lang, text) in enumerate(NOMATCH_QUERIES):
        words = set(_NOMATCH_WORD.findall(text.lower()))
        if words and any(words <= title for title in titles):
            raise ValueError(f"no-match query {text!r}: a catalog title has all its words")
        cid = f"nomatch-{index:02d}"
        out.append(
            {
                "id": cid,
                "kind": "nomatch",
                "lang": lang,
                "query": text,
                "relevant": [],
                "concept": cid,
                "split": _split(cid),
            }
        )
    seen: set[tuple[str, str]] = set()
    for row in out:
        key = (row["lang"], row["query"].lower())
        if key in seen:
            raise ValueError(f"duplicate query {row['query']!r}")
        seen.add(key)
    return out


def _row(concept: Concept, kind: str, lang: str, text: str, relevant: list[str]) -> dict[str, Any]:
    return {
        "id": f"{concept.id}:{lang}" if kind == "language" else concept.id,
        "kind": kind,
        "lang": lang,
        "query": text,
        "relevant": relevant,
        "concept": concept.id,
        "split": _split(concept.id),
    }


def test_subset(rows: Sequence[Mapping[str, Any]], *, per_kind: int = 12) -> list[dict[str, Any]]:
    """A small, fixed subset: the first ``per_kind`` concepts of each kind (all their languages)
    and the first four product-code queries, keeping queries with at most 8 relevant products so
    the test catalog stays small."""
    out: list[dict[str, Any]] = []
    codes = [r for r in rows if r["concept"].startswith("code-")][:4]
    for kind in ("language", "rare", "paraphrase", "nomatch"):
        concepts: list[str] = []
        if kind == "rare":
            out.extend(dict(r) for r in codes)
        for row in rows:
            if row["kind"] != kind or len(row["relevant"]) > 8 or row in codes:
                continue
            if row["concept"] not in concepts:
                if len(concepts) >= per_kind:
                    continue
                concepts.append(row["concept"])
            out.append(dict(row))
    return out


def test_catalog(
    catalog: Sequence[Mapping[str, Any]],
    subset: Iterable[Mapping[str, Any]],
    *,
    distractors: int = 600,
    seed: int = 13,
) -> list[dict[str, Any]]:
    """The subset's targets plus ``distractors`` other catalog rows drawn at random (fixed seed)."""
    wanted = {pid for row in subset for pid in row["relevant"]}
    rest = [r for r in catalog if r["product_id"] not in wanted]
    chosen = {r["product_id"] for r in random.Random(seed).sample(rest, distractors)} | wanted
    return [dict(r) for r in catalog if r["product_id"] in chosen]


def _write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def load_queries(path: Path = FULL_OUT) -> list[dict[str, Any]]:
    """Queries from a JSON Lines file written by :func:`build`."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def build(catalog_path: Path = DEFAULT_CATALOG) -> None:
    from recsys.datasets.online_retail import load_catalog

    catalog = load_catalog(catalog_path)
    rows = queries(catalog)
    _write_jsonl(FULL_OUT, rows)
    subset = test_subset(rows)
    _write_jsonl(TEST_OUT, subset)
    _write_jsonl(TEST_CATALOG_OUT, test_catalog(catalog, subset))
    kinds: dict[str, int] = {}
    for row in rows:
        kinds[f"{row['kind']}/{row['lang']}"] = kinds.get(f"{row['kind']}/{row['lang']}", 0) + 1
    print(f"{len(rows)} queries → {FULL_OUT.relative_to(ROOT)}: {kinds}")
    print(f"{len(subset)} test queries → {TEST_OUT.relative_to(ROOT)}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--show", action="store_true", help="print each query's relevant titles")
    args = parser.parse_args(argv)
    if args.show:
        from recsys.datasets.online_retail import load_catalog

        catalog = load_catalog(args.catalog)
        titles = {r["product_id"]: r["title"] for r in catalog}
        for row in queries(catalog):
            if row["lang"] in ("en", "ru") or row["kind"] == "nomatch":
                print(f"{row['id']:32} {row['query']!r}")
                for pid in row["relevant"]:
                    print(f"{'':34}{pid:8} {titles[pid]}")
        return
    build(args.catalog)


if __name__ == "__main__":
    main()
