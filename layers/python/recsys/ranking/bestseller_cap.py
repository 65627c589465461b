"""At most ``cap`` of the shop's ``top_n`` bestsellers in a list (candidate "learned_cap", *new*).

A grocery's learned ranker in *new* is popularity-led: most of its ten slots are the shop's
bestsellers (coverage@10 of 0.4–1.1 % on Instacart and Ta-Feng). Where a customer has not
bought a top bestseller yet, that is itself a sign they do not want it, and a slot given to
their own neighbours' or categories' pick may do better; where bestsellers are what every
customer buys next, capping them costs recall. So the cap is fitted, not set: per request,
the bestsellers beyond the ``cap`` highest scored sink below every other candidate (their
score minus :data:`PENALTY`), which is a score the linear ranker carries
(:class:`~recsys.ranking.learned.LinearRanker` ``top_n`` / ``cap``), so serving, the tuner's
folds and the stored configuration apply the same rule. Which ``top_n`` and ``cap`` (or none)
is chosen on the ranker's own training windows (:func:`recsys.ranking.cap_candidate.fit_cap`);
whether the capped ranker is
served is the gate's decision on the held-out windows, like every candidate's.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["PENALTY", "cap_bestsellers"]

FloatArray = npt.NDArray[np.float32]
PENALTY = np.float32(1e4)


def cap_bestsellers(
    scores: FloatArray,
    pop_rank: FloatArray,
    starts: npt.NDArray[np.int64] | None,
    top_n: int,
    cap: int,
) -> FloatArray:
    """``scores`` with, per request (blocks from ``starts``; one when None), the rows among the
    ``top_n`` bestsellers (``pop_rank`` = 1 / log2(2 + rank by buyers)) beyond the ``cap``
    best scored lowered by :data:`PENALTY` (ties by row)."""
    if top_n <= 0 or not len(scores):
        return scores
    if starts is None:
        starts = np.zeros(1, dtype=np.int64)
    lengths = np.diff(np.append(starts, len(scores)))
    owner = np.repeat(np.arange(len(starts)), lengths)
    # rank < top_n ⟺ pop_rank above the value halfway between ranks top_n − 1 and top_n
    idx = np.flatnonzero(pop_rank > 1.0 / math.log2(2.0 + top_n - 0.5))
    if not len(idx):
        return scores
    order = idx[np.lexsort((idx, -scores[idx], owner[idx]))]
    own = owner[order]
    first = np.concatenate([[0], np.flatnonzero(np.diff(own)) + 1])
    pos = np.arange(len(order)) - np.repeat(first, np.diff(np.append(first, len(order))))
    out = scores.copy()
    out[order[pos >= cap]] -= PENALTY
    return out
