"""Evaluation data: a catalog and an event history split by time, with no test-period leakage.

Everything a model may learn from is in :attr:`EvalData.train` (events strictly before the
split) and the catalog as it stood then (products first seen before the split). The test side
is only ``truth``: per customer, the set of products bought at or after the split.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsys.catalog.readers import read_catalog
from recsys.catalog.schema import Product, Rejection, iter_validated
from recsys.core.errors import ValidationError
from recsys.datasets import instacart, ta_feng
from recsys.datasets.online_retail import is_online_retail, load_catalog
from recsys.datasets.retail_events import read_retail_events
from recsys.profiles.maths import ProfileEvent


@dataclass
class EvalData:
    """The catalog at split time, training events (before ``split``) and test purchases."""

    products: dict[str, Product]
    train: list[ProfileEvent]
    truth: dict[str, set[str]]
    split: float
    #: owner → products bought in training, for the "new" protocol and "buy again".
    bought_before: dict[str, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.bought_before:
            seen: dict[str, set[str]] = defaultdict(set)
            for ev in self.train:
                if ev.type == "purchase" and ev.owner and ev.product_id:
                    seen[ev.owner].add(ev.product_id)
            self.bought_before = dict(seen)


def parse_time(value: str | float) -> float:
    """ISO 8601 (naive means UTC) or epoch seconds → epoch seconds."""
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(f"not an ISO 8601 time: {value!r}", field="split") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _created(product: Product) -> float | None:
    created = product.payload.get("created_at")
    return parse_time(str(created)) if created else None


def split_events(
    events: Iterable[ProfileEvent],
    products: Mapping[str, Product],
    *,
    split: float,
) -> EvalData:
    """Train = every event before ``split``; truth = customers' purchases at or after it.

    The catalog keeps the products that existed before the split (no ``created_at``, or one
    before it): a product first sold later could not have been recommended then. Test
    purchases of such products stay in the truth (no model can hit them) so recall is honest.
    Anonymous sessions ("s#…") train the aggregates but are never scored.
    """
    train: list[ProfileEvent] = []
    truth: dict[str, set[str]] = defaultdict(set)
    for ev in events:
        if ev.product_id is not None and ev.product_id not in products:
            continue
        if ev.at < split:
            train.append(ev)
        elif ev.type == "purchase" and ev.owner and ev.owner.startswith("u#") and ev.product_id:
            truth[ev.owner].add(ev.product_id)
    train.sort(key=lambda e: e.at)
    known = {pid: p for pid, p in products.items() if (c := _created(p)) is None or c < split}
    return EvalData(products=known, train=train, truth=dict(truth), split=split)


def _validated(rows: Iterable[tuple[int, Mapping[str, Any] | Rejection]]) -> dict[str, Product]:
    out: dict[str, Product] = {}
    for item in iter_validated(rows):
        if isinstance(item, Product):
            out[item.product_id] = item
    return out


def source_format(path: Path) -> str:
    """ "ta-feng", "instacart", "online-retail" for those public tables, else "file"."""
    if ta_feng.is_ta_feng(path):
        return "ta-feng"
    if path.suffix == ".zip":
        return "file"
    if instacart.is_instacart(path):
        return "instacart"
    try:
        return "online-retail" if is_online_retail(path) else "file"
    except UnicodeDecodeError:
        return "file"


def load_products(path: Path) -> dict[str, Product]:
    """Catalog products from a public table (Online Retail, Ta-Feng, the Instacart sample) or
    a catalog file (JSON Lines / CSV)."""
    fmt = source_format(path)
    if fmt == "online-retail":
        return _validated(enumerate(load_catalog(path)))
    if fmt == "ta-feng":
        return _validated(enumerate(ta_feng.load_catalog(path)))
    if fmt == "instacart":
        return _validated(enumerate(instacart.load_catalog(path)))
    return _validated(read_catalog(path))


def to_profile_event(raw: Mapping[str, Any], *, row: int) -> ProfileEvent | None:
    """The fields evaluation needs of one event dict (the HTTP event schema)."""
    owner = (
        f"u#{raw['user_id']}"
        if raw.get("user_id")
        else f"s#{raw['session_id']}"
        if raw.get("session_id")
        else None
    )
    if owner is None or "type" not in raw:
        raise ValidationError(f"event {row}: needs type and user_id or session_id", row=row)
    if "timestamp" not in raw:
        raise ValidationError(f"event {row}: needs a timestamp", field="timestamp", row=row)
    return ProfileEvent(
        type=str(raw["type"]),
        at=parse_time(raw["timestamp"]),
        product_id=str(raw["product_id"]) if raw.get("product_id") else None,
        query=raw.get("query"),
        order_id=str(raw["order_id"]) if raw.get("order_id") else None,
        owner=owner,
    )


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with (
        gzip.open(path, "rt", encoding="utf-8")
        if path.suffix == ".gz"
        else path.open(encoding="utf-8")
    ) as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def load_events(path: Path) -> Iterator[ProfileEvent]:
    """Events from a public table (as :func:`load_products`) or a JSON Lines file of events."""
    fmt = source_format(path)
    raws: Iterable[Mapping[str, Any]] = (
        read_retail_events(path)
        if fmt == "online-retail"
        else ta_feng.read_events(path)
        if fmt == "ta-feng"
        else instacart.read_events(path)
        if fmt == "instacart"
        else _jsonl(path)
    )
    for row, raw in enumerate(raws):
        ev = to_profile_event(raw, row=row)
        if ev is not None:
            yield ev


def load(catalog: Path, events: Path, *, split: float) -> EvalData:
    """Load a catalog and an event history (either may be the Online Retail CSV) and split."""
    return split_events(load_events(events), load_products(catalog), split=split)
