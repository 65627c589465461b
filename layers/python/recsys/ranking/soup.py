"""The mean of the learned rankers fitted for one objective, as one more candidate.

In *new* on a grocery the tuner fits four listwise rankers over nested input sets ("base" ⊂
"cross" ⊂ "rank", "cross" ⊂ "knn") whose gains on the folds lie within the noise of 400
customers a window (Ta-Feng: 1.37–1.43), and keeping the largest picks whichever was luckiest.
Their mean score averages the fitting noise out instead. All are linear over standardised
columns of the same training rows, from the same weighted sum, so the mean is itself one
:class:`~recsys.ranking.learned.LinearRanker` over the union of their inputs (the "all" input
set): each column's coefficient is the mean of the members' (0 where a member lacks it), its
standardisation the one every member that has it computed on those rows. It serves like any
learned ranker and goes through the same gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np

from recsys.ranking.fitted import ModeFit
from recsys.ranking.inputs import DESIGNS, NAMES_OF
from recsys.ranking.learned import LinearRanker

__all__ = ["MEAN", "MEAN_MODES", "mean_candidate", "mean_ranker"]

#: The candidate's name.
MEAN = "learned_mean"
#: The objectives it is formed for (where several learned rankers are fitted).
MEAN_MODES = ("new",)
#: Its members: the learned rankers over the input sets (not the click-trained or mixed ones).
MEMBERS = frozenset("learned" if d == "base" else f"learned_{d}" for d in DESIGNS)
#: The input set that holds every member's columns.
UNION = "all"


def mean_ranker(members: Sequence[LinearRanker]) -> LinearRanker:
    """One linear ranker scoring the mean of ``members``' scores (same base weighted sum)."""
    if not members:
        raise ValueError("no members")
    base = members[0].base
    if any(m.base != base for m in members):
        raise ValueError("members start from different weighted sums")
    names = NAMES_OF[UNION]
    col = {n: j for j, n in enumerate(names)}
    mean = np.zeros(len(names), dtype=np.float32)
    std = np.ones(len(names), dtype=np.float32)
    coef = np.zeros(len(names), dtype=np.float64)
    for m in members:
        idx = [col[n] for n in NAMES_OF[m.inputs]]
        mean[idx], std[idx] = m.mean, m.std
        coef[idx] += m.coef / len(members)
    base_coef = float(np.mean([m.base_coef for m in members]))
    return LinearRanker(mean, std, coef.astype(np.float32), base, base_coef, UNION)


def mean_candidate(fits: Mapping[str, ModeFit], mode: str) -> dict[str, ModeFit]:
    """{MEAN: the mean of the learned rankers in ``fits``} for the objectives of
    :data:`MEAN_MODES` with two or more of them; else nothing."""
    names = sorted(n for n in fits if n in MEMBERS and isinstance(fits[n].scorer, LinearRanker))
    if mode not in MEAN_MODES or len(names) < 2:
        return {}
    members = [cast(LinearRanker, fits[n].scorer) for n in names]
    return {MEAN: ModeFit(mean_ranker(members), fits[names[0]].budgets, 0, 0.0, MEAN)}
