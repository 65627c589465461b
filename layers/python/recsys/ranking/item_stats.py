"""Item-level figures the aggregates do not carry — buyers, repeat rate, repurchase interval,
price, first sale, category — computed from purchase history by the nightly job and stored
with the fitted ranking, so serving and tuning describe an item by the same numbers."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recsys.aggregates.compute import AggregateEvent
from recsys.ranking.user_knn import PurchaseNeighbours

__all__ = ["ItemStats", "compute_item_stats", "leaf_category"]

DAY = 86400.0
#: An item's recent adopters: customers who bought it for the first time in this many days.
ADOPTION_DAYS = 30


def leaf_category(category: str) -> str:
    """The category path an item's figures are kept under (its deepest level included)."""
    return category.strip()


@dataclass
class ItemStats:
    """Item-level figures from purchase history (as of ``as_of``)."""

    buyers: dict[str, int] = field(default_factory=dict)
    repeat_rate: dict[str, float] = field(default_factory=dict)
    interval_days: dict[str, float] = field(default_factory=dict)
    first_seen: dict[str, float] = field(default_factory=dict)
    price: dict[str, float] = field(default_factory=dict)
    category: dict[str, str] = field(default_factory=dict)
    #: customers whose first purchase of the item fell in the last ``ADOPTION_DAYS`` days
    adopters: dict[str, int] = field(default_factory=dict)
    as_of: float | None = None
    #: who bought what, for the customers' purchase neighbours (``recsys.ranking.user_knn``)
    neighbours: PurchaseNeighbours | None = None

    def __post_init__(self) -> None:
        ranked = sorted(self.buyers.items(), key=lambda kv: (-kv[1], kv[0]))
        self.rank = {pid: i for i, (pid, _) in enumerate(ranked)}
        #: every item bought, most distinct buyers first (the bestseller list; ties by id)
        self.ranked: list[str] = [pid for pid, _ in ranked]
        per_cat: dict[str, int] = defaultdict(int)
        self.cat_rank: dict[str, int] = {}
        for pid, _ in ranked:
            cat = leaf_category(self.category.get(pid, ""))
            self.cat_rank[pid] = per_cat[cat]
            per_cat[cat] += 1
        self.by_category: dict[str, list[str]] = defaultdict(list)
        for pid, _ in ranked:
            self.by_category[leaf_category(self.category.get(pid, ""))].append(pid)
        # One row per known item: pop_rank, log(1+buyers), repeat_rate, cat_pop, log price,
        # first seen, repurchase interval (NaN where unknown), log(1+recent adopters).
        ids = sorted(set(self.buyers) | set(self.price) | set(self.first_seen))
        self.row: dict[str, int] = {p: i for i, p in enumerate(ids)}
        table = np.zeros((len(ids), 8), dtype=np.float64)
        for i, pid in enumerate(ids):
            rank = self.rank.get(pid)
            crank = self.cat_rank.get(pid)
            price = self.price.get(pid)
            table[i] = (
                1.0 / math.log2(2.0 + rank) if rank is not None else 0.0,
                math.log1p(self.buyers.get(pid, 0)),
                self.repeat_rate.get(pid, 0.0),
                1.0 / math.log2(2.0 + crank) if crank is not None else 0.0,
                math.log(price) if price else np.nan,
                self.first_seen.get(pid, np.nan),
                self.interval_days.get(pid, 0.0),
                math.log1p(self.adopters.get(pid, 0)),
            )
        self.table = table

    def to_json(self) -> dict[str, Any]:
        ids = sorted(set(self.buyers) | set(self.price) | set(self.category) | set(self.first_seen))
        return {
            "as_of": self.as_of,
            "ids": ids,
            "buyers": [self.buyers.get(p, 0) for p in ids],
            "repeat_rate": [round(self.repeat_rate.get(p, 0.0), 4) for p in ids],
            "interval_days": [round(self.interval_days.get(p, 0.0), 2) for p in ids],
            "first_seen": [self.first_seen.get(p) for p in ids],
            "price": [self.price.get(p) for p in ids],
            "category": [self.category.get(p, "") for p in ids],
            "adopters": [self.adopters.get(p, 0) for p in ids],
            **({"neighbours": self.neighbours.to_json()} if self.neighbours else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ItemStats:
        ids = [str(p) for p in data.get("ids", [])]

        def col(name: str) -> list[Any]:
            values = list(data.get(name) or [])
            return values + [None] * (len(ids) - len(values))

        return cls(
            buyers={p: int(v) for p, v in zip(ids, col("buyers"), strict=True) if v},
            repeat_rate={p: float(v) for p, v in zip(ids, col("repeat_rate"), strict=True) if v},
            interval_days={
                p: float(v) for p, v in zip(ids, col("interval_days"), strict=True) if v
            },
            first_seen={
                p: float(v) for p, v in zip(ids, col("first_seen"), strict=True) if v is not None
            },
            price={p: float(v) for p, v in zip(ids, col("price"), strict=True) if v},
            category={p: str(v) for p, v in zip(ids, col("category"), strict=True) if v},
            adopters={p: int(v) for p, v in zip(ids, col("adopters"), strict=True) if v},
            as_of=data.get("as_of"),
            neighbours=PurchaseNeighbours.from_json(data["neighbours"])
            if data.get("neighbours")
            else None,
        )


def compute_item_stats(
    events: Iterable[AggregateEvent],
    *,
    now: float,
    payloads: Mapping[str, Mapping[str, Any]],
) -> ItemStats:
    """Buyers, repeat rate and repurchase interval per item from purchases before ``now``;
    price, category and launch from the catalog payloads (first sale when no launch date)."""
    days: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    first: dict[str, float] = {}
    for ev in events:
        pid = ev.product_id
        if pid is None or ev.at >= now or ev.type != "purchase" or not ev.owner:
            continue
        days[pid][ev.owner].add(int(ev.at // DAY))
        if pid not in first or ev.at < first[pid]:
            first[pid] = ev.at
    buyers: dict[str, int] = {}
    repeat: dict[str, float] = {}
    interval: dict[str, float] = {}
    adopters: dict[str, int] = {}
    recent = int(now // DAY) - ADOPTION_DAYS
    for pid, owners in days.items():
        buyers[pid] = len(owners)
        fresh = sum(1 for d in owners.values() if min(d) >= recent)
        if fresh:
            adopters[pid] = fresh
        repeaters = [sorted(d) for d in owners.values() if len(d) > 1]
        repeat[pid] = len(repeaters) / len(owners)
        if repeaters:
            gaps = [(d[-1] - d[0]) / (len(d) - 1) for d in repeaters]
            interval[pid] = float(np.median(gaps))
    price: dict[str, float] = {}
    category: dict[str, str] = {}
    for pid, payload in payloads.items():
        p = payload.get("price")
        if isinstance(p, int | float) and p > 0:
            price[pid] = float(p)
        if payload.get("category"):
            category[pid] = str(payload["category"])
        launched = _launch(payload.get("created_at"))
        if launched is not None and launched < now:
            first[pid] = min(first.get(pid, launched), launched)
    return ItemStats(
        buyers=buyers,
        repeat_rate=repeat,
        interval_days=interval,
        first_seen=first,
        price=price,
        category=category,
        adopters=adopters,
        as_of=now,
        neighbours=PurchaseNeighbours.from_pairs(
            (owner, pid) for pid, owners in days.items() for owner in owners
        ),
    )


def _launch(created_at: Any) -> float | None:
    if not created_at:
        return None
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(created_at).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
