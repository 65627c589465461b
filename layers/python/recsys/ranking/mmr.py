"""Maximal marginal relevance: trade relevance for variety among the items shown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from recsys.store.base import Vector


def mmr(
    ranked: Sequence[str],
    scores: Mapping[str, float],
    vectors: Mapping[str, Vector | None],
    *,
    k: int,
    diversity: float,
) -> list[str]:
    """Pick ``k`` of ``ranked`` greedily by (1−d)·relevance − d·max similarity to those picked.

    Relevance is rescaled to [0, 1] over the candidates so ``diversity`` means the same for
    every list; items without a vector are never penalised. ``diversity`` 0 keeps the order.
    """
    if diversity <= 0.0 or len(ranked) <= 1:
        return list(ranked[:k])
    d = min(max(diversity, 0.0), 1.0)
    rel = np.array([scores[p] for p in ranked], dtype=np.float64)
    span = rel.max() - rel.min()
    rel = (rel - rel.min()) / span if span > 0 else np.ones_like(rel)
    dim = next((len(v) for v in vectors.values() if v is not None), 0)
    mat = np.zeros((len(ranked), dim), dtype=np.float32)
    for i, pid in enumerate(ranked):
        v = vectors.get(pid)
        if v is not None:
            mat[i] = v
    max_sim = np.full(len(ranked), -np.inf if dim == 0 else 0.0)
    if dim == 0:
        max_sim[:] = 0.0
    chosen: list[int] = []
    free = np.ones(len(ranked), dtype=bool)
    for _ in range(min(k, len(ranked))):
        value = np.where(free, (1.0 - d) * rel - d * max_sim, -np.inf)
        best = int(np.argmax(value))
        chosen.append(best)
        free[best] = False
        if dim:
            max_sim = np.maximum(max_sim, mat @ mat[best])
    return [ranked[i] for i in chosen]
