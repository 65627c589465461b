"""In-memory ranking sources over numpy arrays, so offline evaluation runs the ranking code
without a vector store (exact search; the catalogs evaluated here have a few thousand items)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.ranking.rules import predicate
from recsys.store.base import Filters, Vector

FloatMatrix = npt.NDArray[np.float32]


class ArrayItems:
    """Products as rows of a unit-vector matrix with their payloads."""

    def __init__(
        self, ids: Sequence[str], vectors: FloatMatrix, payloads: Mapping[str, Mapping[str, Any]]
    ) -> None:
        self.ids = list(ids)
        self.index = {p: i for i, p in enumerate(self.ids)}
        self.vectors = vectors
        self.payloads = payloads

    def nearest(
        self, vector: Vector, *, limit: int, filters: Filters | None
    ) -> list[tuple[str, float]]:
        sims = self.vectors @ vector
        excluded = len(filters.exclude_keys) if filters else 0
        want = min(len(self.ids), limit + excluded + 32)
        top = np.argpartition(-sims, want - 1)[:want] if want < len(self.ids) else np.arange(want)
        out: list[tuple[str, float]] = []
        allowed = predicate(filters)
        for i in top[np.argsort(-sims[top])]:
            pid = self.ids[int(i)]
            if allowed(self.payloads[pid]):
                out.append((pid, float(sims[i])))
                if len(out) == limit:
                    break
        return out

    def items(
        self, ids: Sequence[str], *, with_vectors: bool
    ) -> dict[str, tuple[Mapping[str, Any], Vector | None]]:
        return {
            p: (self.payloads[p], self.vectors[self.index[p]] if with_vectors else None)
            for p in ids
            if p in self.index
        }


class ArrayUsers:
    """Users' long-term profile vectors and their recent products."""

    def __init__(
        self, ids: Sequence[str], vectors: FloatMatrix, recent: Mapping[str, Sequence[str]]
    ) -> None:
        self.ids = list(ids)
        self.index = {u: i for i, u in enumerate(self.ids)}
        self.vectors = vectors
        self.recent = recent

    def similar_users(
        self, vector: Vector, *, limit: int, exclude: str | None
    ) -> list[tuple[str, float, Sequence[str]]]:
        if not self.ids:
            return []
        sims = self.vectors @ vector
        if exclude is not None and exclude in self.index:
            sims[self.index[exclude]] = -np.inf
        want = min(limit, len(self.ids))
        top = np.argpartition(-sims, want - 1)[:want]
        return [
            (self.ids[int(i)], float(sims[i]), self.recent.get(self.ids[int(i)], ()))
            for i in top[np.argsort(-sims[top])]
            if np.isfinite(sims[i])
        ]
