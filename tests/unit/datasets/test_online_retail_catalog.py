"""The Online Retail table as a catalog: one row per product StockCode, built from sales."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from retail_table import ONLINE_RETAIL, online_retail_catalog

from recsys.catalog.schema import validate_rows
from recsys.datasets.online_retail import (
    HEADER,
    categorize,
    is_online_retail,
    is_product_code,
    iter_rows,
    load_catalog,
    parse_invoice_date,
)

EXCERPT = [
    # InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country
    ("536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "6", "2010-12-01 08:26:00", "2.55"),
    ("536366", "85123a", "WHITE HANGING HEART T-LIGHT HOLDER", "6", "2010-12-01 07:00:00", "2.95"),
    ("536367", "85123A", "CREAM HANGING HEART T-LIGHT HOLDER", "2", "2010-12-02 09:00:00", "3.05"),
    ("C536368", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "-6", "2010-11-01 10:00:00", "9"),
    ("536369", "85123A", "damaged", "-10", "2010-11-01 10:00:00", "0"),
    ("536370", "85099B", "JUMBO BAG  RED RETROSPOT", "10", "2011-01-05 10:00:00", "1.95"),
    ("536371", "85099B", "JUMBO BAG RED RETROSPOT", "10", "2011-01-04 10:00:00", "2.10"),
    ("536372", "85099B", "", "10", "2011-01-06 10:00:00", "1.65"),
    ("536373", "POST", "POSTAGE", "1", "2011-01-06 10:00:00", "18"),
    ("536374", "DCGS0003", "BOXED GLASS ASHTRAY", "1", "2011-01-06 10:00:00", "2"),
    ("536375", "gift_0001_10", "Dotcomgiftshop Gift Voucher £10.00", "1", "2011-01-06", "8.5"),
    ("536376", "23444", "Next Day Carriage", "1", "2011-01-06 10:00:00", "15"),
    ("536377", "72732", "thrown away-can't sell", "-20", "2011-01-06 10:00:00", "0"),
    ("536378", "22423", "REGENCY CAKESTAND 3 TIER", "2", "2010-12-01 12:27:00", "12.75"),
]


@pytest.fixture
def excerpt(tmp_path: Path) -> Path:
    lines = [",".join(HEADER)]
    for row in EXCERPT:
        cells = [*row, "17850", "United Kingdom"]
        lines.append(",".join(f'"{c}"' if "," in c else c for c in cells))
    path = tmp_path / "excerpt.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8")))
    return path


def test_excerpt_becomes_one_row_per_sold_product(excerpt: Path) -> None:
    # GIVEN invoice lines with case-variant codes, cancellations, stock notes and non-products
    # WHEN the catalog is built
    rows = {r["product_id"]: r for r in load_catalog(excerpt)}
    # THEN only real products that were sold remain, one per (upper-cased) code
    assert sorted(rows) == ["22423", "85099B", "85123A"]
    heart = rows["85123A"]
    assert heart == {
        "product_id": "85123A",
        "title": "WHITE HANGING HEART T-LIGHT HOLDER",  # most frequent among sales
        "category": "Home > Candles & Holders",
        "price": 2.95,  # median of 2.55, 2.95, 3.05 (cancellation and zero price ignored)
        "currency": "GBP",
        "created_at": "2010-12-01T07:00:00Z",  # first sale, the lower-case code included
    }
    bag = rows["85099B"]
    assert bag["title"] == "JUMBO BAG RED RETROSPOT"  # whitespace tidied, variants merged
    assert bag["price"] == 2.02  # median of 1.95 and 2.10; the line without description skipped
    assert bag["created_at"] == "2011-01-04T10:00:00Z"
    assert rows["22423"]["category"] == "Kitchen & Dining > Baking"


def test_excerpt_rows_validate_as_catalog_rows(excerpt: Path) -> None:
    valid, rejected = validate_rows(load_catalog(excerpt))
    assert rejected == []
    assert {p.payload["category_levels"][0] for p in valid} == {
        "Home",
        "Bags & Purses",
        "Kitchen & Dining",
    }


def test_iter_rows_streams_with_upper_cased_codes_and_detects_the_header(excerpt: Path) -> None:
    assert is_online_retail(excerpt)
    codes = [row["StockCode"] for row in iter_rows(excerpt)]
    assert codes[:2] == ["85123A", "85123A"]
    assert "GIFT_0001_10" in codes


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("85123A", True),
        ("POST", False),
        ("m", False),
        ("BANK CHARGES", False),
        ("DCGS0076", False),
        ("gift_0001_20", False),
        ("", False),
    ],
)
def test_non_product_codes(code: str, expected: bool) -> None:
    assert is_product_code(code) is expected


@pytest.mark.parametrize(
    ("title", "category"),
    [
        ("WHITE HANGING HEART T-LIGHT HOLDER", "Home > Candles & Holders"),
        ("JUMBO BAG RED RETROSPOT", "Bags & Purses"),
        ("CHRISTMAS LIGHTS 10 REINDEER", "Seasonal > Christmas"),
        ("CHOCOLATE HOT WATER BOTTLE", "Home > Textiles"),
        ("LUNCH BOX I LOVE LONDON", "Kitchen & Dining > Kitchenware"),
        ("SET OF 3 CAKE TINS PANTRY DESIGN", "Kitchen & Dining > Baking"),
        ("PACK OF 72 RETROSPOT CAKE CASES", "Kitchen & Dining > Baking"),
        ("SPACEBOY BIRTHDAY CARD", "Stationery & Gift Wrap > Cards & Wrap"),
        ("BINGO SET", "Other"),
    ],
)
def test_keyword_categories(title: str, category: str) -> None:
    assert categorize(title) == category


def test_invoice_dates_are_read_as_utc() -> None:
    assert parse_invoice_date("2010-12-01 08:26:00").isoformat() == "2010-12-01T08:26:00+00:00"
    assert parse_invoice_date("12/1/2010 8:26").isoformat() == "2010-12-01T08:26:00+00:00"
    with pytest.raises(ValueError, match="unrecognised InvoiceDate"):
        parse_invoice_date("yesterday")


@pytest.fixture(scope="session")
def real_catalog() -> list[dict[str, Any]]:
    if not ONLINE_RETAIL.is_file():
        pytest.skip(f"the Online Retail table is not at {ONLINE_RETAIL}")
    return online_retail_catalog()


def test_real_table_gives_about_four_thousand_valid_products(
    real_catalog: list[dict[str, Any]],
) -> None:
    # GIVEN the full table (541,909 lines, ~4,070 stock codes)
    rows = {r["product_id"]: r for r in real_catalog}
    # THEN about 3.8k sold products remain, all valid catalog rows, none of them a charge
    assert 3_700 <= len(rows) <= 4_000
    valid, rejected = validate_rows(real_catalog)
    assert rejected == [] and len(valid) == len(rows)
    assert not {"POST", "DOT", "M", "C2", "AMAZONFEE", "23444"} & rows.keys()
    assert rows["85123A"]["title"] == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert rows["22423"]["price"] == 12.75
    categorised = sum(r["category"] != "Other" for r in real_catalog)
    assert categorised / len(real_catalog) > 0.85
