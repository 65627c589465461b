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
- each procedure is judged on two folds — fitted on *early*, scored on *fit*; fitted on
  *early* + *fit*, scored on *check* — against the current configuration (the previous fit,
  else the fixed defaults of ``rank_for_user``) on the same customers. The gain is the mean
  over the folds of its Recall@10 over the current one's (two periods judge, so one odd
  window — a holiday's shopping — weighs half); the gate (:mod:`recsys.ranking.tuning_gate`)
  accepts a candidate when the gain exceeds its margin (1 + ``min_gain``; the learned ranker
  needs a gain above 1), a paired bootstrap of the customers favours it, and neither fold
  alone says it is worse beyond noise. The best accepted is kept, else the current
  configuration stays;
- what is kept for the learned ranker is the same fit run again one window later, on *fit* +
  *check* (over the same weighted sum): the store serves a ranker fitted on its latest
  history, by the procedure that won on a window it had not seen. (Serving the fit of older
  windows scored lower on the test side of 7 of 10 dataset × objective pairs,
  docs/SELF_TUNING.md.) The weighted sum is served as it was checked. When both pass, the
  learned ranker is kept (``TuneOptions.prefer_learned``): the folds cannot credit its refit.

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
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from recsys.core.config import Settings
from recsys.feedback.labels import Label
from recsys.profiles.maths import ProfileEvent
from recsys.ranking.click_labels import ClickLog, ClickStep
from recsys.ranking.config import RankingConfig
from recsys.ranking.fitted import MODES, FittedRanking, ModeFit, _cold_modes, _iso
from recsys.ranking.folds import check_fold, decide
from recsys.ranking.item_stats import compute_item_stats
from recsys.ranking.learned import Scorer, WeightedSum, fit_listwise
from recsys.ranking.mix import MIX_NAME, mixed
from recsys.ranking.procedure import learned_name, procedure
from recsys.ranking.replay import Block, Catalog, TuneOptions, Window, join_blocks, replay_window
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


def _refit(
    latest: Block, candidates: Mapping[str, ModeFit], ws: WeightedSum, opts: TuneOptions
) -> dict[str, ModeFit]:
    """The learned rankers as served: the same fit on the latest two windows."""
    out: dict[str, ModeFit] = {}
    for inputs in opts.designs:
        name = learned_name(inputs)
        if name in candidates:  # fitted for this objective (TuneOptions.designs_of)
            lr = fit_listwise(
                latest.x, latest.starts, latest.labels, base=ws, l2=opts.l2, inputs=inputs
            )
            out[name] = ModeFit(lr, opts.budgets, 0, 0.0, name)
    if MIX_NAME in candidates:
        out.update(mixed(out, latest))
    return out


def _replay(
    events: Sequence[ProfileEvent],
    catalog: Catalog,
    cuts: tuple[float, float, float, float],
    *,
    options: TuneOptions,
    profile_tau_days: float,
    talk: Callable[[str], None],
) -> tuple[dict[str, Block], int, Window, Window]:
    """The early window's pools (and its catalog size), the fit and the check windows."""
    early_cut, fit_cut, check_cut, as_of = cuts
    w_days = (as_of - check_cut) / DAY
    opts = options
    replayed: list[Window] = []
    for name, cut, end in (
        ("early", early_cut, fit_cut),
        ("fit", fit_cut, check_cut),
        ("check", check_cut, as_of),
    ):
        talk(f"replaying the {name} window ({w_days:.0f} days before {_iso(end)})")
        window = replay_window(
            events, catalog, cut=cut, end=end, options=opts, profile_tau_days=profile_tau_days
        )
        if name == "early":
            # Only its pools are fitted on: its aggregates, profiles and sources go before the
            # next window is replayed (two windows' worth at the peak, not three).
            early, early_size = window.blocks, len(window.items.ids)
            del window
            continue
        replayed.append(window)
    fit_w, check_w = replayed
    return early, early_size, fit_w, check_w


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
    early, early_size, fit_w, check_w = _replay(
        events,
        catalog,
        (early_cut, fit_cut, check_cut, as_of),
        options=opts,
        profile_tau_days=profile_tau_days,
        talk=talk,
    )
    n_fit = min(len(b[m].users) for m in MODES for b in (early, fit_w.blocks))
    n_check = min(len(check_w.blocks[m].users) for m in MODES)
    report["users"] = {"fit": n_fit, "check": n_check}
    if min(n_fit, n_check) < opts.min_users:
        report["reason"] = f"only {min(n_fit, n_check)} customers bought in a window"
        talk(f"cold store: {report['reason']}; serving the cold-start defaults")
        return finish("cold", _cold_modes(current))
    modes: dict[str, ModeFit] = {}
    replaced = False
    report["modes"] = {}
    learned_names = {learned_name(d) for d in opts.designs} | {MIX_NAME} if opts.learned else set()
    for mode in MODES:
        # Two folds, each procedure fitted on the windows before the one it is scored on:
        # early → fit, and early + fit → check.
        folds = []
        for train, scored, size in (
            ((early[mode],), fit_w, early_size),
            ((early[mode], fit_w.blocks[mode]), check_w, len(fit_w.items.ids)),
        ):
            block = join_blocks(*train)
            candidates, info = procedure(block, mode, opts, size)
            folds.append((block, scored, candidates, info))
        fb, _, candidates, info = folds[-1]
        cb = check_w.blocks[mode]
        ws = cast(WeightedSum, candidates["weighted_sum"].scorer)
        t0 = time.perf_counter()
        lr_clicks = step.candidate(fit_w, fb, mode, base=ws, budgets=opts.budgets)
        if lr_clicks is not None:
            name = "learned_clicks"
            candidates[name] = ModeFit(lr_clicks, opts.budgets, 0, 0.0, name)
        t_clicks = time.perf_counter() - t0
        t0 = time.perf_counter()
        checked = [
            check_fold(scored, mode, cands, current, cfg, opts) for _, scored, cands, _ in folds
        ]
        checks = [c for c, _ in checked]
        metrics = checks[-1]
        gain, evidence, accepted, best_name = decide(checked, candidates, opts, learned_names)
        t_check = time.perf_counter() - t0
        keep_new = best_name in accepted
        prev = current.modes.get(mode) if current is not None else None
        t0 = time.perf_counter()
        scorers = {n: c.scorer for n, c in candidates.items()}
        held_out = step.check(
            check_w, mode, {"current": prev.scorer, **scorers} if prev else scorers, opts.budgets
        )
        t_clicks += time.perf_counter() - t0
        # What is served: the learned ranker fitted again one window later (fit + check
        # windows) over the same weighted sum; the weighted sum as checked on the check window.
        t0 = time.perf_counter()
        served_by = dict(candidates)
        if opts.refit:
            served_by.update(_refit(join_blocks(fit_w.blocks[mode], cb), candidates, ws, opts))
        t_refit = time.perf_counter() - t0
        if keep_new:
            modes[mode] = served_by[best_name]
            replaced = True
        elif prev is not None:
            modes[mode] = prev
        entry = {
            "chosen": best_name if keep_new else ("current" if prev else "defaults"),
            "check": metrics,
            "check_fit_window": checks[0],
            # mean over both folds of each candidate's Recall@10 over the current one's
            "gain": {n: round(g, 4) for n, g in gain.items()},
            "accepted": accepted,
            # the gate's evidence: share of paired-bootstrap draws with a gain above 1 and,
            # per fold, below 1 (recsys.ranking.tuning_gate)
            "gate": {
                n: {"p_better": e["p_better"], "p_fold_worse": e["p_fold_worse"]}
                for n, e in evidence.items()
            },
            "fit": {"weighted_sum": info["fit"]},
            "weighted_sum": served_by["weighted_sum"].to_json()["scorer"],
            "max_per_category": served_by["weighted_sum"].max_per_category,
            "signals": {n: _signals(c.scorer) for n, c in served_by.items()},
            "seconds": {
                "weighted_search": round(sum(f[3]["search_s"] for f in folds), 1),
                "learned_fit": round(sum(f[3].get("learned_s", 0.0) for f in folds), 1),
                "check": round(t_check, 1),
                "refit": round(t_refit, 1),
                "click_labels": round(t_clicks, 1),
                "evaluations": sum(f[3]["evaluations"] for f in folds),
            },
            # The served versions: "check" scored the same procedures fitted one window
            # earlier (on the early and fit windows).
            "learned_fitted_on": "fit+check"
            if opts.refit and any(n in candidates for n in learned_names)
            else "early+fit",
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
