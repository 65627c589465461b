"""The learned ranker leaning further on the weighted sum it starts from (candidate "learned_mix").

The listwise ranker (:func:`recsys.ranking.learned.fit_listwise`) reads the tuned weighted sum
as one input among 119; fitted on two windows of 400 customers it often ranks the window after
them *worse* than that weighted sum alone: on the tuner's second fold of Online Retail
(2011-11-01, *repeat*) 0.1143 against 0.1193, on the sparse variant 0.0893 against 0.0912. The
two err differently — ten weights searched on the same windows against a hundred fitted by
gradient — so their sum is steadier than either: the learned score plus ``alpha`` × the
weighted sum, the latter scaled to the learned score's spread within a customer's pool
(the mean over the fitting block's pools of each score's standard deviation). On that fold
``alpha`` 0.5 scored 0.1215 and 0.1015 (+6 % and +14 % over the learned ranker); on the first
fold, one window of training data, it lost 2 % and 3 %, and on Ta-Feng it did not gain
(docs/SELF_TUNING.md). So it is one more candidate, judged by the same gate as the others,
and a store serves it only where it wins on the held-back windows.

The result is a :class:`~recsys.ranking.learned.LinearRanker` with a larger weight on its
weighted sum: it is served, stored and explained exactly as the learned ranker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from recsys.ranking.fitted import ModeFit
from recsys.ranking.learned import LinearRanker
from recsys.ranking.replay import Block

__all__ = ["ALPHA", "MIX_MODES", "MIX_NAME", "mix", "mixed"]

#: The candidate's name in the tuner's report.
MIX_NAME = "learned_mix"
#: The objectives it is fitted for: *repeat* only, where it was measured (module doc).
MIX_MODES = ("repeat",)
#: The weighted sum's share added, at the learned score's spread (0.25–1 measured).
ALPHA = 0.5
#: The learned ranker it mixes, by preference (the first one fitted for the objective).
SOURCES = ("learned_rank", "learned_cross", "learned")


def spread(scores: npt.NDArray[np.floating], starts: npt.NDArray[np.int64]) -> float:
    """Mean over the blocks (one per customer, from ``starts``) of the scores' standard
    deviation within the block."""
    if not len(scores):
        return 0.0
    s = scores.astype(np.float64)
    lengths = np.diff(np.append(starts, len(s)))
    mean = np.add.reduceat(s, starts) / lengths
    var = np.add.reduceat(s * s, starts) / lengths - mean * mean
    return float(np.mean(np.sqrt(np.maximum(var, 0.0))))


def mix(ranker: LinearRanker, block: Block, alpha: float) -> LinearRanker:
    """``ranker`` with ``alpha`` × its weighted sum added, scaled on ``block`` (its fitting
    data) to the ranker's own spread within a pool (module doc)."""
    if ranker.base is None or alpha <= 0:
        return ranker
    own = spread(ranker.score(block.x, block.starts, block.scaled), block.starts)
    base = spread(ranker.base.score(block.x, block.starts, block.scaled), block.starts)
    if base <= 1e-9:
        return ranker
    return replace(ranker, base_coef=ranker.base_coef + alpha * own / base)


def mixed(
    candidates: Mapping[str, ModeFit], block: Block, alpha: float = ALPHA
) -> dict[str, ModeFit]:
    """``{MIX_NAME: fit}`` from the first of :data:`SOURCES` among ``candidates`` (fitted on
    ``block``), or nothing when none is there."""
    source = next((n for n in SOURCES if n in candidates), None)
    if source is None:
        return {}
    fit = candidates[source]
    if not isinstance(fit.scorer, LinearRanker):
        return {}
    scorer = mix(fit.scorer, block, alpha)
    return {MIX_NAME: replace(fit, scorer=scorer, chosen=MIX_NAME)}
