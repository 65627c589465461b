"""Catalog rows: validation reasons, payload building, content hash, streaming readers."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recsys.catalog.categories import category_levels
from recsys.catalog.readers import detect_format, iter_s3_body, read_catalog
from recsys.catalog.schema import Product, Rejection, iter_validated, validate_rows
from recsys.catalog.text import product_text
from recsys.core.errors import ValidationError

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _one_rejection(row: dict[str, object]) -> Rejection:
    valid, rejected = validate_rows([row], now=NOW)
    assert valid == []
    assert len(rejected) == 1
    return rejected[0]


def test_valid_row_builds_payload_with_levels_flags_times_and_hash() -> None:
    # GIVEN a CSV-like row: strings everywhere, a category path, ";" tags, an unknown column
    row = {
        "product_id": "SKU-1",
        "title": " White hanging heart ",
        "category": "Home>Candles >  Holders",
        "price": "2.55",
        "currency": "gbp",
        "in_stock": "no",
        "is_active": "1",
        "created_at": "2024-05-01T10:00:00+02:00",
        "tags": "gift; white ;",
        "colour": "white",
    }
    # WHEN it is validated
    valid, rejected = validate_rows([row], now=NOW)
    # THEN one product comes out with a normalised payload
    assert rejected == []
    (product,) = valid
    p = product.payload
    assert product.product_id == "SKU-1"
    assert p["title"] == "White hanging heart"
    assert p["category"] == "Home > Candles > Holders"
    assert p["category_levels"] == ["Home", "Home > Candles", "Home > Candles > Holders"]
    assert p["price"] == 2.55 and p["currency"] == "GBP"
    assert p["in_stock"] is False and p["is_active"] is True
    assert p["created_at"] == "2024-05-01T08:00:00Z"
    assert p["updated_at"] == "2026-01-02T03:04:05Z"
    assert p["tags"] == ["gift", "white"]
    assert p["colour"] == "white"  # unknown columns are kept
    assert product.text == product_text(p)
    assert len(product.content_hash) == 64


def test_defaults_flags_and_leaves_created_at_out_when_absent() -> None:
    (product,), _ = validate_rows([{"product_id": 7, "title": "Lamp"}], now=NOW)
    # Numeric ids from JSON are the same product as their string form.
    assert product.product_id == "7"
    assert product.payload["is_active"] is True and product.payload["in_stock"] is True
    # absent created_at stays absent so an update keeps the stored one
    assert "created_at" not in product.payload
    # known optional fields are present as None so a payload-only update clears them
    assert product.payload["price"] is None and product.payload["brand"] is None
    assert product.payload["category_levels"] == []


@pytest.mark.parametrize(
    ("row", "field", "reason_part"),
    [
        ({"product_id": "a"}, "title", "required field is missing"),
        ({"product_id": "a", "title": "   "}, "title", "required field is missing"),
        ({"title": "x"}, "product_id", "required field is missing"),
        ({"product_id": "a", "title": "x", "price": "-1"}, "price", "must be ≥ 0"),
        ({"product_id": "a", "title": "x", "price": "cheap"}, "price", "expected a number"),
        ({"product_id": "a", "title": "x", "price": "nan"}, "price", "finite"),
        ({"product_id": "a", "title": "x", "in_stock": "maybe"}, "in_stock", "expected a boolean"),
        ({"product_id": "a", "title": "x", "is_active": 2}, "is_active", "expected a boolean"),
        ({"product_id": "a", "title": "x", "created_at": "2024-13-01"}, "created_at", "month"),
        ({"product_id": "a", "title": "x", "created_at": "yesterday"}, "created_at", "datetime"),
        ({"product_id": "a", "title": "x", "currency": "pounds"}, "currency", "pattern"),
        ({"product_id": "a", "title": "x", "tags": {"a": 1}}, "tags", "expected a list"),
    ],
)
def test_bad_rows_are_rejected_with_field_and_reason(
    row: dict[str, object], field: str, reason_part: str
) -> None:
    rejection = _one_rejection(row)
    assert rejection.row == 0
    assert rejection.field == field
    assert reason_part in rejection.reason


def test_several_problems_in_one_row_are_all_named() -> None:
    rejection = _one_rejection({"product_id": "a", "price": "-2", "in_stock": "perhaps"})
    assert rejection.field == "title,price,in_stock"
    assert "title: required" in rejection.reason
    assert "price: must be ≥ 0" in rejection.reason
    assert "in_stock: expected a boolean" in rejection.reason
    assert rejection.as_dict() == {
        "index": 0,
        "field": "title,price,in_stock",
        "reason": rejection.reason,
        "product_id": "a",
    }


def test_bad_rows_never_stop_good_rows_and_keep_their_positions() -> None:
    rows = [
        {"product_id": "1", "title": "ok"},
        {"product_id": "2", "title": "bad", "price": -5},
        {"product_id": "3", "title": "ok too"},
        "not an object",
    ]
    valid, rejected = validate_rows(rows, now=NOW)  # type: ignore[arg-type]
    assert [p.product_id for p in valid] == ["1", "3"]
    assert [(r.row, r.field) for r in rejected] == [(1, "price"), (3, "row")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("FALSE", False),
        ("1", True),
        ("0", False),
        ("yes", True),
        ("No", False),
        (True, True),
        (0, False),
    ],
)
def test_bool_coercion_from_csv_strings(value: object, expected: bool) -> None:
    (product,), _ = validate_rows([{"product_id": "a", "title": "x", "in_stock": value}])
    assert product.payload["in_stock"] is expected


def test_category_levels_of_paths() -> None:
    assert category_levels("A > B > C") == ["A", "A > B", "A > B > C"]
    assert category_levels(" Home>  Candles ") == ["Home", "Home > Candles"]
    assert category_levels("") == []
    assert category_levels(None) == []


def test_content_hash_changes_only_with_embedded_text() -> None:
    # GIVEN a product and variants changing a non-embedded field and an embedded one
    base = {"product_id": "a", "title": "Mug", "description": "Blue", "price": 3}
    price_changed = {**base, "price": 4, "in_stock": "false"}
    title_changed = {**base, "title": "Big mug"}
    whitespace_only = {**base, "title": "  Mug  "}
    # WHEN all are validated
    valid, _ = validate_rows([base, price_changed, title_changed, whitespace_only], now=NOW)
    hashes = [p.content_hash for p in valid]
    # THEN price/stock and whitespace keep the hash, a new title changes it
    assert hashes[0] == hashes[1] == hashes[3]
    assert hashes[2] != hashes[0]


def test_reserved_payload_fields_cannot_be_forged_by_a_row() -> None:
    (product,), _ = validate_rows(
        [{"product_id": "a", "title": "x", "content_hash": "forged", "updated_at": "1999"}],
        now=NOW,
    )
    assert product.payload["content_hash"] != "forged"
    assert product.payload["updated_at"] == "2026-01-02T03:04:05Z"


def test_iter_validated_is_lazy() -> None:
    # GIVEN an endless stream of rows
    def endless():  # type: ignore[no-untyped-def]
        n = 0
        while True:
            yield n, {"product_id": str(n), "title": f"t{n}"}
            n += 1

    # WHEN only the first three are taken
    out = iter_validated(endless())
    first = [next(out) for _ in range(3)]
    # THEN they arrive without the stream being exhausted
    assert [p.product_id for p in first if isinstance(p, Product)] == ["0", "1", "2"]


def _write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")
    return path


CSV_TEXT = (
    "\ufeffproduct_id,title,price,in_stock,tags,material\n"
    "a,Candle,2.5,yes,gift;home,wax\n"
    'b,"Mug, large",-1,no,,\n'
    'c,"Two\nline title",3,true,,\n'
    "d,Too many,1,true,,,extra\n"
)


@pytest.mark.parametrize("name", ["cat.csv", "cat.csv.gz"])
def test_csv_reader_streams_numbered_rows_with_tags_and_bom(tmp_path: Path, name: str) -> None:
    # GIVEN a CSV file (with a BOM, a quoted comma, a multi-line cell and an overlong row)
    path = _write(tmp_path / name, CSV_TEXT)
    # WHEN it is read and validated
    outs = list(iter_validated(read_catalog(path), now=NOW))
    # THEN good rows come out with ";" tags split, bad ones with their line numbers
    good = {o.product_id: o for o in outs if isinstance(o, Product)}
    bad = [o for o in outs if isinstance(o, Rejection)]
    assert good["a"].payload["tags"] == ["gift", "home"]
    assert good["a"].payload["material"] == "wax"
    assert good["c"].payload["title"] == "Two\nline title"
    assert [(r.row, r.field, r.product_id) for r in bad] == [(3, "price", "b"), (6, "row", "d")]
    assert "more value(s) than the header" in bad[1].reason


@pytest.mark.parametrize("name", ["cat.jsonl", "cat.ndjson.gz"])
def test_jsonl_reader_reports_bad_lines_and_skips_blank_ones(tmp_path: Path, name: str) -> None:
    text = (
        json.dumps({"product_id": "a", "title": "A", "tags": ["x", "y"]})
        + "\n\n{broken\n[1, 2]\n"
        + json.dumps({"product_id": "b", "title": "B"})
        + "\n"
    )
    path = _write(tmp_path / name, text)
    outs = list(iter_validated(read_catalog(path), now=NOW))
    assert [o.product_id for o in outs if isinstance(o, Product)] == ["a", "b"]
    bad = [(o.row, o.reason.split(":")[0]) for o in outs if isinstance(o, Rejection)]
    assert bad == [(3, "invalid JSON"), (4, "expected a JSON object, got list")]


class _Body(io.BytesIO):
    """A stand-in for botocore's StreamingBody: read() plus iter_lines()."""

    def iter_lines(self, chunk_size: int = 7):  # type: ignore[no-untyped-def]
        pending = b""
        while chunk := self.read(chunk_size):
            lines = (pending + chunk).splitlines(True)
            pending = b""
            for line in lines:
                if line.endswith((b"\n", b"\r")):
                    yield line.splitlines()[0]
                else:
                    pending = line
        if pending:
            yield pending.splitlines()[0]


@pytest.mark.parametrize("key", ["catalog/x.csv", "catalog/x.csv.gz"])
def test_s3_body_reader_streams_csv_plain_and_gzip(key: str) -> None:
    raw = CSV_TEXT.encode("utf-8")
    body = _Body(gzip.compress(raw) if key.endswith(".gz") else raw)
    outs = list(iter_validated(iter_s3_body(body, key=key), now=NOW))
    assert sorted(o.product_id for o in outs if isinstance(o, Product)) == ["a", "c"]
    assert [o.row for o in outs if isinstance(o, Rejection)] == [3, 6]


def test_format_detection_by_name() -> None:
    assert detect_format("a/b.JSONL.gz") == "jsonl"
    assert detect_format("x.csv") == "csv"
    with pytest.raises(ValidationError, match=r"cannot tell the format of 'x\.parquet'"):
        detect_format("x.parquet")


def test_rows_the_store_or_queue_cannot_hold_are_rejected_alone() -> None:
    # GIVEN good rows around rows with an unsafe id, an empty key, a huge integer and a
    # description too large for an embed message
    rows = [
        {"product_id": "ok-1", "title": "Mug"},
        {"product_id": "a/b", "title": "Slash"},
        {"product_id": "k", "title": "Key", "": "x"},
        {"product_id": "n", "title": "Big int", "stock_units": 2**70},
        {"product_id": "big", "title": "Huge", "description": "x" * 250_000},
        {"product_id": "ok-2", "title": "Cup", "price": 1e200},
    ]
    # WHEN validated
    valid, rejected = validate_rows(rows)
    # THEN the good rows are kept and each bad one names its field and reason
    assert [p.product_id for p in valid] == ["ok-1", "ok-2"]
    by_row = {r.row: r for r in rejected}
    assert sorted(by_row) == [1, 2, 3, 4]
    assert by_row[1].field == "product_id" and "A-Z a-z 0-9" in by_row[1].reason
    assert "key is empty" in by_row[2].reason
    assert by_row[3].field == "stock_units" and "64-bit" in by_row[3].reason
    assert by_row[4].field == "row" and "at most 100000" in by_row[4].reason
