"""The offline evaluation: fit everything on events before the split, score lists after it.

For every customer with purchases after the split, each model recommends ``k`` products and
Recall@k, NDCG@k, hit rate and catalog coverage are averaged. Two protocols:

- ``all``: the truth is every product the customer bought after the split (repeat purchases
  count), and "buy again" is allowed;
- ``new``: products the customer bought before the split are removed from the truth and from
  every list (the system runs with ``buy_again`` off, i.e. its exclude-bought rule).

The system under test is :func:`recsys.ranking.personal.rank_for_user` with the real profile
maths and aggregates over in-memory sources; the baselines are fitted on the same events.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from recsys.aggregates.compute import Aggregates, compute_aggregates
from recsys.catalog.schema import Product
from recsys.core.config import Settings
from recsys.evaluation.baselines import ALS, Content, Interactions, ItemKNN, Popularity, top_k
from recsys.evaluation.data import EvalData
from recsys.evaluation.embeddings import embed_texts
from recsys.evaluation.memory import ArrayItems, ArrayUsers
from recsys.evaluation.metrics import score_lists
from recsys.profiles.maths import DEFAULT_WEIGHTS, ProfileEvent, build_profile
from recsys.ranking.config import RankingConfig
from recsys.ranking.personal import rank_for_user
from recsys.ranking.types import Purchase, UserState
from recsys.store.base import Vector

MODELS = ("recsys", "popularity", "item_knn", "als", "content")
PROTOCOLS = ("all", "new")


@dataclass
class Prepared:
    """Everything fitted on the training side, shared by the system and the baselines."""

    data: EvalData
    ids: list[str]
    vectors: np.ndarray[Any, np.dtype[np.float32]]
    payloads: dict[str, dict[str, Any]]
    aggregates: Aggregates
    profiles: dict[str, Vector]
    history: dict[str, list[Purchase]]
    inter: Interactions
    timings: dict[str, float]


def _history(train: Sequence[ProfileEvent]) -> dict[str, list[Purchase]]:
    out: dict[str, list[Purchase]] = defaultdict(list)
    for ev in train:
        if ev.type == "purchase" and ev.owner and ev.product_id:
            out[ev.owner].append(Purchase(ev.product_id, ev.at))
    return {o: sorted(p, key=lambda x: -x.at) for o, p in out.items()}


def prepare(
    data: EvalData,
    *,
    settings: Settings,
    texts: Callable[[Product], str] | None = None,
) -> Prepared:
    """Embed the catalog, build profiles and aggregates and the interaction matrix."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ids = sorted(data.products)
    text_of = texts or (lambda p: p.text)
    vectors = embed_texts([text_of(data.products[p]) for p in ids], settings=settings)
    timings["embed_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    payloads = {p: dict(data.products[p].payload) for p in ids}
    categories = {p: str(payloads[p].get("category") or "") for p in ids}
    aggregates = compute_aggregates(data.train, now=data.split, catalog_categories=categories)
    timings["aggregates_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    by_owner: dict[str, list[ProfileEvent]] = defaultdict(list)
    for ev in data.train:
        if ev.owner and ev.owner.startswith("u#"):
            by_owner[ev.owner].append(ev)
    # The same centring the profile service applies when ``profile_center_items`` is on: the
    # catalog's mean text vector subtracted from every item before summing.
    center = vectors.mean(axis=0) if settings.profile_center_items and len(ids) else None
    index = {
        p: vectors[i] - center if center is not None else vectors[i] for i, p in enumerate(ids)
    }
    tau = settings.profile_tau_long_days * 86400.0
    profiles: dict[str, Vector] = {}
    for owner, evs in by_owner.items():
        unit = build_profile(
            evs, index, now=data.split, tau_seconds=tau, weights=DEFAULT_WEIGHTS
        ).unit()
        if unit is not None:
            profiles[owner] = unit
    timings["profiles_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    inter = Interactions.from_events(data.train, ids)
    timings["matrix_s"] = time.perf_counter() - t0
    return Prepared(
        data=data,
        ids=ids,
        vectors=vectors,
        payloads=payloads,
        aggregates=aggregates,
        profiles=profiles,
        history=_history(data.train),
        inter=inter,
        timings=timings,
    )


def _truth(prep: Prepared, protocol: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for user, items in prep.data.truth.items():
        t = items - prep.data.bought_before.get(user, set()) if protocol == "new" else items
        if t:
            out[user] = t
    return out


def recsys_lists(
    prep: Prepared, users: Sequence[str], *, config: RankingConfig, k: int
) -> dict[str, list[str]]:
    """The system's top-k per user, through the production ranking function."""
    items = ArrayItems(prep.ids, prep.vectors, prep.payloads)
    owners = sorted(prep.profiles)
    recent = {
        u: list(dict.fromkeys(p.product_id for p in prep.history.get(u, [])))[:20] for u in owners
    }
    user_matrix = (
        np.stack([prep.profiles[u] for u in owners]).astype(np.float32)
        if owners
        else np.zeros((0, prep.vectors.shape[1]), dtype=np.float32)
    )
    user_source = ArrayUsers(owners, user_matrix, recent)
    out: dict[str, list[str]] = {}
    for user in users:
        state = UserState(
            user_id=user,
            long=prep.profiles.get(user),
            purchases=prep.history.get(user, []),
        )
        ranked = rank_for_user(
            state,
            now=prep.data.split,
            limit=k,
            items=items,
            users=user_source,
            aggregates=prep.aggregates,
            config=config,
        )
        out[user] = [r.product_id for r in ranked]
    return out


def _baseline_lists(
    prep: Prepared,
    model: Any,
    truth: Mapping[str, set[str]],
    *,
    protocol: str,
    tiebreak: np.ndarray[Any, np.dtype[np.float32]],
    k: int,
) -> dict[str, list[str]]:
    index = prep.inter.items
    out: dict[str, list[str]] = {}
    for user in truth:
        exclude = None
        if protocol == "new":
            exclude = np.zeros(len(prep.ids), dtype=bool)
            exclude[[index[p] for p in prep.data.bought_before.get(user, ()) if p in index]] = True
        picked = top_k(model.score(user), k=k, exclude=exclude, tiebreak=tiebreak)
        out[user] = [prep.ids[i] for i in picked]
    return out


def evaluate(
    prep: Prepared,
    *,
    config: RankingConfig,
    k: int = 10,
    models: Sequence[str] = MODELS,
) -> dict[str, Any]:
    """{"protocols": {protocol: {model: metrics}}, "timings": {...}} for one prepared split."""
    timings = dict(prep.timings)
    fitted: dict[str, Any] = {}
    pop = Popularity(prep.inter)
    builders: dict[str, Callable[[], Any]] = {
        "popularity": lambda: pop,
        "item_knn": lambda: ItemKNN(prep.inter, prep.data.train),
        "als": lambda: ALS(prep.inter),
        "content": lambda: Content(prep.vectors, prep.profiles),
    }
    for name in models:
        if name in builders:
            t0 = time.perf_counter()
            fitted[name] = builders[name]()
            timings[f"fit_{name}_s"] = time.perf_counter() - t0
    result: dict[str, Any] = {}
    for protocol in PROTOCOLS:
        truth = _truth(prep, protocol)
        per_model: dict[str, Any] = {}
        for name in models:
            t0 = time.perf_counter()
            if name == "recsys":
                cfg = config if protocol == "all" else replace(config, buy_again=False)
                lists = recsys_lists(prep, sorted(truth), config=cfg, k=k)
            else:
                lists = _baseline_lists(
                    prep, fitted[name], truth, protocol=protocol, tiebreak=pop.scores, k=k
                )
            timings[f"{protocol}_{name}_s"] = time.perf_counter() - t0
            per_model[name] = score_lists(lists, truth, k=k, catalog_size=len(prep.ids)).as_dict(k)
        result[protocol] = per_model
    return {"protocols": result, "timings": {n: round(v, 2) for n, v in timings.items()}}


def sparse_variant(data: EvalData, *, keep_orders: float = 0.3, seed: int = 7) -> EvalData:
    """The catalog reduced to category text and a thinned history (a cold, sparse shop).

    Keeps a deterministic ``keep_orders`` share of training baskets (by hash of order id and
    ``seed``); the truth is unchanged.
    """

    def kept(ev: ProfileEvent) -> bool:
        key = f"{seed}:{ev.order_id or ev.owner}:{int(ev.at // 86400)}".encode()
        return int(hashlib.sha256(key).hexdigest()[:8], 16) / 0xFFFFFFFF < keep_orders

    return EvalData(
        products=data.products,
        train=[ev for ev in data.train if kept(ev)],
        truth=data.truth,
        split=data.split,
    )


def category_text(product: Product) -> str:
    """A product's text when all that is known is its category."""
    return str(product.payload.get("category") or "product")
