"""The tuner's gate: whether a fitted candidate replaces the current configuration.

Each fold scores the candidate and the current configuration on the same customers of a window
neither was fitted on. The gain is the mean over the folds of the candidate's Recall@10 over
the current one's. With 400 customers a window, a fixed margin (the earlier "more than 1 %")
says little: on the datasets of docs/SELF_TUNING.md fold gains of 1.4 % and 0.8 % were equally
likely to be noise (a paired bootstrap put 61 % and 59 % of its draws above 1), and the first
passed while the second did not — though both candidates were better on the test side.

So the decision rests on a paired bootstrap of the customers instead: resampling the customers
of each fold (the same draw for both lists, so per-customer differences are kept), the share of
draws in which the fold-mean gain exceeds 1 is the evidence that the candidate is the better.
A candidate is accepted when

- its gain exceeds ``1 + margin`` (the learned rankers: 0, the point estimate must favour it;
  other candidates keep the 1 % margin, the greedy weighted-sum search fits its own windows
  best and transferred worst, docs/SELF_TUNING.md),
- the bootstrap favours it (``p_better`` ≥ ``confidence``), and
- it is not significantly worse on either fold alone (its share of draws below 1 on that
  fold stays under ``veto``): a candidate that loses a held-out window beyond noise is never
  kept, whatever the other window says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

__all__ = ["Gate", "lists_recall", "paired_bootstrap"]


@dataclass(frozen=True)
class Gate:
    """Thresholds of the decision (module doc). Candidates not in ``margins`` need the
    tuner's ``min_gain``."""

    margins: tuple[tuple[str, float], ...] = (
        ("learned", 0.0),
        ("learned_cross", 0.0),
        ("learned_rank", 0.0),
        ("learned_knn", 0.0),
        ("learned_mix", 0.0),
    )
    #: share of bootstrap draws with a gain above 1 needed
    confidence: float = 0.5
    #: share of a single fold's draws below 1 that rejects the candidate
    veto: float = 0.9
    draws: int = 1000
    seed: int = 0

    def margin_of(self, name: str, default: float) -> float:
        return dict(self.margins).get(name, default)

    def accepts(self, name: str, stats: Mapping[str, Any], *, margin: float) -> bool:
        """Whether candidate ``name`` with ``stats`` (:func:`paired_bootstrap`, its ``gain``
        possibly replaced by the tuner's objective) replaces the current configuration."""
        return (
            float(stats["gain"]) > 1.0 + self.margin_of(name, margin)
            and float(stats["p_better"]) >= self.confidence
            and all(float(p) < self.veto for p in stats["p_fold_worse"])
        )


def lists_recall(
    lists: Mapping[str, Sequence[str]],
    truth: Mapping[str, set[str]],
    users: Sequence[str],
    *,
    k: int,
) -> FloatArray:
    """Recall@k of served lists, per customer of ``users``."""
    return np.asarray(
        [len(set(lists.get(u, [])[:k]) & truth[u]) / len(truth[u]) for u in users],
        dtype=np.float64,
    )


def paired_bootstrap(
    folds: Sequence[tuple[FloatArray, FloatArray]], *, draws: int = 1000, seed: int = 0
) -> dict[str, float | list[float]]:
    """``folds``: per fold, the candidate's and the current configuration's Recall@10 of the
    same customers. The fold-mean gain, the share of bootstrap draws where it exceeds 1 and,
    per fold, the share of draws where that fold's ratio is below 1."""
    rng = np.random.default_rng(seed)
    ratios: list[float] = []
    per_fold: list[FloatArray] = []
    for cand, cur in folds:
        n = len(cand)
        ratios.append(float(cand.mean() / max(cur.mean(), 1e-9)) if n else 0.0)
        if not n:
            per_fold.append(np.zeros(draws))
            continue
        idx = rng.integers(0, n, size=(draws, n))
        per_fold.append(cand[idx].mean(axis=1) / np.maximum(cur[idx].mean(axis=1), 1e-9))
    if not folds:
        return {"gain": 0.0, "p_better": 0.0, "p_fold_worse": []}
    boot = np.mean(np.stack(per_fold), axis=0)
    return {
        "gain": round(float(np.mean(ratios)), 4),
        "p_better": round(float(np.mean(boot > 1.0)), 3),
        "p_fold_worse": [round(float(np.mean(f < 1.0)), 3) for f in per_fold],
    }
