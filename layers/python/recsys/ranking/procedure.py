"""The tuner's fitting procedures: a coordinate search over the weighted sum and the listwise
ranker that starts from it, fitted on one block of replayed pools (:mod:`recsys.ranking.tuner`
runs them on successive windows and checks each on the window after)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.ranking.features import INDEX
from recsys.ranking.fitted import ModeFit
from recsys.ranking.learned import DEFAULT_WEIGHTS, SIGNAL_COLUMNS, WeightedSum, fit_listwise
from recsys.ranking.mix import MIX_MODES, mixed
from recsys.ranking.replay import Block, TuneOptions, measure

__all__ = ["WEIGHT_GRID", "learned_name", "objective", "procedure", "search_weighted"]

FloatArray = npt.NDArray[np.float32]
WEIGHT_GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
#: A coordinate step is taken only when it raises the fit window's recall by this share (the
#: search otherwise chases noise among a few hundred customers).
MIN_STEP = 0.005


# --- searching -----------------------------------------------------------------------------


def objective(m: Mapping[str, float], min_coverage: float) -> float:
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
        return objective(m, options.min_coverage), m

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


def procedure(
    block: Block, mode: str, options: TuneOptions, catalog_size: int
) -> tuple[dict[str, ModeFit], dict[str, Any]]:
    """The candidates fitted on ``block``: the searched weighted sum and the listwise rankers
    that start from it (one per input set of ``options.designs_of(mode)``); and what the
    fitting took."""
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
        for inputs in options.designs_of(mode):
            name = learned_name(inputs)
            lr = fit_listwise(
                block.x, block.starts, block.labels, base=ws, l2=options.l2, inputs=inputs
            )
            out[name] = ModeFit(lr, options.budgets, 0, 0.0, name)
        if mode in MIX_MODES:
            out.update(mixed(out, block))
        info["learned_s"] = time.perf_counter() - t0
    return out, info


def learned_name(inputs: str) -> str:
    """The candidate's name of the learned ranker over ``inputs`` ("learned", "learned_rank")."""
    return "learned" if inputs == "base" else f"learned_{inputs}"
