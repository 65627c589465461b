"""In-memory ranking sources over numpy arrays: the tuner replays a store's history, and the
offline evaluation scores a split, through the ranking code without a vector store (exact
search over the catalog as it stood then).

Both sources answer one query vector at a time, as the ranking asks; :meth:`ArrayItems.prefetch`
and :meth:`ArrayUsers.prefetch` compute the nearest neighbours of a whole block of known query
vectors (the users' profile vectors) with one matrix product, and later queries with those very
vector objects are served from it. Both paths compute similarities in float64 and round them to
float32 (so the order of summation in a matrix product cannot change a value), and ties
(products with identical texts) go to the lower row: prefetched and one-by-one answers agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.ranking.rules import predicate
from recsys.store.base import Filters, Vector

FloatMatrix = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.intp]
#: Query vectors per matrix product when prefetching.
BLOCK = 256


class Exact:
    """A matrix's rows in float64, each distinct row once: a category-only catalog has a few
    thousand texts over tens of thousands of products, and equal rows get equal values."""

    def __init__(self, vectors: npt.ArrayLike) -> None:
        exact = np.ascontiguousarray(vectors, dtype=np.float64)
        self.inverse: IntArray | None = None
        distinct: dict[bytes, int] = {}
        inverse = [distinct.setdefault(row.tobytes(), len(distinct)) for row in exact]
        if len(distinct) < 0.8 * len(exact):
            inv = np.asarray(inverse, dtype=np.intp)
            first = np.zeros(len(distinct), dtype=np.intp)
            first[inv[::-1]] = np.arange(len(inv) - 1, -1, -1)
            self.inverse, exact = inv, exact[first]
        self.rows = exact


def similarities(matrix: Exact, queries: npt.ArrayLike) -> FloatMatrix:
    """``queries @ matrix.T`` accumulated in float64, rounded to float32."""
    q = np.asarray(queries, dtype=np.float64)
    sims = (q @ matrix.rows.T).astype(np.float32)
    return sims if matrix.inverse is None else sims[..., matrix.inverse]


def top_rows(sims: npt.NDArray[np.floating], want: int) -> IntArray:
    """Indices of the ``want`` largest values, best first, ties to the lower index."""
    n = len(sims)
    if want >= n:
        cand: IntArray = np.arange(n)
    else:
        # Everything at least as good as the want-th value, so a tie at the edge is complete.
        edge = np.partition(sims, n - want)[n - want]
        cand = np.flatnonzero(sims >= edge)
    order = np.lexsort((cand, -sims[cand]))
    return cand[order][:want]


class _Prefetched:
    """Sorted neighbour rows of known query vectors, keyed by the vector object's identity."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[Vector, IntArray, npt.NDArray[np.floating]]] = {}

    def fill(self, matrix: Exact, queries: Sequence[Vector], windows: Sequence[int]) -> None:
        for start in range(0, len(queries), BLOCK):
            block = list(queries[start : start + BLOCK])
            sims = similarities(matrix, np.stack(block))
            for q, row, want in zip(block, sims, windows[start : start + BLOCK], strict=True):
                top = top_rows(row, want)
                self.rows[id(q)] = (q, top, row[top])

    def get(self, vector: Vector, want: int) -> tuple[IntArray, npt.NDArray[np.floating]] | None:
        hit = self.rows.get(id(vector))
        if hit is None or hit[0] is not vector or want > len(hit[1]):
            return None
        return hit[1][:want], hit[2][:want]

    def clear(self) -> None:
        self.rows.clear()


class ArrayItems:
    """Products as rows of a unit-vector matrix with their payloads."""

    def __init__(
        self, ids: Sequence[str], vectors: FloatMatrix, payloads: Mapping[str, Mapping[str, Any]]
    ) -> None:
        self.ids = list(ids)
        self.index = {p: i for i, p in enumerate(self.ids)}
        self.vectors = vectors
        self.payloads = payloads
        self._exact = Exact(vectors)
        self._prefetched = _Prefetched()

    @staticmethod
    def window(limit: int, excluded: int) -> int:
        """How many nearest rows a query of ``limit`` with ``excluded`` keys reads."""
        return limit + excluded + 32

    def prefetch(self, queries: Sequence[Vector], windows: Sequence[int]) -> None:
        """Compute the nearest ``windows[i]`` rows of every query at once (exact)."""
        self._prefetched.fill(self._exact, queries, windows)

    def clear_prefetched(self) -> None:
        self._prefetched.clear()

    def nearest(
        self, vector: Vector, *, limit: int, filters: Filters | None
    ) -> list[tuple[str, float]]:
        excluded = len(filters.exclude_keys) if filters else 0
        want = min(len(self.ids), self.window(limit, excluded))
        hit = self._prefetched.get(vector, want)
        if hit is None:
            sims = similarities(self._exact, vector)
            top = top_rows(sims, want)
            values = sims[top]
        else:
            top, values = hit
        out: list[tuple[str, float]] = []
        allowed = predicate(filters)
        for i, sim in zip(top, values, strict=True):
            pid = self.ids[int(i)]
            if allowed(self.payloads[pid]):
                out.append((pid, float(sim)))
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
        self._exact = Exact(vectors)
        self._prefetched = _Prefetched()

    def prefetch(self, queries: Sequence[Vector], limit: int) -> None:
        """The ``limit`` + 1 nearest users of every query at once (one may be the asker)."""
        if self.ids:
            want = min(limit + 1, len(self.ids))
            self._prefetched.fill(self._exact, queries, [want] * len(queries))

    def clear_prefetched(self) -> None:
        self._prefetched.clear()

    def similar_users(
        self, vector: Vector, *, limit: int, exclude: str | None
    ) -> list[tuple[str, float, Sequence[str]]]:
        if not self.ids:
            return []
        skip = self.index.get(exclude) if exclude is not None else None
        want = min(limit + (skip is not None), len(self.ids))
        hit = self._prefetched.get(vector, want)
        if hit is None:
            sims = similarities(self._exact, vector)
            top = top_rows(sims, want)
            values = sims[top]
        else:
            top, values = hit
        out = [
            (self.ids[int(i)], float(s), self.recent.get(self.ids[int(i)], ()))
            for i, s in zip(top, values, strict=True)
            if int(i) != skip and np.isfinite(s)
        ]
        return out[:limit]
