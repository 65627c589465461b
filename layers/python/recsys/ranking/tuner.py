"""Fit the ranking to one store's own history: the self-tuning step of the nightly job.

Protocol — the one ``recsys eval`` uses, replayed inside the store's history up to ``as_of``:

- three windows of ``W`` days end at ``as_of``: *early* = [as_of − 3W, as_of − 2W), *fit* =
  [as_of − 2W, as_of − W) and *check* = [as_of − W, as_of). For each, everything (aggregates,
  item statistics, profiles, purchase histories) is computed from events strictly before the
  window opens, and the truth is what each customer bought inside it — no event after a
  window's start is ever seen by what is scored on it;
- two objectives, as in the evaluation: *repeat* (purchases of anything count; "buy again"
  on) and *new* (products the customer bought before are excluded from the list and truth);
- a *procedure* fits on the two windows before the one it is scored on: a coordinate search
  over the weighted sum (weight and column of every signal — which co-purchase budget and
  seed decay, which repeat statistic, popularity by decayed score, rank or recent adopters,
  category affinity, …, and the cap per category) and a listwise ranker over every feature and
  that weighted sum (:func:`recsys.ranking.learned.fit_listwise`);
- fitted on *early* + *fit*, each procedure is scored on the check window, which it never saw,
  beside the current configuration (the previous fit, else the fixed defaults of
  ``rank_for_user``); the best is kept only if it beats the current one by ``min_gain``, else
  the current configuration stays;
- what is kept for the learned ranker is the same fit run again one window later, on *fit* +
  *check* (over the same weighted sum): the store serves a ranker fitted on its latest
  history, by the procedure that won on a window it had not seen. (Serving the fit of older
  windows scored lower on the test side of 7 of 10 dataset × objective pairs,
  docs/SELF_TUNING.md.) The weighted sum is served as it was checked.

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from recsys.core.config import Settings
from recsys.feedback.labels import Label
from recsys.profiles.maths import ProfileEvent
from recsys.ranking.click_labels import ClickLog, ClickStep
from recsys.ranking.config import RankingConfig
from recsys.ranking.features import INDEX
from recsys.ranking.fitted import MODES, FittedRanking, ModeFit, _cold_modes, _iso
from recsys.ranking.item_stats import compute_item_stats
from recsys.ranking.learned import (
    DEFAULT_WEIGHTS,
    SIGNAL_COLUMNS,
    Scorer,
    WeightedSum,
    fit_listwise,
)
from recsys.ranking.replay import (
    Block,
    Catalog,
    TuneOptions,
    Window,
    current_lists,
    join_blocks,
    measure,
    measure_lists,
    replay_window,
)
from recsys.store.base import Vector, VectorStore

__all__ = [
    "Catalog",
    "TuneOptions",
    "catalog_from_store",
    "explain_report",
    "nightly_tuning",
    "tune",
]

log = logging.getLogger(__name__)

DAY = 86400.0
FloatArray = npt.NDArray[np.float32]
WEIGHT_GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
#: A coordinate step is taken only when it raises the fit window's recall by this share (the
#: search otherwise chases noise among a few hundred customers).
MIN_STEP = 0.005


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


def _weighted(ws: WeightedSum, block: Block) -> FloatArray:
    """``ws.score`` over the block (the same sum of the same columns, read column-major)."""
    parts = [
        np.float32(w) * block.columns[INDEX[ws.column(sig)]]
        for sig, w in ws.weights.items()
        if w > 0
    ]
    total: FloatArray = np.sum(parts, axis=0) if parts else np.zeros(len(block.x), np.float32)
    return total


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
            _weighted(ws, block),
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


def _procedure(
    block: Block, mode: str, options: TuneOptions, catalog_size: int
) -> tuple[dict[str, ModeFit], dict[str, Any]]:
    """The candidates fitted on ``block``: the searched weighted sum and the listwise ranker
    that starts from it; and what the fitting took."""
    # The search starts at the fixed blend (without buy-again where bought items are out).
    skip = ("repeat", "due") if mode == "new" else ()
    start = WeightedSum({k: v for k, v in DEFAULT_WEIGHTS.items() if k not in skip})
    t0 = time.perf_counter()
    ws, cap, fit_m, n_eval = search_weighted(
        block, start=start, options=options, catalog_size=catalog_size
    )
    info: dict[str, Any] = {"search_s": time.perf_counter() - t0, "evaluations": n_eval}
    info["fit"] = fit_m
    out = {"weighted_sum": ModeFit(ws, options.budgets, cap, 0.0, "weighted_sum")}
    if options.learned:
        t0 = time.perf_counter()
        lr = fit_listwise(block.x, block.starts, block.labels, base=ws, l2=options.l2)
        out["learned"] = ModeFit(lr, options.budgets, 0, 0.0, "learned")
        info["learned_s"] = time.perf_counter() - t0
    return out, info


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
    clicks: ClickLog | None = None,
) -> FittedRanking:
    """Fit, check and keep or reject (module doc). ``events`` may run past ``as_of``: those
    after it are dropped first. With ``clicks`` holding enough attributed clicks, the learned
    ranker is also trained on them (candidate "learned_clicks", :mod:`.click_labels`)."""
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
    early_cut = as_of - 3 * w_days * DAY
    fit_cut, check_cut = as_of - 2 * w_days * DAY, as_of - w_days * DAY
    stats = compute_item_stats(events, now=as_of, payloads=catalog.payloads)
    version_base = f"{as_of:.0f}:{len(events)}"
    step = ClickStep(clicks, events, as_of=as_of, check_cut=check_cut, tau_days=profile_tau_days)

    def finish(status: str, modes: dict[str, ModeFit]) -> FittedRanking:
        report["click_labels"] = step.finish(report.get("reason") if status == "cold" else None)
        talk(step.describe())
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

    if span_days < 3 * min(w_days, 7.0) or early_cut <= first:
        report["reason"] = f"{span_days:.0f} days of history is too little for three windows"
        talk(f"cold store: {report['reason']}; serving the cold-start defaults")
        return finish("cold", _cold_modes(current))
    replayed: list[Window] = []
    for name, cut, end in (
        ("early", early_cut, fit_cut),
        ("fit", fit_cut, check_cut),
        ("check", check_cut, as_of),
    ):
        talk(f"replaying the {name} window ({w_days:.0f} days before {_iso(end)})")
        replayed.append(
            replay_window(
                events,
                catalog,
                cut=cut,
                end=end,
                options=opts,
                profile_tau_days=profile_tau_days,
            )
        )
    early_w, fit_w, check_w = replayed
    n_fit = min(len(w.blocks[m].users) for m in MODES for w in (early_w, fit_w))
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
        fb = join_blocks(early_w.blocks[mode], fit_w.blocks[mode])
        cb = check_w.blocks[mode]
        candidates, info = _procedure(fb, mode, opts, size_fit)
        ws = cast(WeightedSum, candidates["weighted_sum"].scorer)
        t0 = time.perf_counter()
        lr_clicks = step.candidate(fit_w, fb, mode, base=ws, budgets=opts.budgets)
        if lr_clicks is not None:
            name = "learned_clicks"
            candidates[name] = ModeFit(lr_clicks, opts.budgets, 0, 0.0, name)
        t_clicks = time.perf_counter() - t0
        metrics: dict[str, Any] = {}
        t0 = time.perf_counter()
        served = current_lists(check_w, mode, current, cfg, opts.k)
        metrics["current"] = measure_lists(served, cb.truth, catalog_size=size_check)
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
        t0 = time.perf_counter()
        scorers = {n: c.scorer for n, c in candidates.items()}
        held_out = step.check(
            check_w, mode, {"current": prev.scorer, **scorers} if prev else scorers, opts.budgets
        )
        t_clicks += time.perf_counter() - t0
        # What is served: the learned ranker fitted again one window later (fit + check
        # windows) over the same weighted sum; the weighted sum as checked.
        t0 = time.perf_counter()
        served_by = dict(candidates)
        if "learned" in candidates:
            latest = join_blocks(fit_w.blocks[mode], cb)
            lr = fit_listwise(latest.x, latest.starts, latest.labels, base=ws, l2=opts.l2)
            served_by["learned"] = ModeFit(lr, opts.budgets, 0, 0.0, "learned")
        t_refit = time.perf_counter() - t0
        if keep_new:
            modes[mode] = served_by[best_name]
            replaced = True
        elif prev is not None:
            modes[mode] = prev
        entry = {
            "chosen": best_name if keep_new else ("current" if prev else "defaults"),
            "check": metrics,
            "fit": {"weighted_sum": info["fit"]},
            "weighted_sum": served_by["weighted_sum"].to_json()["scorer"],
            "max_per_category": served_by["weighted_sum"].max_per_category,
            "signals": {n: _signals(c.scorer) for n, c in served_by.items()},
            "seconds": {
                "weighted_search": round(info["search_s"], 1),
                "learned_fit": round(info.get("learned_s", 0.0), 1),
                "check": round(t_check, 1),
                "refit": round(t_refit, 1),
                "click_labels": round(t_clicks, 1),
                "evaluations": info["evaluations"],
            },
            # The served versions (fitted on the fit and check windows); "check" scored the
            # same procedures fitted one window earlier.
            "all_candidates": {n: c.to_json() for n, c in served_by.items()},
        }
        if held_out:
            entry["held_out_clicks"] = held_out
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
    labels: Sequence[Label] | None = None,
) -> FittedRanking:
    """The nightly job's tuning step: fit on the log, check, keep or reject, and log why.
    ``labels`` are the log's shown items (:func:`recsys.feedback.labels.labels_from_events`);
    they train the ranking once they hold ``settings.tuner_min_clicks`` clicks."""
    catalog = catalog_from_store(store, settings.products_collection)
    fitted = tune(
        events,
        catalog,
        as_of=as_of,
        current=current,
        config=RankingConfig.from_settings(settings),
        profile_tau_days=settings.profile_tau_long_days,
        say=say,
        clicks=None if labels is None else ClickLog(labels, min_clicks=settings.tuner_min_clicks),
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
    if "click_labels" in fitted.report:
        out["click_labels"] = fitted.summary().get("click_labels")
    for mode, entry in fitted.report.get("modes", {}).items():
        chosen = entry.get("chosen")
        signals = entry.get("signals", {})
        out[mode] = {
            "chosen": chosen,
            "check_recall": {k: v.get("recall") for k, v in entry.get("check", {}).items()},
            **({"held_out_clicks": entry["held_out_clicks"]} if "held_out_clicks" in entry else {}),
            "signals": signals.get(chosen) or signals.get("weighted_sum"),
        }
    return out
