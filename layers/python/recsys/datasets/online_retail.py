"""The UCI Online Retail table (a UK gift shop, 2010-12 … 2011-12) as a product catalog.

The table is invoice lines; a catalog row is built per StockCode from its *sales* (lines with
a positive quantity and price that are not cancellations), so stock-keeping notes such as
"damaged" or "thrown away" — recorded with zero price — never become titles:

- ``product_id`` = StockCode (upper-cased, see :func:`iter_rows`); ``title`` = its most
  frequent description among sales, kept as the shop wrote it (upper case; the encoder is
  uncased and the titles stay recognisable against the source), whitespace tidied;
- ``price`` = median unit price of its sales, ``currency`` = GBP;
- ``created_at`` = its first sale (InvoiceDate is the shop's wall clock, read as UTC);
- ``category`` = a two-level path from keyword rules on the title (:data:`CATEGORY_RULES`, first
  match wins, "Other" when none match) — coarse, but it gives filters, diversity caps and the
  embedding text something to work with;
- excluded: codes that are not products (postage, fees, discounts, manual adjustments, samples,
  vouchers, …: :func:`is_product_code`, :data:`NON_PRODUCT_TITLES`) and codes never sold.

:func:`iter_rows` and :func:`parse_invoice_date` are shared with the events loader.
"""

from __future__ import annotations

import csv
import re
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsys.catalog.readers import open_text

__all__ = [
    "CATEGORY_RULES",
    "HEADER",
    "NON_PRODUCT_CODES",
    "NON_PRODUCT_TITLES",
    "categorize",
    "is_online_retail",
    "is_product_code",
    "is_sale",
    "iter_rows",
    "load_catalog",
    "parse_invoice_date",
    "tidy",
]

#: The table's columns, in order.
HEADER = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)

#: StockCodes that are charges, fees or adjustments rather than products.
NON_PRODUCT_CODES = frozenset(
    {"POST", "D", "M", "DOT", "BANK CHARGES", "AMAZONFEE", "CRUK", "C2", "PADS", "S", "B"}
)
_NON_PRODUCT_PREFIXES = ("DCGS", "GIFT_")
#: Title fragments of lines that are services, not products (they hide under product-like codes,
#: e.g. 23444 "Next Day Carriage", 22016 "Dotcomgiftshop Gift Voucher £100.00").
NON_PRODUCT_TITLES = ("POSTAGE", "CARRIAGE", "GIFT VOUCHER", "HIGH RESOLUTION IMAGE")


def is_product_code(code: str) -> bool:
    """False for postage, fees, discounts, manual lines, samples, DCGS* and gift_* codes."""
    code = code.strip()
    upper = code.upper()
    return (
        bool(code)
        and upper not in NON_PRODUCT_CODES
        and not upper.startswith(_NON_PRODUCT_PREFIXES)
    )


def is_online_retail(path: Path) -> bool:
    """True when ``path`` starts with the Online Retail header."""
    with open_text(path) as fh:
        return fh.readline().strip().split(",") == list(HEADER)


def iter_rows(path: Path) -> Iterator[dict[str, str]]:
    """The table's rows as dicts of strings, streamed (``.gz`` decompressed on the fly).

    StockCode comes back stripped and upper-cased: the table writes some codes in both cases
    ("85123A" and "85123a", same product, same description), and catalog and events must agree
    on one id.
    """
    with open_text(path) as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in HEADER if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(
                f"{path}: not the Online Retail table (missing columns {', '.join(missing)}); "
                "give a JSON Lines or CSV file in the documented shape and drop "
                "--format online-retail"
            )
        for row in reader:
            row["StockCode"] = (row.get("StockCode") or "").strip().upper()
            yield row


def parse_invoice_date(text: str) -> datetime:
    """``"2010-12-01 08:26:00"`` (or ``"12/1/2010 8:26"``) → an aware UTC datetime."""
    text = text.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"unrecognised InvoiceDate {text!r}")


def tidy(description: str) -> str:
    """Whitespace-normalised description."""
    return " ".join(description.split())


def is_sale(row: dict[str, str]) -> bool:
    """A real sale line: not a cancellation, positive quantity and unit price."""
    if row["InvoiceNo"].strip().upper().startswith("C"):
        return False
    try:
        return float(row["Quantity"]) > 0 and float(row["UnitPrice"]) > 0
    except ValueError:
        return False


#: (category path, comma-separated title keywords) — the first rule with a keyword among the
#: title's words wins. Multi-word keywords match as a phrase. Order matters: specific before general
#: ("HOT WATER BOTTLE" before kitchen bottles, "LUNCH BOX" before storage boxes, candles before
#: hanging decorations, seasons before everything).
_RULES: tuple[tuple[str, str], ...] = (
    ("Seasonal > Christmas", "CHRISTMAS, XMAS, ADVENT, SANTA, REINDEER, NATIVITY"),
    ("Seasonal > Easter", "EASTER"),
    (
        "Jewellery",
        "NECKLACE, NECKL, EARRINGS, BRACELET, RING, PENDANT, BROOCH, CHARM, CHARMS, BEADS, "
        "BANGLE, DIAMANTE, BRACLET, LARIAT",
    ),
    (
        "Home > Candles & Holders",
        "CANDLE, CANDLES, T-LIGHT, T-LIGHTS, TEALIGHT, TEA LIGHT, CANDLEHOLDER, LANTERN, "
        "INCENSE, OIL BURNER, CANDLESTICK, CANDLESTAND, CANDLEPOT",
    ),
    ("Home > Lighting", "LIGHT, LIGHTS, LAMP, LAMPSHADE, LED, CHANDELIER"),
    ("Home > Textiles", "HOT WATER BOTTLE, CUSHION, THROW, BLANKET, QUILT, CURTAIN"),
    (
        "Toys & Games",
        "TOY, TOYS, JIGSAW, PUZZLE, GAME, GAMES, PLAYING CARDS, DOMINOES, SKITTLES, SKIPPING "
        "ROPE, TEDDY, DOLL, MARBLES, SPINNING TOP, SNAKES, PLAYHOUSE, LUDO, INFLATABLE, "
        "DRAWING SLATE",
    ),
    (
        "Bags & Purses",
        "BAG, BAGS, SHOPPER, TOTE, HANDBAG, PURSE, WALLET, WASHBAG, RUCKSACK, BACKPACK",
    ),
    (
        "Kitchen & Dining > Baking",
        "CAKESTAND, CAKE, CAKES, BAKING, BISCUIT, COOKIE, CUTTERS, ICING, JELLY MOULD, "
        "MEASURING, CASES",
    ),
    (
        "Kitchen & Dining > Mugs & Cups",
        "MUG, MUGS, CUP, CUPS, TEACUP, TEACUPS, BEAKER, SAUCER, TEAPOT, TEA SET",
    ),
    (
        "Kitchen & Dining > Tableware",
        "PLATE, PLATES, BOWL, BOWLS, DISH, JUG, NAPKIN, NAPKINS, PLACEMATS, COASTER, "
        "COASTERS, CUTLERY, SPOON, SPOONS, TRAY, DOILY, DOILIES, TABLECLOTH, STRAWS, GLASSES, "
        "TUMBLER, GOBLET, PLACEMAT, WINE GLASS, CHAMPAGNE GLASS, EGG COSY",
    ),
    (
        "Kitchen & Dining > Kitchenware",
        "LUNCH BOX, JAR, JARS, PANTRY, APRON, TEA TOWEL, TEA TOWELS, OVEN GLOVE, KITCHEN, "
        "CHOPPING BOARD, FRYING PAN, BOTTLE, FOOD, RECIPE, SNACK, BREAD, COFFEE, TEA",
    ),
    (
        "Stationery & Gift Wrap > Cards & Wrap",
        "CARD, CARDS, WRAP, WRAPPING, ENVELOPE, ENVELOPES, GIFT TAG, TAGS, RIBBON, RIBBONS, "
        "TISSUE, TISSUES, PAPER",
    ),
    (
        "Stationery & Gift Wrap > Stationery",
        "NOTEBOOK, NOTEBOOKS, PEN, PENS, PENCIL, PENCILS, STICKER, STICKERS, ERASER, RUBBER, "
        "SKETCHBOOK, NOTEPAD, TAPE, CALENDAR, DIARY, BOOKMARK, MEMO, CRAYONS, CHALK, BOOK, "
        "BOOKS, ALBUM, STAMP, STATIONERY, ERASERS, MAGNETS, HOLE PUNCH",
    ),
    ("Party", "PARTY, BALLOON, BALLOONS, CONFETTI, PAPER CHAIN, BIRTHDAY"),
    (
        "Garden & Outdoors",
        "GARDEN, PLANT, PLANTER, PLANTERS, POT, POTS, WATERING, BIRD FEEDER, BIRDHOUSE, BIRD "
        "HOUSE, BIRD TABLE, PICNIC, PARASOL, UMBRELLA, SEED, SEEDS, HERB, TROWEL",
    ),
    (
        "Bath & Beauty",
        "SOAP, BATH, BATHROOM, TOWEL, FLANNEL, MAKE UP, COSMETIC, LIP, NAIL, BALM, MIRROR "
        "COMPACT, HAIR, COMB",
    ),
    (
        "Home > Storage",
        "BOX, BOXES, BASKET, BASKETS, STORAGE, DRAWER, DRAWERS, CABINET, TIN, TINS, TRINKET, "
        "CONTAINER, CRATE, CHEST, BIN, HOLDER, RACK, SHELF, ORGANISER",
    ),
    (
        "Home > Wall Decor & Signs",
        "SIGN, PLAQUE, FRAME, MIRROR, CLOCK, WALL, TILE, PICTURE, POSTER, PRINT, DOOR SIGN, "
        "BLACKBOARD, CHALKBOARD, NUMBER",
    ),
    (
        "Home > Decorations",
        "DECORATION, DECORATIONS, GARLAND, BUNTING, WREATH, ORNAMENT, HANGING, MOBILE, "
        "DOORSTOP, DOORMAT, HOOK, HOOKS, KNOB, HANGER, VASE, FLOWER, FLOWERS, HEART, BELL, "
        "BELLS, CHIME, ARTIFICIAL, FEATHER, BIRD, STAR",
    ),
    (
        "Crafts & Sewing",
        "SEWING, KNITTING, CROCHET, FELTCRAFT, CRAFT, BUTTONS, EMBROIDERY, ORIGAMI, KIT, THREAD",
    ),
)
CATEGORY_RULES: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (category, tuple(k.strip() for k in keywords.split(","))) for category, keywords in _RULES
)
_WORD = re.compile(r"[A-Z0-9][A-Z0-9'-]*")


def categorize(title: str) -> str:
    """The category path of a product from its title's keywords (:data:`CATEGORY_RULES`)."""
    padded = " " + " ".join(_WORD.findall(title.upper())) + " "
    for category, keywords in CATEGORY_RULES:
        if any(f" {k} " in padded for k in keywords):
            return category
    return "Other"


@dataclass
class _Stock:
    titles: Counter[str] = field(default_factory=Counter)
    prices: list[float] = field(default_factory=list)
    #: "YYYY-MM-DD HH:MM:SS" sorts as it reads, so the first sale is the smallest string.
    first_sold: str = "~"


def load_catalog(path: Path) -> list[dict[str, Any]]:
    """Catalog rows (``product_id``, ``title``, ``category``, ``price``, ``currency``,
    ``created_at``) built from the table's sales, one per product StockCode, in code order."""
    stock: dict[str, _Stock] = {}
    for row in iter_rows(path):
        code = row["StockCode"].strip()
        title = tidy(row["Description"] or "")
        if not title or not is_product_code(code) or not is_sale(row):
            continue
        if any(marker in title.upper() for marker in NON_PRODUCT_TITLES):
            continue
        entry = stock.setdefault(code, _Stock())
        entry.titles[title] += 1
        entry.prices.append(float(row["UnitPrice"]))
        entry.first_sold = min(entry.first_sold, row["InvoiceDate"].strip())
    rows: list[dict[str, Any]] = []
    for code in sorted(stock):
        entry = stock[code]
        title = entry.titles.most_common(1)[0][0]
        rows.append(
            {
                "product_id": code,
                "title": title,
                "category": categorize(title),
                "price": round(statistics.median(entry.prices), 2),
                "currency": "GBP",
                "created_at": parse_invoice_date(entry.first_sold)
                .isoformat()
                .replace("+00:00", "Z"),
            }
        )
    return rows
