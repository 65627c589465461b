"""Ranks of a request's signals within its own candidate pool.

A raw source score says how strong a candidate is on a scale that differs from customer to
customer (one wholesaler's co-purchase sums are in the hundreds, a new customer's below one);
the per-request maximum (``learned.scale``) fixes the scale but not the shape. The rank of a
candidate among the pool's candidates on the same signal is what a top-10 list is made of: the
third-strongest co-purchase partner of this customer, the bestseller that is fifth among what
this customer could be shown.

The ranks are taken over every gathered candidate *before* serving fetches its best
``budgets.fetch`` (``features.build_pool``), so the served model sees the values it was fitted
on (the tuner scores whole pools); the content cosine is not ranked, since it is only known for
the fetched candidates.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: The feature columns ranked within the pool (``features.FEATURES`` names): the sources that
#: bring candidates in and the item's standing among them.
RANKED: tuple[str, ...] = (
    "repeat_long",
    "repeat_basket",
    "collab10",
    "collab20",
    "similar_users",
    "popularity",
    "buyers",
    "trending",
    "adopters",
    "cat_pop",
)
#: Their column names in ``features.FEATURES``.
RANK_NAMES: tuple[str, ...] = tuple(f"rank:{n}" for n in RANKED)


def pool_ranks(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``values`` (one pool's rows × the :data:`RANKED` columns) → 1 / log2(2 + rank), rank =
    how many candidates of the pool score strictly higher on the column (ties share a rank);
    0 where the candidate has no value there (the source did not bring it, or it is 0)."""
    n = len(values)
    if n == 0:
        return np.zeros_like(values)
    ascending = np.sort(values, axis=0)
    out = np.zeros_like(values)
    for j in range(values.shape[1]):
        above = n - np.searchsorted(ascending[:, j], values[:, j], side="right")
        out[:, j] = np.where(values[:, j] > 0, 1.0 / np.log2(2.0 + above), 0.0)
    return out
