"""Fit the ranking to one store's own history: the self-tuning step of the nightly job.

Protocol — the one ``recsys eval`` uses, replayed inside the store's history up to ``as_of``:

- two windows of ``W`` days end at ``as_of``: *fit* = [as_of − 2W, as_of − W) and *check* =
  [as_of − W, as_of). For each, everything (aggregates, item statistics, profiles, purchase
  histories) is computed from events strictly before the window opens, and the truth is what
  each customer bought inside it — no event after a window's start is ever seen by what is
  scored on it;
- two objectives, as in the evaluation: *repeat* (purchases of anything count; "buy again"
  on) and *new* (products the customer bought before are excluded from the list and truth);
- on the fit window: a coordinate search over the weighted sum (weight and column of every
  signal — which co-purchase budget and seed decay, which repeat statistic, popularity by
  decayed score or rank, category affinity, …, and the cap per category) and a listwise
  ranker over every feature and that weighted sum (:func:`recsys.ranking.learned.fit_listwise`);
- on the check window, which neither was fitted on: the current configuration (the previous
  fit, else the fixed defaults of ``rank_for_user``), the tuned weighted sum and the learned
  ranker are all scored; the best is kept only if it beats the current one by
  ``min_gain``, else the current configuration stays.

A store with too little history (fewer than ``min_users`` customers buying in a window) is
*cold*: it keeps :data:`COLD_START` (measured safe on both a gift wholesaler and a grocery,
docs/EVALUATION.md) and the report says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import resource
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.aggregates.compute import Aggregates, compute_aggregates
from recsys.core.config import Settings
from recsys.profiles.maths import DEFAULT_WEIGHTS as EVENT_WEIGHTS
from recsys.profiles.maths import ProfileEvent, build_profile
from recsys.ranking.config import RankingConfig
from recsys.ranking.features import (
    FEATURES,
    INDEX,
    Budgets,
    ItemStats,
    Pool,
    build_pool,
    compute_item_stats,
)
from recsys.ranking.fitted import (
    MODES,
    FittedRanking,
    ModeFit,
    _cold_modes,
    _epoch,
    _iso,
    rank,
)
from recsys.ranking.learned import (
    DEFAULT_WEIGHTS,
    SIGNAL_COLUMNS,
    Scorer,
    WeightedSum,
    fit_listwise,
    scale,
    top_k_blocks,
)
from recsys.ranking.memory import ArrayItems, ArrayUsers
from recsys.ranking.rules import top_category
from recsys.ranking.types import Purchase, UserState
from recsys.store.base import Vector, VectorStore

log = logging.getLogger(__name__)

DAY = 86400.0
FloatArray = npt.NDArray[np.float32]
WEIGHT_GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
#: A coordinate step is taken only when it raises the fit window's recall by this share (the
#: search otherwise chases noise among a few hundred customers).
MIN_STEP = 0.005


@dataclass(frozen=True)
class TuneOptions:
    """Bounds of one tuning run (all cheap by default: the nightly job runs it)."""

    window_days: float | None = None  # None: a quarter of the history, within [7, 28] days
    max_users: int = 400  # customers scored per window (a fixed hash sample above that)
    min_users: int = 50  # fewer buyers in a window: cold store
    min_gain: float = 0.01  # relative Recall@10 gain needed to replace the current config
    min_coverage: float = 0.0  # a tuned list below this catalog coverage is not chosen
    passes: int = 2  # coordinate-search passes
    k: int = 10
    learned: bool = True
    budgets: Budgets = field(default_factory=Budgets)


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
    chosen, mask = top_k_blocks(scores, block.starts, k=k if cap <= 0 else max(k * 5, 50))
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


def measure(
    block: Block, scores: FloatArray, *, k: int = 10, cap: int = 0, catalog_size: int = 1
) -> dict[str, float]:
    """Recall@k (over every truth item, in the pool or not), hit rate and coverage."""
    if not block.users:
        return {"recall": 0.0, "hitrate": 0.0, "coverage": 0.0, "users": 0}
    top = _cap_order(block, scores, cap, k)
    valid = top >= 0
    hits = np.where(valid, block.labels[np.where(valid, top, 0)], False)
    recall = float(np.mean(hits.sum(axis=1) / block.n_truth))
    shown = {block.items[r] for r in top[valid].tolist()}
    return {
        "recall": round(recall, 5),
        "hitrate": round(float(np.mean(hits.any(axis=1))), 4),
        "coverage": round(len(shown) / max(catalog_size, 1), 4),
        "users": len(block.users),
    }


def measure_lists(
    lists: Mapping[str, Sequence[str]], truth: Mapping[str, set[str]], *, catalog_size: int
) -> dict[str, float]:
    users = [u for u in truth if truth[u]]
    if not users:
        return {"recall": 0.0, "hitrate": 0.0, "coverage": 0.0, "users": 0}
    rec = [len(set(lists.get(u, [])[:10]) & truth[u]) / len(truth[u]) for u in users]
    hit = [bool(set(lists.get(u, [])[:10]) & truth[u]) for u in users]
    shown = {p for u in users for p in lists.get(u, [])[:10]}
    return {
        "recall": round(float(np.mean(rec)), 5),
        "hitrate": round(float(np.mean(hit)), 4),
        "coverage": round(len(shown) / max(catalog_size, 1), 4),
        "users": len(users),
    }


def _current_lists(
    window: Window, mode: str, current: FittedRanking | None, config: RankingConfig, k: int
) -> dict[str, list[str]]:
    """What the current configuration serves each checked user (the real ranking function)."""
    block = window.blocks[mode]
    cfg = replace(config, buy_again=mode == "repeat")
    out: dict[str, list[str]] = {}
    fitted = current
    if fitted is not None:
        fitted = replace(fitted, stats=window.stats)
    for user in block.truth:
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
        out[user] = [r.product_id for r in ranked]
    return out


# --- searching -----------------------------------------------------------------------------


def _objective(m: Mapping[str, float], min_coverage: float) -> float:
    penalty = max(0.0, min_coverage - m["coverage"]) if min_coverage > 0 else 0.0
    return m["recall"] - penalty


def _neighbours(
    current: Callable[[], WeightedSum], signals: Sequence[str]
) -> Iterable[WeightedSum]:
    """Every one-signal change of the best so far: another weight on the grid or column.

    ``current`` is asked again for each signal, so a signal's candidates start from what the
    previous signals improved (coordinate search)."""
    for sig in signals:
        start = current()
        for col in SIGNAL_COLUMNS[sig]:
            for w in WEIGHT_GRID:
                if w == 0.0 and col != SIGNAL_COLUMNS[sig][0]:
                    continue
                cand = WeightedSum({**start.weights, sig: w}, {**start.columns, sig: col})
                if cand.weights != start.weights or cand.columns != start.columns:
                    yield cand


def search_weighted(
    block: Block, *, start: WeightedSum, options: TuneOptions, catalog_size: int
) -> tuple[WeightedSum, int, dict[str, float], int]:
    """Coordinate search over each signal's weight and column, then the category cap."""
    best = WeightedSum(dict(start.weights), dict(start.columns))
    signals = list(SIGNAL_COLUMNS)
    if block.labels.size and not block.x[:, INDEX["bought"]].any():
        signals = [s for s in signals if s not in ("repeat", "due")]
    evaluations = 0

    def value(ws: WeightedSum, cap: int = 0) -> tuple[float, dict[str, float]]:
        nonlocal evaluations
        evaluations += 1
        m = measure(
            block,
            ws.score(block.x, block.starts, block.scaled),
            k=options.k,
            cap=cap,
            catalog_size=catalog_size,
        )
        return _objective(m, options.min_coverage), m

    best_v, best_m = value(best)

    def current() -> WeightedSum:
        return best

    for _ in range(options.passes):
        improved = False
        for cand in _neighbours(current, signals):
            v, m = value(cand)
            if v > best_v * (1.0 + MIN_STEP) + 1e-6:
                best, best_v, best_m, improved = cand, v, m, True
        if not improved:
            break
    best.weights = {s: w for s, w in best.weights.items() if w > 0}
    best.columns = {
        s: c for s, c in best.columns.items() if s in best.weights and c != SIGNAL_COLUMNS[s][0]
    }
    cap_best = 0
    for cap in (2, 3, 5):
        v, m = value(best, cap)
        if v > best_v + 1e-6:
            cap_best, best_v, best_m = cap, v, m
    return best, cap_best, best_m, evaluations


def _signals(scorer: Scorer) -> dict[str, float]:
    """Which signals matter: weight × mean scaled value (weighted sum) or |coef| (learned)."""
    if isinstance(scorer, WeightedSum):
        return {s: round(w, 3) for s, w in sorted(scorer.weights.items(), key=lambda kv: -kv[1])}
    imp = scorer.importance()
    top = sorted(imp.items(), key=lambda kv: -kv[1])[:8]
    return dict(top)


def _explain(fit: ModeFit, metrics: Mapping[str, Any]) -> str:
    sig = _signals(fit.scorer)
    names = ", ".join(f"{k} {v}" for k, v in list(sig.items())[:5])
    return f"{fit.chosen} ({names}); check-window recall " + ", ".join(
        f"{k} {v['recall']}" for k, v in metrics.items() if isinstance(v, dict)
    )


def tune(
    events: Sequence[ProfileEvent],
    catalog: Catalog,
    *,
    as_of: float,
    current: FittedRanking | None = None,
    config: RankingConfig | None = None,
    options: TuneOptions | None = None,
    profile_tau_days: float = 30.0,
    say: Callable[[str], None] | None = None,
    now: float | None = None,
) -> FittedRanking:
    """Fit, check and keep or reject (module doc). ``events`` may run past ``as_of``: those
    after it are dropped first."""
    opts = options or TuneOptions()
    cfg = config or RankingConfig()
    talk = say or (lambda msg: log.info(msg))
    t_start = time.perf_counter()
    events = sorted((e for e in events if e.at < as_of), key=lambda e: e.at)
    first = events[0].at if events else as_of
    span_days = (as_of - first) / DAY
    w_days = opts.window_days or min(28.0, max(7.0, span_days / 4))
    report: dict[str, Any] = {
        "events": len(events),
        "history_days": round(span_days, 1),
        "window_days": round(w_days, 1),
    }
    fit_cut, check_cut = as_of - 2 * w_days * DAY, as_of - w_days * DAY
    stats = compute_item_stats(events, now=as_of, payloads=catalog.payloads)
    version_base = f"{as_of:.0f}:{len(events)}"

    def finish(status: str, modes: dict[str, ModeFit]) -> FittedRanking:
        report["seconds"] = round(time.perf_counter() - t_start, 1)
        report["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        digest = hashlib.sha256(
            json.dumps({m: f.to_json() for m, f in modes.items()}, sort_keys=True).encode()
            + version_base.encode()
        ).hexdigest()[:10]
        stamp = datetime.fromtimestamp(as_of, UTC).strftime("%Y%m%d")
        fitted = FittedRanking(
            version=f"{stamp}-{digest}",
            fitted_at=time.time() if now is None else now,
            as_of=as_of,
            status=status,
            modes=modes,
            stats=stats,
            report=report,
        )
        talk(f"tuning done: {status} {fitted.version} in {report['seconds']} s")
        return fitted

    if span_days < 3 * min(w_days, 7.0) or fit_cut <= first:
        report["reason"] = f"{span_days:.0f} days of history is too little for two windows"
        talk(f"cold store: {report['reason']}; serving the cold-start defaults")
        return finish("cold", _cold_modes(current))
    talk(f"replaying the fit window ({w_days:.0f} days before {_iso(check_cut)})")
    fit_w = replay_window(
        events,
        catalog,
        cut=fit_cut,
        end=check_cut,
        options=opts,
        profile_tau_days=profile_tau_days,
    )
    talk(f"replaying the check window ({w_days:.0f} days before {_iso(as_of)})")
    check_w = replay_window(
        events,
        catalog,
        cut=check_cut,
        end=as_of,
        options=opts,
        profile_tau_days=profile_tau_days,
    )
    n_fit = min(len(fit_w.blocks[m].users) for m in MODES)
    n_check = min(len(check_w.blocks[m].users) for m in MODES)
    report["users"] = {"fit": n_fit, "check": n_check}
    if min(n_fit, n_check) < opts.min_users:
        report["reason"] = f"only {min(n_fit, n_check)} customers bought in a window"
        talk(f"cold store: {report['reason']}; serving the cold-start defaults")
        return finish("cold", _cold_modes(current))
    size_fit = len(fit_w.items.ids)
    size_check = len(check_w.items.ids)
    modes: dict[str, ModeFit] = {}
    replaced = False
    report["modes"] = {}
    for mode in MODES:
        fb, cb = fit_w.blocks[mode], check_w.blocks[mode]
        start = WeightedSum(dict(DEFAULT_WEIGHTS))  # the search starts at the fixed blend
        t0 = time.perf_counter()
        ws, cap, ws_fit_m, n_eval = search_weighted(
            fb, start=start, options=opts, catalog_size=size_fit
        )
        t_ws = time.perf_counter() - t0
        candidates: dict[str, ModeFit] = {
            "weighted_sum": ModeFit(ws, opts.budgets, cap, 0.0, "weighted_sum")
        }
        t_lr = 0.0
        if opts.learned:
            t0 = time.perf_counter()
            lr = fit_listwise(fb.x, fb.starts, fb.labels, base=ws)
            candidates["learned"] = ModeFit(lr, opts.budgets, 0, 0.0, "learned")
            t_lr = time.perf_counter() - t0
        metrics: dict[str, Any] = {}
        t0 = time.perf_counter()
        current_lists = _current_lists(check_w, mode, current, cfg, opts.k)
        metrics["current"] = measure_lists(current_lists, cb.truth, catalog_size=size_check)
        for name, cand in candidates.items():
            metrics[name] = measure(
                cb,
                cand.scorer.score(cb.x, cb.starts, cb.scaled),
                k=opts.k,
                cap=cand.max_per_category,
                catalog_size=size_check,
            )
        t_check = time.perf_counter() - t0
        best_name = max(candidates, key=lambda n: _objective(metrics[n], opts.min_coverage))
        cur_v = _objective(metrics["current"], opts.min_coverage)
        best_v = _objective(metrics[best_name], opts.min_coverage)
        keep_new = best_v > cur_v * (1.0 + opts.min_gain) and best_v > 0
        prev = current.modes.get(mode) if current is not None else None
        if keep_new:
            modes[mode] = candidates[best_name]
            replaced = True
        elif prev is not None:
            modes[mode] = prev
        entry = {
            "chosen": best_name if keep_new else ("current" if prev else "defaults"),
            "check": metrics,
            "fit": {"weighted_sum": ws_fit_m},
            "weighted_sum": candidates["weighted_sum"].to_json()["scorer"],
            "max_per_category": cap,
            "signals": {n: _signals(c.scorer) for n, c in candidates.items()},
            "seconds": {
                "weighted_search": round(t_ws, 1),
                "learned_fit": round(t_lr, 1),
                "check": round(t_check, 1),
                "evaluations": n_eval,
            },
            "all_candidates": {n: c.to_json() for n, c in candidates.items()},
        }
        report["modes"][mode] = entry
        talk(
            f"{mode}: "
            + (
                _explain(modes[mode], metrics)
                if mode in modes
                else f"kept the defaults (check-window recall {metrics})"
            )
        )
    report["repeat_share"] = _repeat_share(check_w)
    return finish("fitted" if replaced else "kept", modes)


def _repeat_share(window: Window) -> float:
    """Share of the check window's purchased (customer, product) pairs bought before."""
    truth = window.blocks["repeat"].truth
    pairs = sum(len(t) for t in truth.values())
    repeats = sum(
        len(t & {p.product_id for p in window.history.get(u, [])}) for u, t in truth.items()
    )
    return round(repeats / pairs, 4) if pairs else 0.0


# --- the nightly step ------------------------------------------------------------------------


def catalog_from_store(store: VectorStore, collection: str) -> Catalog:
    """The catalog as the tuner reads it: every product's payload and unit text vector."""
    ids: list[str] = []
    rows: list[Vector] = []
    payloads: dict[str, dict[str, Any]] = {}
    for rec in store.scroll(collection, batch_size=512, with_vectors=True):
        vec = rec.vectors.get("text")
        if vec is None:
            continue
        ids.append(rec.key)
        rows.append(np.asarray(vec, dtype=np.float32))
        payloads[rec.key] = dict(rec.payload)
    vectors = np.stack(rows) if rows else np.zeros((0, 1), dtype=np.float32)
    return Catalog(ids, vectors, payloads)


def nightly_tuning(
    events: Sequence[ProfileEvent],
    *,
    store: VectorStore,
    settings: Settings,
    as_of: float,
    current: FittedRanking | None,
    say: Callable[[str], None] | None = None,
) -> FittedRanking:
    """The nightly job's tuning step: fit on the log, check, keep or reject, and log why."""
    catalog = catalog_from_store(store, settings.products_collection)
    fitted = tune(
        events,
        catalog,
        as_of=as_of,
        current=current,
        config=RankingConfig.from_settings(settings),
        profile_tau_days=settings.profile_tau_long_days,
        say=say,
    )
    log.info(
        "ranking tuned",
        extra={"ranking": fitted.summary(), "why": explain_report(fitted)},
    )
    return fitted


def explain_report(fitted: FittedRanking) -> dict[str, Any]:
    """Per objective: what was chosen, the check-window recall of each candidate, and the
    signals that matter most."""
    out: dict[str, Any] = {"status": fitted.status}
    if "reason" in fitted.report:
        out["reason"] = fitted.report["reason"]
    for mode, entry in fitted.report.get("modes", {}).items():
        chosen = entry.get("chosen")
        signals = entry.get("signals", {})
        out[mode] = {
            "chosen": chosen,
            "check_recall": {k: v.get("recall") for k, v in entry.get("check", {}).items()},
            "signals": signals.get(chosen) or signals.get("weighted_sum"),
        }
    return out
