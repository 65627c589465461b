"""Personalised ranking: candidates → hybrid score → filters and rules → MMR → top-k.

One function, :func:`rank_for_user`, serves the API and offline evaluation; only the sources
differ. Every signal is scaled to [0, 1] over the candidate set before weighting, so weights
keep their meaning whatever the catalog size or event volume.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.ranking.config import RankingConfig
from recsys.ranking.mmr import mmr
from recsys.ranking.reasons import explain
from recsys.ranking.rules import cap_per_category, predicate
from recsys.ranking.types import (
    AggregateSource,
    ItemSource,
    Scored,
    UserSource,
    UserState,
)
from recsys.store.base import Filters, Vector

DAY = 86400.0
FloatArray = npt.NDArray[np.float32]
SIGNALS = (
    "content",
    "collaborative",
    "similar_users",
    "popularity",
    "trending",
    "freshness",
    "repeat",
)


@dataclass
class Candidates:
    """Raw signal values per candidate, and the seed behind each collaborative value."""

    raw: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    #: signal → product → (best single contribution, the product that gave it)
    evidence: dict[str, dict[str, tuple[float, str]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    pool: dict[str, None] = field(default_factory=dict)

    def add(self, pid: str, signal: str, value: float, *, because: str | None = None) -> None:
        self.pool[pid] = None
        bucket = self.raw[signal]
        bucket[pid] = bucket.get(pid, 0.0) + value
        if because is not None:
            ev = self.evidence[signal]
            best = ev.get(pid)
            if best is None or value > best[0]:
                ev[pid] = (value, because)

    def touch(self, pid: str) -> None:
        self.pool[pid] = None


def _seeds(user: UserState, *, now: float, config: RankingConfig) -> list[tuple[str, float]]:
    """Distinct recent products with a recency weight: purchases first, then views."""
    tau = config.seed_tau_days * DAY
    weights: dict[str, float] = {}
    for p in user.purchases:
        w = math.exp(-max(now - p.at, 0.0) / tau)
        weights[p.product_id] = max(weights.get(p.product_id, 0.0), w)
    for pid in user.recent:
        weights.setdefault(pid, 0.5)
    ranked = sorted(weights.items(), key=lambda kv: -kv[1])
    return ranked[: config.seed_items]


def _profile_candidates(
    cands: Candidates,
    user: UserState,
    *,
    items: ItemSource,
    users: UserSource | None,
    config: RankingConfig,
    filters: Filters | None,
) -> None:
    """Nearest products to the long- and short-term vectors, and similar users' products."""
    # One nearest-neighbour query, not one per vector: a search is the costliest call of a
    # request, and the session's intent (short) leans the long-term taste rather than
    # replacing it. Both vectors still score every candidate in ``score``.
    query = user.query_vector()
    if query is not None and config.ann_candidates > 0:
        limit = config.ann_candidates + (
            config.ann_candidates // 2 if user.short is not None else 0
        )
        for pid, sim in items.nearest(query, limit=limit, filters=filters):
            cands.add(pid, "ann", max(sim, 0.0))
    if users is not None and user.long is not None and config.weights.similar_users > 0:
        for _, sim, their_items in users.similar_users(
            user.long, limit=config.similar_users, exclude=user.user_id
        ):
            for pid in their_items:
                cands.add(pid, "similar_users", max(sim, 0.0))


def gather(
    user: UserState,
    *,
    now: float,
    items: ItemSource,
    users: UserSource | None,
    aggregates: AggregateSource,
    config: RankingConfig,
    filters: Filters | None,
) -> Candidates:
    """Collect candidates from every source with their raw signal values."""
    cands = Candidates()
    w = config.weights
    if config.buy_again and w.repeat > 0:
        tau = config.repeat_tau_days * DAY
        for p in user.purchases:
            cands.add(p.product_id, "repeat", math.exp(-max(now - p.at, 0.0) / tau))
    if w.collaborative > 0:
        for seed, sw in _seeds(user, now=now, config=config):
            for pid, s in aggregates.bought_with(seed, limit=config.neighbours_per_seed):
                cands.add(pid, "collaborative", sw * s, because=seed)
    _profile_candidates(cands, user, items=items, users=users, config=config, filters=filters)
    category = filters.categories[0] if filters and filters.categories else None
    for pid, _ in aggregates.trending(limit=config.popular_candidates // 2, category=category):
        cands.touch(pid)
    for pid, _ in aggregates.popular(limit=config.popular_candidates, category=category):
        cands.touch(pid)
    return cands


def shortlist(
    cands: Candidates, *, aggregates: AggregateSource, config: RankingConfig
) -> list[str]:
    """The ``max_candidates`` most promising candidates by the signals known before fetching
    payloads and vectors (reading those is the expensive part of a request)."""
    pool = list(cands.pool)
    if len(pool) <= config.max_candidates:
        return pool
    w = config.weights
    pre = dict.fromkeys(pool, 0.0)
    for signal, weight in (
        ("repeat", w.repeat),
        ("collaborative", w.collaborative),
        ("similar_users", w.similar_users),
        ("ann", w.content),
    ):
        values = cands.raw.get(signal, {})
        top = max(values.values(), default=0.0)
        if top > 0 and weight > 0:
            for pid, v in values.items():
                pre[pid] += weight * v / top
    if w.popularity > 0:
        for pid in pool:
            pre[pid] += w.popularity * aggregates.popularity(pid)
    # A C-level key and a stable sort: ties keep gather()'s deterministic order.
    return sorted(pool, key=pre.__getitem__, reverse=True)[: config.max_candidates]


def _age_days(created_at: Any, now: float) -> float | None:
    if not created_at:
        return None
    try:
        at = datetime.fromisoformat(str(created_at).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return max(now - at, 0.0) / DAY


def _scale(values: FloatArray, *, minmax: bool = False) -> FloatArray:
    """Scale to [0, 1] by the maximum (or min–max for similarities, which never reach 0)."""
    if values.size == 0:
        return values
    hi = float(values.max())
    lo = float(values.min()) if minmax else 0.0
    if hi - lo <= 0:
        return np.full_like(values, 1.0 if hi > 0 else 0.0)
    return (values - lo) / (hi - lo)


@dataclass
class Ranked:
    """Scores of the allowed candidates (parallel arrays) and what explains them."""

    ids: list[str]
    total: FloatArray
    contributions: dict[str, FloatArray]
    matrix: FloatArray

    def contribution(self, i: int) -> dict[str, float]:
        return {s: float(v[i]) for s, v in self.contributions.items()}


def score(
    cands: Candidates,
    *,
    ids: Sequence[str],
    user: UserState,
    now: float,
    items: Mapping[str, tuple[Mapping[str, Any], Vector | None]],
    aggregates: AggregateSource,
    trending: Mapping[str, float],
    config: RankingConfig,
) -> Ranked:
    """Hybrid score per candidate: Σ weight · scaled signal, with the weighted contributions."""
    dim = next((len(v) for _, v in items.values() if v is not None), 1)
    matrix = np.zeros((len(ids), dim), dtype=np.float32)
    for i, pid in enumerate(ids):
        vec = items[pid][1]
        if vec is not None:
            matrix[i] = vec
    profiles = [p for p in (user.long, user.short) if p is not None]
    content = (
        np.max(np.stack([matrix @ p for p in profiles]), axis=0)
        if profiles
        else np.zeros(len(ids), dtype=np.float32)
    )
    raw: dict[str, FloatArray] = {"content": content.astype(np.float32)}
    for signal in ("collaborative", "similar_users", "repeat"):
        values = cands.raw.get(signal, {})
        raw[signal] = np.array([values.get(p, 0.0) for p in ids], dtype=np.float32)
    raw["popularity"] = np.array([aggregates.popularity(p) for p in ids], dtype=np.float32)
    raw["trending"] = np.array([trending.get(p, 0.0) for p in ids], dtype=np.float32)
    w = config.weights
    if w.freshness > 0:
        ages = [_age_days(items[p][0].get("created_at"), now) for p in ids]
        raw["freshness"] = np.array(
            [0.0 if a is None else math.exp(-a / config.freshness_tau_days) for a in ages],
            dtype=np.float32,
        )
    contributions = {
        s: np.float32(getattr(w, s)) * _scale(v, minmax=(s == "content")) for s, v in raw.items()
    }
    total = np.sum(np.stack(list(contributions.values())), axis=0)
    return Ranked(list(ids), total, contributions, matrix)


def _content_seed(
    vec: FloatArray, seeds: Sequence[str], seed_matrix: FloatArray | None, pid: str
) -> str | None:
    if seed_matrix is None or not seeds:
        return None
    sims = seed_matrix @ vec
    for j in np.argsort(-sims):
        if seeds[int(j)] != pid:
            return seeds[int(j)]
    return None


def rank_for_user(
    user: UserState,
    *,
    now: float,
    limit: int,
    items: ItemSource,
    users: UserSource | None,
    aggregates: AggregateSource,
    config: RankingConfig,
    filters: Filters | None = None,
    diversity: float | None = None,
) -> list[Scored]:
    """The top ``limit`` products for ``user`` under ``filters`` and the business rules."""
    bought = {p.product_id for p in user.purchases}
    excluded = set(filters.exclude_keys) if filters else set()
    if not config.buy_again:
        excluded |= bought
    if config.exclude_seen:
        excluded |= set(user.recent)
    filters = replace(filters or Filters(), exclude_keys=sorted(excluded))
    cands = gather(
        user,
        now=now,
        items=items,
        users=users,
        aggregates=aggregates,
        config=config,
        filters=filters,
    )
    seeds = [pid for pid, _ in _seeds(user, now=now, config=config)]
    short = shortlist(cands, aggregates=aggregates, config=config)
    fetched = items.items(sorted(set(short) | set(seeds)), with_vectors=True)
    allowed = predicate(filters)
    ids = sorted(p for p in short if p in fetched and allowed(fetched[p][0]))
    category = filters.categories[0] if filters.categories else None
    trending = dict(aggregates.trending(limit=config.popular_candidates, category=category))
    ranked = score(
        cands,
        ids=ids,
        user=user,
        now=now,
        items=fetched,
        aggregates=aggregates,
        trending=trending,
        config=config,
    )
    order = [int(i) for i in np.lexsort((np.arange(len(ids)), -ranked.total))]
    payloads = {pid: iv[0] for pid, iv in fetched.items()}
    position = {pid: i for i, pid in enumerate(ids)}
    ordered = cap_per_category([ids[i] for i in order], payloads, cap=config.max_per_category)
    d = config.diversity if diversity is None else diversity
    pool = ordered[: max(limit * 5, 50)] if d > 0 else ordered[:limit]
    top = mmr(
        pool,
        {p: float(ranked.total[position[p]]) for p in pool},
        {p: ranked.matrix[position[p]] for p in pool},
        k=limit,
        diversity=d,
    )
    # A content reason names the nearest product the shopper met (on a cart's list: in it).
    met = user.interactions()
    seed_vecs: list[tuple[str, Vector]] = []
    for s in seeds:
        if s not in met:
            continue
        vec = fetched.get(s, ({}, None))[1]
        if vec is not None:
            seed_vecs.append((s, vec))
    seed_ids = [s for s, _ in seed_vecs]
    seed_matrix = np.stack([v for _, v in seed_vecs]) if seed_vecs else None
    out: list[Scored] = []
    for pid in top:
        i = position[pid]
        evidence = {s: e[pid][1] for s, e in cands.evidence.items() if pid in e}
        seed = _content_seed(ranked.matrix[i], seed_ids, seed_matrix, pid)
        if seed is not None:
            evidence["content"] = seed
        contrib = ranked.contribution(i)
        out.append(
            Scored(
                product_id=pid,
                score=round(float(ranked.total[i]), 6),
                reason=explain(
                    contributions=contrib,
                    evidence=evidence,
                    payload=payloads[pid],
                    payloads=payloads,
                    interactions=met,
                ),
                payload=payloads[pid],
                signals={k: round(v, 6) for k, v in contrib.items() if v},
            )
        )
    return out
