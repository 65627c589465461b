"""Replaying a store's history for the tuner: one window's aggregates, statistics, profiles,
candidate pools and truth, all fitted on events before the window opens, and the recall of a
scoring over them (:mod:`recsys.ranking.tuner` searches and decides)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.aggregates.compute import Aggregates, compute_aggregates
from recsys.profiles.maths import DEFAULT_WEIGHTS as EVENT_WEIGHTS
from recsys.profiles.maths import ProfileEvent, build_profile
from recsys.ranking.config import RankingConfig
from recsys.ranking.features import FEATURES, Pool, build_pool
from recsys.ranking.fitted import MODES, FittedRanking, _epoch, rank
from recsys.ranking.item_stats import ItemStats, compute_item_stats
from recsys.ranking.learned import scale
from recsys.ranking.memory import ArrayItems, ArrayUsers
from recsys.ranking.rules import top_category
from recsys.ranking.tuning_gate import Gate, lists_recall
from recsys.ranking.types import Budgets, Purchase, UserState
from recsys.store.base import Vector

__all__ = [
    "Block",
    "Catalog",
    "TuneOptions",
    "Window",
    "current_lists",
    "join_blocks",
    "measure",
    "measure_lists",
    "replay_window",
]

DAY = 86400.0
FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TuneOptions:
    """Bounds of one tuning run (all cheap by default: the nightly job runs it)."""

    window_days: float | None = None  # None: a quarter of the history, within [7, 28] days
    max_users: int = 400  # customers scored per window (a fixed hash sample above that)
    min_users: int = 50  # fewer buyers in a window: cold store
    #: relative Recall@10 gain a candidate needs over the current configuration, unless the
    #: gate gives it a margin of its own (the learned ranker: any gain, ``tuning_gate.Gate``)
    min_gain: float = 0.01
    min_coverage: float = 0.0  # a tuned list below this catalog coverage is not chosen
    passes: int = 2  # coordinate-search passes
    k: int = 10
    learned: bool = True
    #: input sets of the learned rankers fitted (``inputs.DESIGNS``; "base" is "learned", "cross"
    #: "learned_cross", …); the gate keeps the better of those it accepts
    designs: tuple[str, ...] = ("base", "cross", "rank", "knn")
    #: the objectives "cross" is fitted for: in *repeat* it gained nothing on the test side of
    #: any dataset and lost 1 % on the grocery-like one (docs/SELF_TUNING.md)
    cross_modes: tuple[str, ...] = ("new",)
    rank_modes: tuple[str, ...] = ("repeat", "new")  # the objectives "rank" is fitted for
    knn_modes: tuple[str, ...] = ("new",)  # ... and "knn" (purchase neighbours' popularity)
    #: L2 penalty of the listwise ranker (0.1–0.3 generalised best of 0.001–1 over the datasets
    #: of docs/SELF_TUNING.md, fitted on two windows, scored on the next; 0.3 with bought-only)
    l2: float = 0.3
    #: Serve the learned ranker fitted again on the fit + check windows (the procedure that
    #: was checked, one window later); False serves exactly the model the check scored.
    refit: bool = True
    #: When both pass the gate, serve the learned ranker rather than the weighted sum it starts
    #: from, whichever gained more: the folds score the learned ranker fitted one window early,
    #: and what is served is refitted on the latest two windows (``refit``), which no fold can
    #: credit. Where both passed in the run of docs/SELF_TUNING.md and the weighted sum gained
    #: more (3 dataset × objective pairs), the learned ranker was the better on the test side
    #: each time.
    prefer_learned: bool = True
    budgets: Budgets = field(default_factory=Budgets)
    #: what a candidate must show on the folds to be kept (recsys.ranking.tuning_gate)
    gate: Gate = field(default_factory=Gate)

    def designs_of(self, mode: str) -> tuple[str, ...]:
        """The learned rankers' input sets fitted for objective ``mode``."""
        only = {"cross": self.cross_modes, "rank": self.rank_modes, "knn": self.knn_modes}.get
        return tuple(d for d in self.designs if mode in only(d, (mode,)))


# --- replaying history -----------------------------------------------------------------------


@dataclass
class Catalog:
    """What the tuner reads of the catalog: ids, unit text vectors and payloads."""

    ids: list[str]
    vectors: FloatArray
    payloads: dict[str, dict[str, Any]]


@dataclass
class Block:
    """One objective's candidate pools over one window's users, concatenated."""

    users: list[str]
    x: FloatArray
    starts: npt.NDArray[np.int64]
    labels: npt.NDArray[np.bool_]
    items: list[str]
    top_cat: list[str]
    n_truth: FloatArray
    truth: dict[str, set[str]]
    scaled: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        self.scaled = scale(self.x, self.starts)
        # Each row's item as an integer, and where each row sits in a users × pool padding:
        # the search measures a few hundred scorings of the same pools.
        _, codes = np.unique(np.asarray(self.items, dtype=object), return_inverse=True)
        self.codes = codes.reshape(-1).astype(np.int64)
        lengths = np.diff(np.append(self.starts, len(self.x)))
        self.width = max(int(lengths.max()) if len(lengths) else 0, 1)
        self.pad_rows = np.repeat(np.arange(len(self.starts)), lengths)
        self.pad_cols = np.arange(len(self.x)) - np.repeat(self.starts, lengths)
        #: the scaled features column by column (a weighted sum reads a few whole columns)
        self.columns = np.ascontiguousarray(self.scaled.T)

    def top_k(self, scores: FloatArray, k: int) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        """:func:`~recsys.ranking.learned.top_k_blocks` over this block's cached padding."""
        pad = np.full((len(self.starts), self.width), np.inf, dtype=np.float64)
        pad[self.pad_rows, self.pad_cols] = -scores
        kk = min(k, self.width)
        part = np.argpartition(pad, kk - 1, axis=1)[:, :kk]
        values = np.take_along_axis(pad, part, axis=1)
        order = np.argsort(values, axis=1, kind="stable")
        best = np.take_along_axis(part, order, axis=1)
        mask = np.take_along_axis(values, order, axis=1) < np.inf
        return np.where(mask, self.starts[:, None] + best, -1), mask


def join_blocks(*blocks: Block) -> Block:
    """Several windows' pools as one block to fit on (a customer may appear once per window;
    ``truth`` is left empty: fitting reads only the rows and labels)."""
    offsets = np.cumsum([0] + [len(b.x) for b in blocks[:-1]])
    return Block(
        users=[u for b in blocks for u in b.users],
        x=np.concatenate([b.x for b in blocks]),
        starts=np.concatenate([b.starts + o for b, o in zip(blocks, offsets, strict=True)]),
        labels=np.concatenate([b.labels for b in blocks]),
        items=[p for b in blocks for p in b.items],
        top_cat=[c for b in blocks for c in b.top_cat],
        n_truth=np.concatenate([b.n_truth for b in blocks]),
        truth={},
    )


@dataclass
class Window:
    """Everything fitted before ``cut``, and the truth in [cut, end)."""

    cut: float
    end: float
    aggregates: Aggregates
    stats: ItemStats
    items: ArrayItems
    users: ArrayUsers
    profiles: dict[str, Vector]
    history: dict[str, list[Purchase]]
    blocks: dict[str, Block]


def _sample(users: Iterable[str], n: int) -> list[str]:
    ranked = sorted(users, key=lambda u: hashlib.sha256(u.encode()).hexdigest())
    return sorted(ranked[:n])


def replay_window(
    events: Sequence[ProfileEvent],
    catalog: Catalog,
    *,
    cut: float,
    end: float,
    options: TuneOptions,
    profile_tau_days: float = 30.0,
) -> Window:
    """Fit aggregates, statistics and profiles on events before ``cut``; pools and truth for
    the customers who bought in [cut, end)."""
    train = [e for e in events if e.at < cut]
    known = [p for p in catalog.ids if _launched_before(catalog.payloads[p], cut)]
    index = {p: i for i, p in enumerate(catalog.ids)}
    rows = [index[p] for p in known]
    vectors = catalog.vectors[rows] if rows else catalog.vectors[:0]
    payloads = {p: catalog.payloads[p] for p in known}
    categories = {p: str(payloads[p].get("category") or "") for p in known}
    aggregates = compute_aggregates(train, now=cut, catalog_categories=categories)
    stats = compute_item_stats(train, now=cut, payloads=payloads)
    vec_of = {p: vectors[i] for i, p in enumerate(known)}
    by_owner: dict[str, list[ProfileEvent]] = defaultdict(list)
    history: dict[str, list[Purchase]] = defaultdict(list)
    for ev in train:
        if ev.owner and ev.owner.startswith("u#"):
            by_owner[ev.owner].append(ev)
            if ev.type == "purchase" and ev.product_id in vec_of:
                history[ev.owner].append(Purchase(ev.product_id, ev.at))
    for purchases in history.values():
        purchases.sort(key=lambda p: -p.at)
    profiles: dict[str, Vector] = {}
    tau = profile_tau_days * DAY
    dim = int(catalog.vectors.shape[1])
    for owner, evs in by_owner.items():
        unit = build_profile(
            evs, vec_of, now=cut, tau_seconds=tau, weights=EVENT_WEIGHTS, size=dim
        ).unit()
        if unit is not None:
            profiles[owner] = unit
    owners = sorted(profiles)
    recent = {u: list(dict.fromkeys(p.product_id for p in history.get(u, [])))[:20] for u in owners}
    user_matrix = (
        np.stack([profiles[u] for u in owners]).astype(np.float32)
        if owners
        else np.zeros((0, catalog.vectors.shape[1]), dtype=np.float32)
    )
    items = ArrayItems(known, vectors, payloads)
    users = ArrayUsers(owners, user_matrix, recent)
    truth: dict[str, set[str]] = defaultdict(set)
    for ev in events:
        if (
            cut <= ev.at < end
            and ev.type == "purchase"
            and ev.product_id
            and (ev.owner or "").startswith("u#")
            and ev.product_id in catalog.payloads
        ):
            truth[ev.owner or ""].add(ev.product_id)
    window = Window(cut, end, aggregates, stats, items, users, profiles, dict(history), {})
    bought = {u: {p.product_id for p in h} for u, h in history.items()}
    for mode in MODES:
        t = {u: (s - bought.get(u, set())) if mode == "new" else set(s) for u, s in truth.items()}
        t = {u: s for u, s in t.items() if s}
        window.blocks[mode] = _block(window, _sample(t, options.max_users), t, mode, options)
    return window


def _launched_before(payload: Mapping[str, Any], cut: float) -> bool:
    created = payload.get("created_at")
    if not created:
        return True
    try:
        return _epoch(str(created).replace("Z", "+00:00")) < cut
    except ValueError:
        return True


def _state(window: Window, user: str) -> UserState:
    return UserState(
        user_id=user, long=window.profiles.get(user), purchases=window.history.get(user, [])
    )


def _prefetch(window: Window, users: Sequence[str], budgets: Budgets, mode: str) -> None:
    """One matrix product for a block of users' nearest products and similar users."""
    window.items.clear_prefetched()
    window.users.clear_prefetched()
    known = [u for u in users if u in window.profiles]
    queries = [window.profiles[u] for u in known]
    n = len(window.items.ids)
    if budgets.ann > 0 and n:
        windows = [
            min(
                n,
                ArrayItems.window(
                    budgets.ann,
                    0
                    if mode == "repeat"
                    else len({p.product_id for p in window.history.get(u, [])}),
                ),
            )
            for u in known
        ]
        window.items.prefetch(queries, windows)
    if budgets.similar_users > 0:
        window.users.prefetch(queries, budgets.similar_users)


def _pool_of(window: Window, user: str, budgets: Budgets, mode: str) -> Pool:
    return build_pool(
        _state(window, user),
        now=window.cut,
        items=window.items,
        users=window.users,
        aggregates=window.aggregates,
        stats=window.stats,
        budgets=budgets,
        buy_again=mode == "repeat",
    )


def _block(
    window: Window, users: list[str], truth: dict[str, set[str]], mode: str, options: TuneOptions
) -> Block:
    xs: list[FloatArray] = []
    labels: list[npt.NDArray[np.bool_]] = []
    item_ids: list[str] = []
    starts: list[int] = []
    kept: list[str] = []
    n = 0
    budgets = options.budgets
    for start in range(0, len(users), 256):
        part = users[start : start + 256]
        _prefetch(window, part, budgets, mode)
        for user in part:
            pool = _pool_of(window, user, budgets, mode)
            if not pool.ids:
                continue
            kept.append(user)
            starts.append(n)
            n += len(pool.ids)
            xs.append(pool.x)
            labels.append(np.array([p in truth[user] for p in pool.ids], dtype=bool))
            item_ids.extend(pool.ids)
    window.items.clear_prefetched()
    window.users.clear_prefetched()
    x = np.concatenate(xs) if xs else np.zeros((0, len(FEATURES)), dtype=np.float32)
    cats = [top_category(window.items.payloads.get(p, {})) for p in item_ids]
    return Block(
        users=kept,
        x=x,
        starts=np.asarray(starts, dtype=np.int64),
        labels=np.concatenate(labels) if labels else np.zeros(0, dtype=bool),
        items=item_ids,
        top_cat=cats,
        n_truth=np.asarray([len(truth[u]) for u in kept], dtype=np.float32),
        truth={u: truth[u] for u in users},
    )


# --- measuring ---------------------------------------------------------------------------------


def _cap_order(block: Block, scores: FloatArray, cap: int, k: int) -> npt.NDArray[np.int64]:
    """Top-k rows per user with at most ``cap`` per top-level category (cap 0: none)."""
    chosen, mask = block.top_k(scores, k if cap <= 0 else max(k * 5, 50))
    if cap <= 0:
        return np.where(mask, chosen, -1)
    out = np.full((len(block.users), k), -1, dtype=np.int64)
    for u in range(len(block.users)):
        seen: dict[str, int] = {}
        j = 0
        for r, ok in zip(chosen[u].tolist(), mask[u].tolist(), strict=True):
            if not ok or j >= k:
                break
            c = block.top_cat[r]
            if seen.get(c, 0) < cap:
                seen[c] = seen.get(c, 0) + 1
                out[u, j] = r
                j += 1
    return out


def _hits(block: Block, scores: FloatArray, cap: int, k: int) -> tuple[Any, Any]:
    """The top-k rows per user (-1: none) and whether each is a bought product."""
    top = _cap_order(block, scores, cap, k)
    valid = top >= 0
    return top, np.where(valid, block.labels[np.where(valid, top, 0)], False)


def block_recall(
    block: Block, scores: FloatArray, users: Sequence[str], *, k: int, cap: int
) -> npt.NDArray[np.float64]:
    """Recall@k of ``scores`` per customer of ``users`` (0 without a pool), as in measure."""
    hits = _hits(block, scores, cap, k)[1].sum(axis=1)
    got = dict(zip(block.users, (hits / block.n_truth).tolist(), strict=True))
    return np.asarray([got.get(u, 0.0) for u in users], dtype=np.float64)


def _summary(recall: Any, shown: int, catalog_size: int) -> dict[str, float]:
    """Mean Recall@k and hit rate over per-user recalls, and catalog coverage."""
    if not len(recall):
        return {"recall": 0.0, "hitrate": 0.0, "coverage": 0.0, "users": 0}
    return {
        "recall": round(float(np.mean(recall)), 5),
        "hitrate": round(float(np.mean(np.asarray(recall) > 0)), 4),
        "coverage": round(shown / max(catalog_size, 1), 4),
        "users": len(recall),
    }


def measure(
    block: Block, scores: FloatArray, *, k: int = 10, cap: int = 0, catalog_size: int = 1
) -> dict[str, float]:
    """Recall@k (over every truth item, in the pool or not), hit rate and coverage."""
    if not block.users:
        return _summary([], 0, catalog_size)
    top, hits = _hits(block, scores, cap, k)
    shown = len(np.unique(block.codes[top[top >= 0]]))
    return _summary(hits.sum(axis=1) / block.n_truth, shown, catalog_size)


def measure_lists(
    lists: Mapping[str, Sequence[str]], truth: Mapping[str, set[str]], *, catalog_size: int
) -> dict[str, float]:
    users = [u for u in truth if truth[u]]
    shown = len({p for u in users for p in lists.get(u, [])[:10]})
    return _summary(lists_recall(lists, truth, users, k=10), shown, catalog_size)


def current_lists(
    window: Window, mode: str, current: FittedRanking | None, config: RankingConfig, k: int
) -> dict[str, list[str]]:
    """What the current configuration serves each checked user (the real ranking function)."""
    block = window.blocks[mode]
    cfg = replace(config, buy_again=mode == "repeat")
    out: dict[str, list[str]] = {}
    fitted = current
    if fitted is not None:
        fitted = replace(fitted, stats=window.stats)
    fit = fitted.mode(cfg.buy_again) if fitted is not None else None
    # Nearest products and similar users of every checked user by one matrix product, for
    # the larger of what the fixed blend and the current fit ask (a prefix serves either).
    fetch = Budgets(
        ann=max(config.ann_candidates, fit.budgets.ann if fit else 0),
        similar_users=max(config.similar_users, fit.budgets.similar_users if fit else 0),
    )
    users = list(block.truth)
    for start in range(0, len(users), 256):
        _prefetch(window, users[start : start + 256], fetch, mode)
        for user in users[start : start + 256]:
            out[user] = _current_list(window, user, cfg, fitted, k)
    window.items.clear_prefetched()
    window.users.clear_prefetched()
    return out


def _current_list(
    window: Window, user: str, cfg: RankingConfig, fitted: FittedRanking | None, k: int
) -> list[str]:
    ranked = rank(
        _state(window, user),
        now=window.cut,
        limit=k,
        items=window.items,
        users=window.users,
        aggregates=window.aggregates,
        config=cfg,
        fitted=fitted,
    )
    return [r.product_id for r in ranked]
