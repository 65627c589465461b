"""Catalog-wide aggregates: time-decayed popularity, trending, co-purchase neighbours.

They are recomputed nightly from the event log (:mod:`recsys.jobs.nightly`) and read by the
recommender, which uses them for cold-start lists, "bought together" and the popularity term of
its score.

``compute_aggregates`` is pure: it works from an in-memory event list with no AWS, so offline
evaluation computes exactly what production serves. ``save_aggregates`` / ``load_aggregates``
keep one gzip-compressed JSON object in the catalog bucket (``aggregates/latest.json.gz``); a
process loads it once and re-reads it after ``settings.aggregates_ttl_s``.

Scores:
- popularity(i) = Σ_e w_pop(type_e) · exp(−age_e / τ_pop) over i's events, divided by the
  maximum over items, so it lies in [0, 1] and can be mixed into a ranking score directly.
- trending(i): a Poisson excess score of the last ``trending_window_days`` over the rate of the
  preceding ``trending_baseline_days``: (s − e) / sqrt(e + prior), where s is the weighted count
  in the short window and e the count the baseline rate predicts for it; only items with s ≥
  ``trending_min_count`` and s > e qualify. A bestseller that sells at its usual pace is popular,
  not trending.
- bought_with(i): items sharing at least ``min_support`` baskets (orders) with i, scored by
  cosine = support(i, j) / sqrt(n_i · n_j) — lift would rank rare items first, raw support
  would rank the bestsellers first for every product. Only baskets of identified customers
  count by default: anonymous sessions' baskets (owner ``s#…``) cut the evaluation's
  co-purchase recall by a third (docs/EVALUATION.md) — one-off guest orders pair items no
  returning customer pairs.
- repeat_rate(i): how often i's buyers come back for it — (r + 1) / (b + 2) for its b
  identified buyers of whom r bought it on two or more occasions (orders, or days without an
  order id). "Buy again" weighs a shopper's own repeat signal by it (docs/EVALUATION.md).
"""

from __future__ import annotations

import gzip
import json
import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from recsys.catalog.categories import category_levels, category_selectors
from recsys.core.config import Settings
from recsys.core.errors import DependencyError

#: Weight of each event type in popularity and trending counts (negatives never lower them).
POPULARITY_WEIGHTS: Mapping[str, float] = {
    "purchase": 3.0,
    "add_to_cart": 2.0,
    "wishlist": 1.0,
    "click": 1.0,
    "view": 1.0,
}

#: Where the aggregates live in the catalog bucket.
AGGREGATES_KEY = "aggregates/latest.json.gz"
FORMAT_VERSION = 1


class AggregateEvent(Protocol):
    """What ``compute_aggregates`` reads of an event (``ProfileEvent`` satisfies it)."""

    @property
    def type(self) -> str: ...
    @property
    def at(self) -> float: ...
    @property
    def product_id(self) -> str | None: ...
    @property
    def order_id(self) -> str | None: ...
    @property
    def owner(self) -> str | None: ...


@dataclass
class Aggregates:
    """Read-only view of the aggregates; every list is best first."""

    popularity_scores: dict[str, float] = field(default_factory=dict)
    trending_scores: dict[str, float] = field(default_factory=dict)
    neighbours: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    computed_at: float | None = None
    #: How many events and baskets the figures were computed from (for logs and reports).
    stats: dict[str, int] = field(default_factory=dict)
    #: Mean of the catalog's item vectors (set by the nightly job); profiles may subtract it.
    item_mean: list[float] | None = None
    #: product → (identified buyers, buyers on two or more occasions), for ``repeat_rate``.
    repeat_buyers: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: The store's fitted ranking configuration (JSON of :class:`recsys.ranking.fitted.
    #: FittedRanking`), kept here by the nightly tuner so every reader of the aggregates serves
    #: it; None: the fixed weights serve.
    ranking: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self._popular = _ranked(self.popularity_scores)
        self._trending = _ranked(self.trending_scores)
        self._by_category: dict[str, set[str]] = defaultdict(set)
        for pid, cat in self.categories.items():
            # Each prefix and each bare level name, as the storefront may not know the path.
            for selector in category_selectors(category_levels(cat)):
                self._by_category[selector].add(pid)

    def _in_category(
        self, ranked: list[tuple[str, float]], category: str | None, limit: int
    ) -> list[tuple[str, float]]:
        if limit <= 0:
            return []
        if category is None:
            return ranked[:limit]
        members = self._by_category.get(category.strip(), set())
        return [item for item in ranked if item[0] in members][:limit]

    def popular(self, *, limit: int, category: str | None = None) -> list[tuple[str, float]]:
        """Most popular products (time-decayed), optionally within a category (any level)."""
        return self._in_category(self._popular, category, limit)

    def trending(self, *, limit: int, category: str | None = None) -> list[tuple[str, float]]:
        """Products selling clearly above their own baseline lately."""
        return self._in_category(self._trending, category, limit)

    def bought_with(self, product_id: str, *, limit: int) -> list[tuple[str, float]]:
        """Products most often in the same order as ``product_id`` (cosine-normalised)."""
        return self.neighbours.get(product_id, [])[: max(limit, 0)]

    def popularity(self, product_id: str) -> float:
        """Normalised popularity in [0, 1]; 0 for an unknown product."""
        return self.popularity_scores.get(product_id, 0.0)

    def repeat_rate(self, product_id: str) -> float | None:
        """The share of the product's buyers who bought it again, smoothed towards ½ —
        (repeaters + 1) / (buyers + 2); None when no identified customer bought it."""
        counts = self.repeat_buyers.get(product_id)
        if counts is None:
            return None
        buyers, repeaters = counts
        return (repeaters + 1.0) / (buyers + 2.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "computed_at": self.computed_at,
            "stats": self.stats,
            "popularity": self.popularity_scores,
            "trending": self.trending_scores,
            "bought_with": {k: [[p, s] for p, s in v] for k, v in self.neighbours.items()},
            "categories": self.categories,
            "item_mean": self.item_mean,
            "repeat": {k: list(v) for k, v in self.repeat_buyers.items()},
            "ranking": self.ranking,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Aggregates:
        return cls(
            popularity_scores={str(k): float(v) for k, v in data.get("popularity", {}).items()},
            trending_scores={str(k): float(v) for k, v in data.get("trending", {}).items()},
            neighbours={
                str(k): [(str(p), float(s)) for p, s in v]
                for k, v in data.get("bought_with", {}).items()
            },
            categories={str(k): str(v) for k, v in data.get("categories", {}).items()},
            computed_at=data.get("computed_at"),
            stats={str(k): int(v) for k, v in data.get("stats", {}).items()},
            item_mean=[float(x) for x in data["item_mean"]] if data.get("item_mean") else None,
            repeat_buyers={
                str(k): (int(v[0]), int(v[1])) for k, v in data.get("repeat", {}).items()
            },
            ranking=dict(data["ranking"]) if data.get("ranking") else None,
        )


def _ranked(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    # Ties broken by id so lists are deterministic across runs and processes.
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def _basket_key(ev: AggregateEvent) -> str | None:
    order = getattr(ev, "order_id", None)
    if order:
        return f"o#{order}"
    owner = getattr(ev, "owner", None)
    if owner:
        # Without an order id, one owner's purchases of one day form the basket.
        return f"d#{owner}#{int(ev.at // 86400)}"
    return None


def compute_aggregates(
    events: Iterable[AggregateEvent],
    *,
    now: float,
    catalog_categories: Mapping[str, str],
    popularity_tau_days: float = 30.0,
    trending_window_days: float = 7.0,
    trending_baseline_days: float = 28.0,
    trending_min_count: float = 3.0,
    trending_prior: float = 1.0,
    min_support: int = 2,
    neighbours_per_item: int = 50,
    max_basket_items: int = 200,
    session_baskets: bool = False,
    weights: Mapping[str, float] = POPULARITY_WEIGHTS,
) -> Aggregates:
    """Aggregates of ``events`` as seen at ``now`` (epoch seconds); events after ``now`` are
    ignored so an offline split cannot leak the future into its popularity figures."""
    tau = popularity_tau_days * 86400.0
    short_start = now - trending_window_days * 86400.0
    base_start = short_start - trending_baseline_days * 86400.0
    pop: dict[str, float] = defaultdict(float)
    recent: dict[str, float] = defaultdict(float)
    baseline: dict[str, float] = defaultdict(float)
    baskets: dict[str, set[str]] = defaultdict(set)
    #: (owner, product) → the occasions (baskets) an identified customer bought it on
    occasions: dict[tuple[str, str], set[str]] = defaultdict(set)
    n_events = 0
    for ev in events:
        pid = ev.product_id
        if pid is None or ev.at > now:
            continue
        n_events += 1
        w = weights.get(ev.type, 0.0)
        if w > 0.0:
            pop[pid] += w * math.exp(-(now - ev.at) / tau)
            if ev.at >= short_start:
                recent[pid] += w
            elif ev.at >= base_start:
                baseline[pid] += w
        if ev.type == "purchase":
            _purchased(ev, pid, baskets, occasions, session_baskets=session_baskets)

    top = max(pop.values(), default=0.0)
    popularity = {p: v / top for p, v in pop.items() if v > 0.0} if top > 0 else {}

    ratio = trending_window_days / trending_baseline_days
    trending: dict[str, float] = {}
    for pid, s in recent.items():
        expected = baseline.get(pid, 0.0) * ratio
        if s >= trending_min_count and s > expected:
            trending[pid] = (s - expected) / math.sqrt(expected + trending_prior)

    neighbours, n_baskets = _co_purchase(
        baskets.values(),
        min_support=min_support,
        per_item=neighbours_per_item,
        max_basket_items=max_basket_items,
    )
    cats = {p: c for p, c in catalog_categories.items() if c}
    return Aggregates(
        popularity_scores=popularity,
        trending_scores=trending,
        neighbours=neighbours,
        categories=cats,
        computed_at=now,
        stats={"events": n_events, "baskets": n_baskets, "products": len(popularity)},
        repeat_buyers=_repeat_buyers(occasions),
    )


def _purchased(
    ev: AggregateEvent,
    pid: str,
    baskets: dict[str, set[str]],
    occasions: dict[tuple[str, str], set[str]],
    *,
    session_baskets: bool,
) -> None:
    """Count one purchase into its basket (co-purchase) and its buyer's occasions (repeat)."""
    owner = getattr(ev, "owner", None) or ""
    key = _basket_key(ev)
    if key is None:
        return
    guest = owner.startswith("s#")
    if session_baskets or not guest:
        baskets[key].add(pid)
    if owner and not guest:
        occasions[(owner, pid)].add(key)


def _repeat_buyers(occasions: Mapping[tuple[str, str], set[str]]) -> dict[str, tuple[int, int]]:
    """product → (identified buyers, those who bought it on two or more occasions)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (_, pid), seen in occasions.items():
        c = counts[pid]
        c[0] += 1
        c[1] += len(seen) >= 2
    return {p: (b, r) for p, (b, r) in sorted(counts.items())}


def _co_purchase(
    baskets: Iterable[set[str]], *, min_support: int, per_item: int, max_basket_items: int
) -> tuple[dict[str, list[tuple[str, float]]], int]:
    """Top co-purchased items per item; pairs counted with numpy (no scipy in the layer)."""
    index: dict[str, int] = {}
    pair_chunks: list[np.ndarray[Any, np.dtype[np.int64]]] = []
    item_baskets: dict[int, int] = defaultdict(int)
    n_baskets = 0
    for basket in baskets:
        # Huge wholesale orders say little about which items go together and cost O(n²).
        if len(basket) < 2 or len(basket) > max_basket_items:
            continue
        n_baskets += 1
        ids = np.fromiter((index.setdefault(p, len(index)) for p in sorted(basket)), dtype=np.int64)
        for i in ids.tolist():
            item_baskets[i] += 1
        a, b = np.triu_indices(len(ids), k=1)
        pair_chunks.append(ids[a] * (1 << 32) + ids[b])
    if not pair_chunks:
        return {}, n_baskets
    codes, support = np.unique(np.concatenate(pair_chunks), return_counts=True)
    keep = support >= min_support
    codes, support = codes[keep], support[keep]
    left, right = codes >> 32, codes & 0xFFFFFFFF
    n = np.array([item_baskets.get(i, 0) for i in range(len(index))], dtype=np.float64)
    cosine = support / np.sqrt(n[left] * n[right])
    names = list(index)
    per: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for lo, hi, s in zip(left.tolist(), right.tolist(), cosine.tolist(), strict=True):
        per[lo].append((hi, s))
        per[hi].append((lo, s))
    out: dict[str, list[tuple[str, float]]] = {}
    for i, items in per.items():
        items.sort(key=lambda t: (-t[1], names[t[0]]))
        out[names[i]] = [(names[j], round(s, 6)) for j, s in items[:per_item]]
    return out, n_baskets


# --- storage --------------------------------------------------------------------------------

_cache_lock = threading.Lock()
_cache: dict[tuple[str | None, str], tuple[float, Aggregates]] = {}


def save_aggregates(agg: Aggregates, *, settings: Settings) -> str:
    """Write ``agg`` to ``s3://{catalog_bucket}/aggregates/latest.json.gz``; returns the key.

    The process cache is replaced too, so the writer reads its own write at once.
    """
    from recsys.core.aws import client

    body = gzip.compress(json.dumps(agg.to_json(), separators=(",", ":")).encode(), 6)
    try:
        client("s3", settings).put_object(
            Bucket=settings.catalog_bucket,
            Key=AGGREGATES_KEY,
            Body=body,
            ContentType="application/json",
            ContentEncoding="gzip",
        )
    except Exception as exc:  # boto raises many types; callers need one
        raise DependencyError(
            f"cannot write aggregates to s3://{settings.catalog_bucket}: {exc}"
        ) from exc
    with _cache_lock:
        _cache[(settings.aws_endpoint_url, settings.catalog_bucket)] = (time.monotonic(), agg)
    return AGGREGATES_KEY


def load_aggregates(settings: Settings, *, max_age_s: float | None = None) -> Aggregates:
    """The latest saved aggregates, cached per process for ``settings.aggregates_ttl_s``.

    No aggregates saved yet → empty ``Aggregates`` (``computed_at`` None): callers fall back to
    what they have. An unreachable bucket → the stale copy if one was loaded, else
    ``DependencyError``.
    """
    from recsys.core.aws import client

    ttl = settings.aggregates_ttl_s if max_age_s is None else max_age_s
    key = (settings.aws_endpoint_url, settings.catalog_bucket)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < ttl:
        return hit[1]
    s3 = client("s3", settings)
    try:
        body = s3.get_object(Bucket=settings.catalog_bucket, Key=AGGREGATES_KEY)["Body"].read()
        agg = Aggregates.from_json(json.loads(gzip.decompress(body)))
    except s3.exceptions.NoSuchKey:
        agg = Aggregates()
    except Exception as exc:  # network, permissions, missing bucket
        if hit is not None:
            return hit[1]
        raise DependencyError(
            f"cannot read aggregates from s3://{settings.catalog_bucket}: {exc}"
        ) from exc
    with _cache_lock:
        _cache[key] = (time.monotonic(), agg)
    return agg


def computed_at_iso(agg: Aggregates) -> str | None:
    """When ``agg`` was computed, as ISO 8601 UTC (None if never)."""
    if agg.computed_at is None:
        return None
    return datetime.fromtimestamp(agg.computed_at, UTC).isoformat()
