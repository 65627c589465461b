"""The tuner's judgement of its candidates on the held-back folds: each one's recall beside the
current configuration's (served through the real ranking function), their gains over it and
the gate's decision (:mod:`recsys.ranking.tuning_gate`: a paired bootstrap of the customers)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.ranking.config import RankingConfig
from recsys.ranking.fitted import FittedRanking, ModeFit
from recsys.ranking.procedure import objective
from recsys.ranking.replay import (
    TuneOptions,
    Window,
    block_recall,
    current_lists,
    measure,
    measure_lists,
)
from recsys.ranking.tuning_gate import lists_recall, paired_bootstrap

__all__ = ["check_fold", "decide", "fold_gains"]


def check_fold(
    window: Window,
    mode: str,
    candidates: Mapping[str, ModeFit],
    current: FittedRanking | None,
    config: RankingConfig,
    options: TuneOptions,
) -> tuple[dict[str, Any], dict[str, npt.NDArray[np.float64]]]:
    """Recall@10 of the current configuration (served through the real ranking function) and
    of every candidate on ``window``'s customers; and each one's recall per customer (the
    same customers in the same order, for the gate's paired bootstrap)."""
    block = window.blocks[mode]
    size = len(window.items.ids)
    served = current_lists(window, mode, current, config, options.k)
    out: dict[str, Any] = {"current": measure_lists(served, block.truth, catalog_size=size)}
    users = [u for u in block.truth if block.truth[u]]
    per_user = {"current": lists_recall(served, block.truth, users, k=options.k)}
    for name, cand in candidates.items():
        scores = cand.scorer.score(block.x, block.starts, block.scaled)
        out[name] = measure(
            block, scores, k=options.k, cap=cand.max_per_category, catalog_size=size
        )
        per_user[name] = block_recall(block, scores, users, k=options.k, cap=cand.max_per_category)
    return out, per_user


def fold_gains(
    checks: Sequence[Mapping[str, Any]], candidates: Iterable[str], min_coverage: float
) -> dict[str, float]:
    """Per candidate, the mean over the folds that scored it of its objective over the current
    configuration's (two periods judge, so one odd window — a holiday — weighs half)."""
    out: dict[str, float] = {}
    for name in candidates:
        ratios = [
            objective(c[name], min_coverage) / max(objective(c["current"], min_coverage), 1e-9)
            for c in checks
            if name in c
        ]
        out[name] = float(np.mean(ratios)) if ratios else 0.0
    return out


def decide(
    checked: Sequence[tuple[Mapping[str, Any], Mapping[str, npt.NDArray[np.float64]]]],
    candidates: Mapping[str, ModeFit],
    opts: TuneOptions,
    learned_names: set[str],
) -> tuple[dict[str, float], dict[str, dict[str, Any]], list[str], str]:
    """The gate over both folds: each candidate's gain, its bootstrap evidence, the accepted
    ones and the best (the best accepted by gain; a learned ranker over the weighted sum when
    ``prefer_learned``; the best of all when none is accepted, then nothing is kept)."""
    gain = fold_gains([c for c, _ in checked], candidates, opts.min_coverage)
    evidence = {
        n: {
            **paired_bootstrap(
                [(u[n], u["current"]) for _, u in checked if n in u],
                draws=opts.gate.draws,
                seed=opts.gate.seed,
            ),
            "gain": round(gain[n], 4),
        }
        for n in candidates
    }
    accepted = [
        n
        for n in candidates
        if gain[n] > 0 and opts.gate.accepts(n, evidence[n], margin=opts.min_gain)
    ]
    best = max(accepted or list(candidates), key=lambda n: gain[n])
    learned_ok = [n for n in accepted if n in learned_names]
    if best == "weighted_sum" and learned_ok and opts.prefer_learned and opts.refit:
        best = max(learned_ok, key=lambda n: gain[n])  # TuneOptions.prefer_learned says why
    return gain, evidence, accepted, best
