"""The offline evaluation: fit everything on events before the split, score lists after it.

For every customer with purchases after the split, each model recommends ``k`` products and
Recall@k, NDCG@k, hit rate and catalog coverage are averaged. Two protocols:

- ``all``: the truth is every product the customer bought after the split (repeat purchases
  count), and "buy again" is allowed (the system runs with ``buy_again`` on, as a
  repeat-friendly store would, whatever the setting's default);
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
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from recsys.aggregates.compute import Aggregates, compute_aggregates
from recsys.catalog.schema import Product
from recsys.core.config import Settings
from recsys.evaluation.baselines import (
    ALS,
    BLOCK,
    Content,
    FloatArray,
    Interactions,
    ItemKNN,
    Popularity,
    top_k_block,
)
from recsys.evaluation.data import EvalData
from recsys.evaluation.embeddings import embed_texts
from recsys.evaluation.metrics import score_lists
from recsys.evaluation.progress import Progress
from recsys.profiles.maths import DEFAULT_WEIGHTS, ProfileEvent, build_profile
from recsys.ranking.config import RankingConfig
from recsys.ranking.memory import ArrayItems, ArrayUsers
from recsys.ranking.personal import rank_for_user
from recsys.ranking.types import Purchase, Scored, UserState
from recsys.store.base import Vector

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
    #: CPU seconds spent preparing.
    cpu_s: float = 0.0
    #: Fitted parts shared between models (e.g. the popularity scores every baseline's
    #: tie-break uses), filled on first use.
    cache: dict[str, Any] = field(default_factory=dict)


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
    progress: Progress | None = None,
) -> Prepared:
    """Embed the catalog, build profiles and aggregates and the interaction matrix."""
    say = progress or Progress(enabled=False)
    timings: dict[str, float] = {}
    c_start = time.process_time()
    t0 = time.perf_counter()
    ids = sorted(data.products)
    text_of = texts or (lambda p: p.text)
    vectors = embed_texts([text_of(data.products[p]) for p in ids], settings=settings)
    timings["embed_s"] = time.perf_counter() - t0
    say(f"embedded {len(ids):,} product texts in {timings['embed_s']:.1f} s")

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
    # Profiles are as long as the encoder's vectors (384 for MiniLM, 512 for the multilingual).
    dim = int(vectors.shape[1]) if vectors.ndim == 2 else settings.vector_size
    profiles: dict[str, Vector] = {}
    for owner, evs in by_owner.items():
        unit = build_profile(
            evs, index, now=data.split, tau_seconds=tau, weights=DEFAULT_WEIGHTS, size=dim
        ).unit()
        if unit is not None:
            profiles[owner] = unit
    timings["profiles_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    inter = Interactions.from_events(data.train, ids)
    timings["matrix_s"] = time.perf_counter() - t0
    say(
        f"fitted aggregates {timings['aggregates_s']:.1f} s, {len(profiles):,} profiles "
        f"{timings['profiles_s']:.1f} s, interactions {timings['matrix_s']:.1f} s"
    )
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
        cpu_s=time.process_time() - c_start,
    )


def _truth(prep: Prepared, protocol: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for user, items in prep.data.truth.items():
        t = items - prep.data.bought_before.get(user, set()) if protocol == "new" else items
        if t:
            out[user] = t
    return out


class Recommender(Protocol):
    """A fitted model: top-k product ids per user.

    ``exclude_bought`` is the *new* protocol: never return a product the user bought before
    the split (``prep.data.bought_before``). Users the model knows nothing about still get a
    list (e.g. bestsellers); a missing or short list simply scores fewer hits.
    """

    def recommend(
        self, users: Sequence[str], *, k: int, exclude_bought: bool
    ) -> Mapping[str, Sequence[str]]: ...


@dataclass(frozen=True)
class Model:
    """One row of the evaluation: fitted on the training side only, then asked for lists.

    ``fit(prep, config)`` sees :class:`Prepared` (catalog, training events, profiles,
    aggregates, interaction matrix — nothing at or after the split) and the default
    :class:`RankingConfig`; it returns a :class:`Recommender`.
    """

    name: str
    label: str
    fit: Callable[[Prepared, RankingConfig], Recommender]


class Scorer(Protocol):
    def score_block(self, users: Sequence[str]) -> npt.NDArray[np.floating]: ...


class BlockRecommender:
    """Top-k lists from a scorer that rates every catalog item for a block of users at once."""

    def __init__(self, prep: Prepared, scorer: Scorer, *, tiebreak: FloatArray) -> None:
        self.prep = prep
        self.scorer = scorer
        self.tiebreak = tiebreak

    def recommend(
        self, users: Sequence[str], *, k: int, exclude_bought: bool
    ) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        ids = self.prep.ids
        for start in range(0, len(users), BLOCK):
            block = list(users[start : start + BLOCK])
            scores = self.scorer.score_block(block)
            exclude = (
                self.prep.inter.mask(self.prep.data.bought_before, block)
                if exclude_bought
                else None
            )
            picked = top_k_block(scores, k=k, exclude=exclude, tiebreak=self.tiebreak)
            for user, row in zip(block, picked, strict=True):
                out[user] = [ids[i] for i in row]
        return out


class SystemRecommender:
    """The system under test: :func:`recsys.ranking.personal.rank_for_user` per user over
    in-memory sources, with ``config`` — ``buy_again`` on for the *all* protocol (a
    repeat-friendly store), off under ``exclude_bought`` (*new*)."""

    def __init__(self, prep: Prepared, config: RankingConfig) -> None:
        self.prep = prep
        self.config = config
        self.items = ArrayItems(prep.ids, prep.vectors, prep.payloads)
        owners = sorted(prep.profiles)
        recent = {
            u: list(dict.fromkeys(p.product_id for p in prep.history.get(u, [])))[:20]
            for u in owners
        }
        user_matrix = (
            np.stack([prep.profiles[u] for u in owners]).astype(np.float32)
            if owners
            else np.zeros((0, prep.vectors.shape[1]), dtype=np.float32)
        )
        self.users = ArrayUsers(owners, user_matrix, recent)

    def recommend(
        self, users: Sequence[str], *, k: int, exclude_bought: bool
    ) -> dict[str, list[str]]:
        # "all" is a repeat-friendly store (buy-again allowed, whatever the default setting);
        # "new" is "for you" with everything bought before excluded. The lists are kept in
        # ``prep.cache``: a tuned row that falls back to the defaults serves exactly these.
        key = f"system_lists:{exclude_bought}:{k}:{self.config!r}:{hash(tuple(users))}"
        hit = self.prep.cache.get(key)
        if hit is None:
            hit = self.prep.cache[key] = self._recommend_with(
                users, k=k, exclude_bought=exclude_bought, rank=self._rank
            )
        return {u: list(v) for u, v in hit.items()}

    def _rank(self, state: UserState, *, k: int, config: RankingConfig) -> list[Scored]:
        """One user's list: the serving ranking function over the in-memory sources."""
        return rank_for_user(
            state,
            now=self.prep.data.split,
            limit=k,
            items=self.items,
            users=self.users,
            aggregates=self.prep.aggregates,
            config=config,
        )

    def _recommend_with(
        self,
        users: Sequence[str],
        *,
        k: int,
        exclude_bought: bool,
        rank: Callable[..., list[Scored]],
    ) -> dict[str, list[str]]:
        """Every user's list by ``rank(state, k=, config=)``, a block of users' nearest
        products and similar users prefetched at a time."""
        cfg = replace(self.config, buy_again=not exclude_bought)
        out: dict[str, list[str]] = {}
        for start in range(0, len(users), BLOCK):
            block = list(users[start : start + BLOCK])
            self._prefetch(block, cfg)
            for user in block:
                state = UserState(
                    user_id=user,
                    long=self.prep.profiles.get(user),
                    purchases=self.prep.history.get(user, []),
                )
                out[user] = [r.product_id for r in rank(state, k=k, config=cfg)]
        self.items.clear_prefetched()
        self.users.clear_prefetched()
        return out

    def _prefetch(self, block: Sequence[str], cfg: RankingConfig) -> None:
        """One matrix product for the block's nearest products and similar users (the ranking
        then asks for them one user at a time and gets the same exact answers)."""
        self.items.clear_prefetched()
        self.users.clear_prefetched()
        known = [u for u in block if u in self.prep.profiles]
        queries = [self.prep.profiles[u] for u in known]
        if cfg.ann_candidates > 0:
            n = len(self.prep.ids)
            windows = [
                min(
                    n,
                    ArrayItems.window(
                        cfg.ann_candidates,
                        0
                        if cfg.buy_again
                        else len({p.product_id for p in self.prep.history.get(u, [])}),
                    ),
                )
                for u in known
            ]
            self.items.prefetch(queries, windows)
        if cfg.weights.similar_users > 0:
            self.users.prefetch(queries, cfg.similar_users)


def recsys_lists(
    prep: Prepared, users: Sequence[str], *, config: RankingConfig, k: int
) -> dict[str, list[str]]:
    """The system's top-k per user, through the production ranking function (``config`` as
    given: pass ``buy_again=False`` for the *new* protocol)."""
    return SystemRecommender(prep, config).recommend(
        users, k=k, exclude_bought=not config.buy_again
    )


def _popularity(prep: Prepared) -> Popularity:
    pop = prep.cache.get("popularity")
    if not isinstance(pop, Popularity):
        pop = prep.cache["popularity"] = Popularity(prep.inter)
    return pop


FitFn = Callable[[Prepared, RankingConfig], Recommender]


def _baseline(make: Callable[[Prepared], Scorer]) -> FitFn:
    def fit(prep: Prepared, config: RankingConfig) -> Recommender:
        return BlockRecommender(prep, make(prep), tiebreak=_popularity(prep).scores)

    return fit


#: Every model the harness knows, in table order. Add a row with :func:`register`.
REGISTRY: dict[str, Model] = {}


def register(model: Model) -> Model:
    """Add (or replace) a model of the harness; ``evaluate(models=[..., model.name])``."""
    REGISTRY[model.name] = model
    return model


register(Model("recsys", "recsys", SystemRecommender))
register(Model("popularity", "popularity", _baseline(_popularity)))
register(
    Model(
        "item_knn",
        "item-kNN co-purchase",
        _baseline(lambda prep: ItemKNN(prep.inter, prep.data.train)),
    )
)
register(Model("als", "ALS (implicit)", _baseline(lambda prep: ALS(prep.inter))))
register(
    Model("content", "content-only", _baseline(lambda prep: Content(prep.vectors, prep.profiles)))
)
#: The default rows of ``recsys eval``.
MODELS: tuple[str, ...] = tuple(REGISTRY)


def evaluate(
    prep: Prepared,
    *,
    config: RankingConfig,
    k: int = 10,
    models: Sequence[str | Model] = MODELS,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """{"protocols": {protocol: {model: metrics}}, "timings": {...}} for one prepared split.

    ``models`` are names of :data:`REGISTRY` or :class:`Model` objects; each is fitted once
    and asked for both protocols' lists.
    """
    say = progress or Progress(enabled=False)
    timings = dict(prep.timings)
    specs = [m if isinstance(m, Model) else REGISTRY[m] for m in models]
    truths = {protocol: _truth(prep, protocol) for protocol in PROTOCOLS}
    result: dict[str, Any] = {protocol: {} for protocol in PROTOCOLS}
    cpu: dict[str, float] = {"prepare_s": prep.cpu_s}
    for spec in specs:
        t0, c0 = time.perf_counter(), time.process_time()
        fitted = spec.fit(prep, config)
        timings[f"fit_{spec.name}_s"] = fit_s = time.perf_counter() - t0
        spent = [f"fit {fit_s:.1f} s"]
        for protocol in PROTOCOLS:
            truth = truths[protocol]
            t0 = time.perf_counter()
            lists = fitted.recommend(sorted(truth), k=k, exclude_bought=protocol == "new")
            timings[f"{protocol}_{spec.name}_s"] = took = time.perf_counter() - t0
            spent.append(f"{protocol} {len(truth):,} users {took:.1f} s")
            scores = score_lists(lists, truth, k=k, catalog_size=len(prep.ids))
            result[protocol][spec.name] = scores.as_dict(k)
        cpu[f"{spec.name}_s"] = time.process_time() - c0
        say(f"{spec.label}: " + ", ".join(spent) + f" ({cpu[spec.name + '_s']:.1f} s CPU)")
    return {
        "protocols": result,
        "timings": {n: round(v, 2) for n, v in timings.items()},
        #: CPU seconds of this process per phase (fit + both protocols per model): steadier
        #: than wall time on a shared machine.
        "cpu_timings": {n: round(v, 2) for n, v in cpu.items()},
    }


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
