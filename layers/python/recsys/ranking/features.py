"""Per-candidate features: one matrix per request that the fitted rankers score.

:func:`build_pool` gathers candidates from every source with fixed per-source budgets (the
user's own purchases, co-purchase neighbours of their recent purchases, nearest products to
the profile, similar users' purchases, popular (decayed) and trending products, the all-time
bestsellers by distinct buyers, the bestsellers of the user's favourite categories) and
describes each by :data:`FEATURES`: each source's score and rank, popularity and trending,
the recency and count of the user's purchases of it and of its category, the item's repeat
rate and repurchase interval, category affinity, price band fit and age. The tuner
(:mod:`recsys.ranking.tuner`) replays history through this same function, so a fitted scorer
is judged on exactly the candidates and values it will be served.

Item-level figures that the aggregates do not carry (buyers, repeat rate, repurchase interval,
price, first sale, rank in its category) are :class:`~recsys.ranking.item_stats.ItemStats`,
computed from the same events by the nightly job and stored with the fitted configuration.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.catalog.categories import top_category
from recsys.ranking.item_stats import ItemStats, leaf_category
from recsys.ranking.pool_ranks import RANK_NAMES, RANKED, pool_ranks
from recsys.ranking.rules import predicate
from recsys.ranking.types import AggregateSource, Budgets, ItemSource, UserSource, UserState
from recsys.ranking.user_knn import KNN_NAMES, UserScores
from recsys.store.base import Filters, Vector

DAY = 86400.0
#: Per shopping day back, the weight of a day's basket in ``repeat_basket``.
BASKET_DECAY = 0.7
FloatArray = npt.NDArray[np.float32]

#: The features every scorer design reads, in order (the first columns of :attr:`Pool.x`).
BASE_FEATURES: tuple[str, ...] = (
    "repeat_recent",  # Σ exp(−age / 30 d) over the user's order lines of the item
    "repeat_long",  # Σ exp(−age / 365 d)
    "repeat_count",  # log(1 + order lines of the item)
    "days_since",  # log(1 + days since the user last bought it); 0 when never
    "bought",  # 1 when the user bought it before
    "due",  # closeness of days-since to the item's usual repurchase interval
    "collab5",  # co-purchase: Σ seed weight × cosine over the 5 closest partners per seed
    "collab10",  # … 10 partners per seed (the fixed blend's setting)
    "collab20",  # … 20 partners per seed
    "collab10_recent",  # 10 partners, seeds decayed with τ 30 d instead of 365 d
    "collab_max",  # the largest single seed contribution
    "collab_seeds",  # log(1 + seeds that point at it)
    "content",  # cosine to the profile vector (max of long / short)
    "ann_rank",  # 1 / (1 + rank) among the nearest products to the profile
    "similar_users",  # Σ similarity of the nearest users who bought it lately
    "popularity",  # time-decayed popularity from the aggregates, [0, 1]
    "pop_rank",  # 1 / log2(2 + rank by distinct buyers)
    "trending",  # log(1 + trending excess)
    "buyers",  # log(1 + distinct buyers)
    "repeat_rate",  # share of the item's buyers who bought it on two or more occasions
    "cat_leaf",  # share of the user's purchases in the item's category (deepest level)
    "cat_top",  # … in its top-level category
    "cat_pop",  # 1 / log2(2 + rank by buyers within its deepest category)
    "cat_recent",  # exp(−days since the user last bought in the category / 30)
    "price_fit",  # exp(−|log price − the user's mean log price|); 0.5 when unknown
    "age",  # log(1 + days since the item's first sale)
    "new_item",  # exp(−age / 30 d)
    "repeat_share",  # share of the user's shopping days on which they bought it
    "repeat_basket",  # the same with days weighted 0.7^(their recency rank), 1 = every day
    "adopters",  # log(1 + customers who first bought it in the last 30 days)
)
#: Columns of :attr:`Pool.x`: the base features, then ranks within the pool
#: (:mod:`recsys.ranking.pool_ranks`, read by the "rank" design of the learned ranker only),
#: then popularity among the customer's purchase neighbours (:mod:`recsys.ranking.user_knn`).
FEATURES: tuple[str, ...] = (*BASE_FEATURES, *RANK_NAMES, *KNN_NAMES)
INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURES)}
_RANKED_COLS = [INDEX[n] for n in RANKED]
_RANK_COLS = [INDEX[n] for n in RANK_NAMES]


def _fill_ranks(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    x[:, _RANK_COLS] = pool_ranks(x[:, _RANKED_COLS])
    return x


@dataclass
class Pool:
    """The candidates of one request: ids, features, vectors, payloads and evidence."""

    ids: list[str]
    x: FloatArray
    vectors: FloatArray
    payloads: dict[str, Mapping[str, Any]]
    #: product → the purchase that gave its largest co-purchase contribution
    seed_of: dict[str, str]
    #: the user's distinct recent purchases (seeds), most weighted first
    seeds: list[str]


def _empty(dim: int) -> Pool:
    return Pool(
        [], np.zeros((0, len(FEATURES)), np.float32), np.zeros((0, dim), np.float32), {}, {}, []
    )


def _strongest(values: Mapping[str, float], limit: int, present: Mapping[str, Any]) -> list[str]:
    """What one source brought in worth a row: every product another source found already,
    and the ``limit`` strongest by ``values`` of the rest (ties by id)."""
    fresh = [p for p in values if p not in present]
    if len(fresh) > limit:
        fresh.sort(key=lambda p: (-values[p], p))
        fresh = fresh[:limit]
    return [p for p in values if p in present] + fresh


class _Gather:
    """One request's candidates being collected: a raw feature row per product."""

    def __init__(
        self,
        user: UserState,
        *,
        now: float,
        stats: ItemStats,
        budgets: Budgets,
        excluded: set[str],
        buy_again: bool = True,
    ) -> None:
        self.user, self.now, self.stats, self.budgets = user, now, stats, budgets
        self.buy_again = buy_again
        self.excluded = excluded
        self.rows: dict[str, npt.NDArray[np.float64]] = {}
        self.lines: dict[str, list[float]] = defaultdict(list)
        for p in user.purchases:
            self.lines[p.product_id].append(p.at)
        # Shopping days, most recent first, and a weight per day by its recency rank (the
        # time-decayed personal frequency of next-basket recommendation).
        shop_days = sorted({int(p.at // DAY) for p in user.purchases}, reverse=True)
        self.day_weight = {d: BASKET_DECAY**r for r, d in enumerate(shop_days)}
        self.day_total = sum(self.day_weight.values())
        self.seed_of: dict[str, str] = {}
        self.seeds: list[str] = []
        # The user's purchases per category and price, for affinity and price-band fit.
        self.cat_count: dict[str, int] = defaultdict(int)
        self.top_count: dict[str, int] = defaultdict(int)
        self.cat_last: dict[str, float] = {}
        log_prices: list[float] = []
        for pid, ats in self.lines.items():
            cat = leaf_category(stats.category.get(pid, ""))
            if cat:
                self.cat_count[cat] += 1
                self.top_count[top_category(cat)] += 1
                self.cat_last[cat] = max(self.cat_last.get(cat, 0.0), max(ats))
            price = stats.price.get(pid)
            if price:
                log_prices.append(math.log(price))
        self.mean_log_price = float(np.mean(log_prices)) if log_prices else None
        self.knn = UserScores(stats.neighbours, user.user_id, self.lines)

    def row(self, pid: str) -> npt.NDArray[np.float64]:
        r = self.rows.get(pid)
        if r is None:
            r = self.rows[pid] = np.zeros(len(FEATURES), dtype=np.float64)
        return r

    def repeat(self) -> None:
        """The user's own purchases, the most (and most recently) bought first."""
        now = self.now
        decayed = {
            p: sum(math.exp(-max(now - a, 0.0) / (365 * DAY)) for a in ats)
            for p, ats in self.lines.items()
        }
        for pid in sorted(decayed, key=lambda p: (-decayed[p], p))[: self.budgets.repeat]:
            if pid in self.excluded:
                continue
            r = self.row(pid)
            ats = self.lines[pid]
            r[INDEX["repeat_recent"]] = sum(math.exp(-max(now - a, 0.0) / (30 * DAY)) for a in ats)
            r[INDEX["repeat_long"]] = decayed[pid]

    def collaborative(self, aggregates: AggregateSource) -> None:
        """Co-purchase partners of the most recent distinct purchases (then viewed products)."""
        age = {pid: max(self.now - max(ats), 0.0) for pid, ats in self.lines.items()}
        seeds = sorted(age, key=lambda p: (age[p], p))[: self.budgets.seeds]
        for pid in self.user.recent:
            if pid not in age and len(seeds) < self.budgets.seeds:
                seeds.append(pid)
                age[pid] = 0.0
        self.seeds = seeds
        # Sums per partner first, rows only for the partners kept: with 50 seeds × 20 partners
        # most of them fall to the cap, and a feature row each is most of a request's cost.
        c5: dict[str, float] = {}
        c10: dict[str, float] = {}
        c20: dict[str, float] = {}
        c10r: dict[str, float] = {}
        n_seeds: dict[str, float] = {}
        best: dict[str, float] = {}
        for seed in seeds:
            w_long = math.exp(-age[seed] / (365 * DAY))
            w_recent = math.exp(-age[seed] / (30 * DAY))
            partners = aggregates.bought_with(seed, limit=self.budgets.neighbours)
            for rank, (pid, cos) in enumerate(partners):
                if pid in self.excluded:
                    continue
                v = w_long * cos
                c5[pid] = c5.get(pid, 0.0) + (v if rank < 5 else 0.0)
                if rank < 10:
                    c10[pid] = c10.get(pid, 0.0) + v
                    c10r[pid] = c10r.get(pid, 0.0) + w_recent * cos
                c20[pid] = c20.get(pid, 0.0) + v
                n_seeds[pid] = n_seeds.get(pid, 0.0) + 1.0
                if v > best.get(pid, 0.0):
                    best[pid] = v
                    self.seed_of[pid] = seed
        kept = _strongest(c20, self.budgets.collab_items, self.rows)
        for pid in kept:
            r = self.row(pid)
            r[INDEX["collab5"]] += c5[pid]
            r[INDEX["collab10"]] += c10.get(pid, 0.0)
            r[INDEX["collab10_recent"]] += c10r.get(pid, 0.0)
            r[INDEX["collab20"]] += c20[pid]
            r[INDEX["collab_seeds"]] += n_seeds[pid]
            if pid in best:
                r[INDEX["collab_max"]] = best[pid]

    def profile(
        self, items: ItemSource, users: UserSource | None, query: Vector | None, flt: Filters
    ) -> None:
        """Nearest products to the profile, and what the most similar users bought lately."""
        b = self.budgets
        if query is not None and b.ann > 0:
            for rank, (pid, _) in enumerate(items.nearest(query, limit=b.ann, filters=flt)):
                if pid not in self.excluded:
                    self.row(pid)[INDEX["ann_rank"]] = 1.0 / (1.0 + rank)
        long = self.user.long
        if users is not None and long is not None and b.similar_users > 0:
            sums: dict[str, float] = {}
            for _, sim, theirs in users.similar_users(
                long, limit=b.similar_users, exclude=self.user.user_id
            ):
                for pid in theirs:
                    if pid not in self.excluded:
                        sums[pid] = sums.get(pid, 0.0) + max(sim, 0.0)
            for pid in _strongest(sums, b.similar_items, self.rows):
                self.row(pid)[INDEX["similar_users"]] += sums[pid]

    def bestsellers(self, aggregates: AggregateSource, category: str | None) -> dict[str, float]:
        """Popular and trending products, and the bestsellers of the user's favourite
        categories; returns the trending scores."""
        b, skip = self.budgets, self.excluded
        popular = aggregates.popular(limit=b.popular + len(skip), category=category)
        for pid, _ in popular if b.popular > 0 else ():
            if pid not in skip:
                self.row(pid)
        if b.bestsellers > 0 and category is None:
            taken = 0
            for pid in self.stats.ranked:
                if taken >= b.bestsellers:
                    break
                if pid not in skip:
                    self.row(pid)
                    taken += 1
        trending = dict(aggregates.trending(limit=b.trending + len(skip), category=category))
        for pid in trending if b.trending > 0 else ():
            if pid not in skip:
                self.row(pid)
        n_cats = b.categories if self.buy_again else b.new_categories
        if n_cats > 0 and category is None:
            # Most products bought in it first; ties (most categories of a short history hold
            # one product) by the latest purchase there, not by name.
            favourite = sorted(
                self.cat_count, key=lambda c: (-self.cat_count[c], -self.cat_last.get(c, 0.0), c)
            )
            for cat in favourite[:n_cats]:
                members = [p for p in self.stats.by_category.get(cat, ()) if p not in skip]
                for pid in members[: b.per_category]:
                    self.row(pid)
        return trending

    def item_features(
        self,
        x: npt.NDArray[np.float64],
        ids: Sequence[str],
        aggregates: AggregateSource,
        trending: Mapping[str, float],
    ) -> npt.NDArray[np.float64]:
        """Columns that depend on the item only (and the user's price band); returns the
        item statistics table rows of ``ids``."""
        stats, now = self.stats, self.now
        rows_of = np.array([stats.row.get(p, -1) for p in ids], dtype=np.int64)
        known = rows_of >= 0
        table = stats.table[np.where(known, rows_of, 0)]
        table[~known] = (0.0, 0.0, 0.0, 0.0, np.nan, np.nan, 0.0, 0.0)
        x[:, INDEX["pop_rank"]] = table[:, 0]
        x[:, INDEX["buyers"]] = table[:, 1]
        x[:, INDEX["repeat_rate"]] = table[:, 2]
        x[:, INDEX["cat_pop"]] = table[:, 3]
        x[:, INDEX["adopters"]] = table[:, 7]
        x[:, INDEX["user_knn"]] = self.knn.column(ids)
        x[:, INDEX["collab_seeds"]] = np.log1p(x[:, INDEX["collab_seeds"]])
        x[:, INDEX["popularity"]] = [aggregates.popularity(p) for p in ids]
        x[:, INDEX["trending"]] = np.log1p([max(trending.get(p, 0.0), 0.0) for p in ids])
        age = np.maximum(now - table[:, 5], 0.0) / DAY
        has_age = np.isfinite(age)
        safe_age = np.where(has_age, age, 0.0)
        x[:, INDEX["age"]] = np.where(has_age, np.log1p(safe_age), 0.0)
        x[:, INDEX["new_item"]] = np.where(has_age, np.exp(-safe_age / 30.0), 0.0)
        log_price = table[:, 4]
        x[:, INDEX["price_fit"]] = 0.5
        if self.mean_log_price is not None:
            priced = np.isfinite(log_price)
            gap = np.abs(np.where(priced, log_price, 0.0) - self.mean_log_price)
            x[:, INDEX["price_fit"]] = np.where(priced, np.exp(-gap), 0.5)
        return table

    def user_features(
        self,
        x: npt.NDArray[np.float64],
        ids: Sequence[str],
        payloads: Mapping[str, Mapping[str, Any]],
        table: npt.NDArray[np.float64],
    ) -> None:
        """Category affinity and the user's own history of each candidate."""
        if not self.lines:
            return
        now = self.now
        n_distinct = max(len(self.lines), 1)
        total = sum(self.cat_count.values()) or 1
        leaves = [
            leaf_category(
                self.stats.category.get(p) or str(payloads.get(p, {}).get("category") or "")
            )
            for p in ids
        ]
        x[:, INDEX["cat_leaf"]] = [self.cat_count.get(c, 0) / n_distinct for c in leaves]
        x[:, INDEX["cat_top"]] = [self.top_count.get(top_category(c), 0) / total for c in leaves]
        x[:, INDEX["cat_recent"]] = [
            math.exp(-max(now - self.cat_last[c], 0.0) / (30 * DAY)) if c in self.cat_last else 0.0
            for c in leaves
        ]
        for i, pid in enumerate(ids):
            ats = self.lines.get(pid)
            if not ats:
                continue
            days = max(now - max(ats), 0.0) / DAY
            x[i, INDEX["repeat_count"]] = math.log1p(len(ats))
            x[i, INDEX["days_since"]] = math.log1p(days)
            x[i, INDEX["bought"]] = 1.0
            bought_days = {int(a // DAY) for a in ats}
            x[i, INDEX["repeat_share"]] = len(bought_days) / max(len(self.day_weight), 1)
            x[i, INDEX["repeat_basket"]] = sum(
                self.day_weight.get(d, 0.0) for d in bought_days
            ) / max(self.day_total, 1e-9)
            interval = float(table[i, 6])
            if interval > 0:
                x[i, INDEX["due"]] = math.exp(-abs(math.log((days + 1.0) / (interval + 1.0))))


def build_pool(
    user: UserState,
    *,
    now: float,
    items: ItemSource,
    users: UserSource | None,
    aggregates: AggregateSource,
    stats: ItemStats,
    budgets: Budgets,
    buy_again: bool,
    filters: Filters | None = None,
    exclude_seen: bool = False,
    prescore: Callable[[FloatArray], FloatArray] | None = None,
    include: Sequence[str] = (),
) -> Pool:
    """Every candidate of ``user`` with its :data:`FEATURES` row (filters already applied).

    With ``prescore`` (the scorer that will rank them), only the ``budgets.fetch`` best by it —
    before the content cosine is known — are read from the item source and returned.
    ``include`` adds products whatever the sources found (the items a logged list showed, so
    the tuner can describe them as they stood when it was served); exclusions still apply."""
    excluded = set(filters.exclude_keys) if filters else set()
    if not buy_again:
        excluded |= {p.product_id for p in user.purchases}
    if exclude_seen:
        excluded |= set(user.recent)
    flt = replace(filters or Filters(), exclude_keys=sorted(excluded))
    g = _Gather(user, now=now, stats=stats, budgets=budgets, excluded=excluded, buy_again=buy_again)
    if buy_again and budgets.repeat > 0:
        g.repeat()
    g.collaborative(aggregates)
    query = user.query_vector()
    g.profile(items, users, query, flt)
    category = filters.categories[0] if filters and filters.categories else None
    trending = g.bestsellers(aggregates, category)
    for pid in include:
        if pid not in excluded:
            g.row(pid)
    dim = len(query) if query is not None else 0
    wanted = sorted(g.rows)
    ranks: dict[str, npt.NDArray[np.float64]] = {}
    if prescore is not None and len(wanted) > budgets.fetch:
        x0 = np.stack([g.rows[p] for p in wanted])
        g.user_features(x0, wanted, {}, g.item_features(x0, wanted, aggregates, trending))
        # Ranks over the whole pool, as the tuner sees it, not over the fetched part.
        _fill_ranks(x0)
        ranks = {p: x0[i, _RANK_COLS] for i, p in enumerate(wanted)}
        pre = prescore(x0.astype(np.float32))
        keep = np.argsort(-pre, kind="stable")[: budgets.fetch]
        wanted = [wanted[i] for i in sorted(keep.tolist())]
    fetched = items.items(wanted, with_vectors=True) if wanted else {}
    allowed = predicate(flt)
    ids = [p for p in wanted if p in fetched and allowed(fetched[p][0])]
    if not ids:
        return _empty(dim)
    x = np.stack([g.rows[p] for p in ids])
    dim = dim or next((len(v) for _, v in fetched.values() if v is not None), 1)
    vectors = np.zeros((len(ids), dim), dtype=np.float32)
    for i, pid in enumerate(ids):
        vec = fetched[pid][1]
        if vec is not None:
            vectors[i] = vec
    profiles = [np.asarray(p, dtype=np.float32) for p in (user.long, user.short) if p is not None]
    if profiles:
        x[:, INDEX["content"]] = np.max(np.stack([vectors @ p for p in profiles]), axis=0)
    payloads = {p: fetched[p][0] for p in ids}
    table = g.item_features(x, ids, aggregates, trending)
    g.user_features(x, ids, payloads, table)
    if ranks:
        x[:, _RANK_COLS] = np.stack([ranks[p] for p in ids])
    else:
        _fill_ranks(x)
    return Pool(
        ids=ids,
        x=x.astype(np.float32),
        vectors=vectors,
        payloads=payloads,
        seed_of={p: s for p, s in g.seed_of.items() if p in fetched},
        seeds=g.seeds,
    )
