"""Baselines measured in the same run as the system: popularity, item-kNN, ALS, content-only.

Each is fitted on the training events only. They score users in blocks (one matrix product per
block of users instead of one per user) and :class:`BlockScorer` turns a block of scores into
top-k lists after removing what the protocol excludes; ties (e.g. users without history, whose
scores are all zero) are broken by popularity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from recsys.profiles.maths import ProfileEvent

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
#: Users scored per matrix product: a block of 512 users × 24k items is ≈ 100 MB of float64.
BLOCK = 512
#: Item-kNN keeps its similarity matrix dense up to this many items (≈ 256 MB of float32).
DENSE_ITEMS = 8000


@dataclass
class Interactions:
    """Training purchases as a users × items matrix (distinct orders per pair)."""

    users: dict[str, int]
    items: dict[str, int]
    matrix: sparse.csr_matrix

    @classmethod
    def from_events(cls, events: Sequence[ProfileEvent], items: Sequence[str]) -> Interactions:
        item_index = {p: i for i, p in enumerate(items)}
        users: dict[str, int] = {}
        pairs: set[tuple[int, int, str]] = set()
        for ev in events:
            if ev.type != "purchase" or not ev.owner or ev.product_id not in item_index:
                continue
            u = users.setdefault(ev.owner, len(users))
            pairs.add((u, item_index[ev.product_id], ev.order_id or f"{ev.at:.0f}"))
        rows = np.fromiter((p[0] for p in pairs), dtype=np.int32, count=len(pairs))
        cols = np.fromiter((p[1] for p in pairs), dtype=np.int32, count=len(pairs))
        data = np.ones(len(pairs), dtype=np.float32)
        matrix = sparse.csr_matrix((data, (rows, cols)), shape=(len(users), len(items)))
        matrix.sum_duplicates()
        return cls(users, item_index, matrix)

    def row(self, user: str) -> FloatArray:
        u = self.users.get(user)
        if u is None:
            return np.zeros(self.matrix.shape[1], dtype=np.float32)
        return np.asarray(self.matrix[u].toarray()[0], dtype=np.float32)

    def mask(self, owned: Mapping[str, set[str]], users: Sequence[str]) -> npt.NDArray[np.bool_]:
        """users × items booleans: True where the item is in ``owned[user]``."""
        out = np.zeros((len(users), len(self.items)), dtype=bool)
        for r, user in enumerate(users):
            cols = [self.items[p] for p in owned.get(user, ()) if p in self.items]
            out[r, cols] = True
        return out


def _rows_of(index: Mapping[str, int], users: Sequence[str]) -> tuple[IntArray, IntArray]:
    """Positions (in ``users``) of the users ``index`` knows, and their rows in ``index``."""
    pos = [(i, index[u]) for i, u in enumerate(users) if u in index]
    return (
        np.array([p for p, _ in pos], dtype=np.int64),
        np.array([r for _, r in pos], dtype=np.int64),
    )


class Popularity:
    """Distinct training buyers per item."""

    def __init__(self, inter: Interactions) -> None:
        binary = (inter.matrix > 0).astype(np.float32)
        self.scores: FloatArray = np.asarray(binary.sum(axis=0), dtype=np.float32).ravel()

    def score(self, user: str) -> FloatArray:
        return self.scores

    def score_block(self, users: Sequence[str]) -> npt.NDArray[np.floating]:
        return np.broadcast_to(self.scores, (len(users), len(self.scores)))


class ItemKNN:
    """Item-based kNN on co-purchase: item–item cosine over identified customers' baskets.

    Rows are orders (invoices) of identified customers; anonymous sessions' baskets are left
    out, as are customer-level rows — both measured weaker here (docs/EVALUATION.md lists the
    variants). Every neighbour counts (a cut to the top 50 measured lower). A customer's score
    for an item sums its similarity to what they bought, weighted by log(1 + orders); an item's
    similarity to itself is 1, so under the *all* protocol the customer's own purchases compete
    (the repeat signal any item-kNN has unless told otherwise); under *new* they are excluded.

    The similarity matrix stays sparse for large catalogs (above :data:`DENSE_ITEMS` items, or
    when ``dense=False``): only pairs bought together are stored, and a block of users is
    scored with one sparse product.
    """

    def __init__(
        self,
        inter: Interactions,
        events: Sequence[ProfileEvent],
        *,
        neighbours: int | None = None,
        include_self: bool = True,
        dense: bool | None = None,
    ) -> None:
        baskets: dict[str, set[int]] = {}
        for ev in events:
            col = inter.items.get(ev.product_id or "")
            if ev.type != "purchase" or col is None or not (ev.owner or "").startswith("u#"):
                continue
            key = ev.order_id or f"{ev.owner}#{int(ev.at // 86400)}"
            baskets.setdefault(key, set()).add(col)
        n_items = len(inter.items)
        rows_idx = np.fromiter(
            (b for b, cols in enumerate(baskets.values()) for _ in cols), dtype=np.int64
        )
        cols_idx = np.fromiter((c for cols in baskets.values() for c in cols), dtype=np.int64)
        basket_rows = sparse.csr_matrix(
            (np.ones(len(cols_idx), dtype=np.float32), (rows_idx, cols_idx)),
            shape=(len(baskets), n_items),
        )
        co = (basket_rows.T @ basket_rows).tocsr().astype(np.float32)
        self.dense = n_items <= DENSE_ITEMS if dense is None else dense
        if self.dense:
            self.sim: FloatArray | sparse.csr_matrix = _dense_cosine(
                co.toarray(), neighbours=neighbours, include_self=include_self
            )
        else:
            self.sim = _sparse_cosine(co, neighbours=neighbours, include_self=include_self)
        customers = [u for u in inter.users if u.startswith("u#")] or list(inter.users)
        rows = inter.matrix[[inter.users[u] for u in customers]].astype(np.float32).tocsr()
        rows.data = np.log1p(rows.data)
        self.users = {u: i for i, u in enumerate(customers)}
        self.rows = rows
        self.n_items = n_items

    def score(self, user: str) -> FloatArray:
        return np.asarray(self.score_block([user])[0], dtype=np.float32)

    def score_block(self, users: Sequence[str]) -> npt.NDArray[np.floating]:
        out = np.zeros((len(users), self.n_items), dtype=np.float32)
        pos, rows = _rows_of(self.users, users)
        if len(rows):
            block = self.rows[rows] @ self.sim
            out[pos] = block.toarray() if sparse.issparse(block) else block
        return out


def _dense_cosine(co: FloatArray, *, neighbours: int | None, include_self: bool) -> FloatArray:
    norms = np.sqrt(np.diag(co)) + 1e-9
    sim: FloatArray = (co / norms[:, None] / norms[None, :]).astype(np.float32, copy=False)
    np.fill_diagonal(sim, 0.0)
    if neighbours is not None and neighbours < sim.shape[0]:
        cut = np.argpartition(-sim, neighbours, axis=1)[:, neighbours:]
        np.put_along_axis(sim, cut, 0.0, axis=1)
    if include_self:
        np.fill_diagonal(sim, 1.0)
    return sim


def _sparse_cosine(
    co: sparse.csr_matrix, *, neighbours: int | None, include_self: bool
) -> sparse.csr_matrix:
    """The same cosine as :func:`_dense_cosine` over the stored (co-bought) pairs only."""
    norms = (np.sqrt(co.diagonal()) + 1e-9).astype(np.float32)
    coo = co.tocoo()
    keep = coo.row != coo.col
    rows, cols = coo.row[keep], coo.col[keep]
    data = (coo.data[keep] / norms[rows] / norms[cols]).astype(np.float32)
    sim = sparse.csr_matrix((data, (rows, cols)), shape=co.shape)
    if neighbours is not None:
        sim = _top_per_row(sim, neighbours)
    if include_self:
        sim = (sim + sparse.identity(co.shape[0], dtype=np.float32, format="csr")).tocsr()
    return sim


def _top_per_row(sim: sparse.csr_matrix, n: int) -> sparse.csr_matrix:
    indptr, data = sim.indptr, sim.data
    keep = np.zeros(len(data), dtype=bool)
    for r in range(sim.shape[0]):
        lo, hi = indptr[r], indptr[r + 1]
        if hi - lo <= n:
            keep[lo:hi] = True
        else:
            keep[lo + np.argpartition(-data[lo:hi], n)[:n]] = True
    coo = sim.tocoo()
    return sparse.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=sim.shape)


class ALS:
    """Implicit-feedback ALS (``implicit``), one thread and a fixed seed for repeatability."""

    def __init__(
        self,
        inter: Interactions,
        *,
        factors: int = 64,
        iterations: int = 15,
        regularization: float = 0.05,
        alpha: float = 20.0,
        seed: int = 42,
    ) -> None:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=factors,
                iterations=iterations,
                regularization=regularization,
                alpha=alpha,
                random_state=seed,
                num_threads=1,
            )
            model.fit(inter.matrix.tocsr(), show_progress=False)
        self.user_factors: FloatArray = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors: FloatArray = np.asarray(model.item_factors, dtype=np.float32)
        self.inter = inter

    def score(self, user: str) -> FloatArray:
        return np.asarray(self.score_block([user])[0], dtype=np.float32)

    def score_block(self, users: Sequence[str]) -> npt.NDArray[np.floating]:
        out = np.zeros((len(users), self.item_factors.shape[0]), dtype=np.float32)
        pos, rows = _rows_of(self.inter.users, users)
        if len(rows):
            out[pos] = self.user_factors[rows] @ self.item_factors.T
        return out


class Content:
    """Nearest items to the user's profile vector (purchase-weighted, decayed).

    Similarities are accumulated in float64 and rounded to float32, so products with identical
    texts (category-only catalogs) score exactly alike whatever column of the blocked product
    they fall in, and the popularity tie-break orders them.
    """

    def __init__(self, item_vectors: FloatArray, profiles: Mapping[str, FloatArray]) -> None:
        self.item_vectors = item_vectors
        self.exact = item_vectors.astype(np.float64)
        self.profiles = profiles

    def score(self, user: str) -> FloatArray:
        return np.asarray(self.score_block([user])[0], dtype=np.float32)

    def score_block(self, users: Sequence[str]) -> npt.NDArray[np.floating]:
        out = np.zeros((len(users), self.item_vectors.shape[0]), dtype=np.float32)
        pos = [i for i, u in enumerate(users) if u in self.profiles]
        if pos:
            queries = np.stack([self.profiles[users[i]] for i in pos]).astype(np.float64)
            out[pos] = (queries @ self.exact.T).astype(np.float32)
        return out


def top_k(
    scores: FloatArray,
    *,
    k: int,
    exclude: npt.NDArray[np.bool_] | None,
    tiebreak: FloatArray,
) -> list[int]:
    """Indices of the k best scores; ties (e.g. all zeros) broken by ``tiebreak`` (popularity)."""
    block = top_k_block(
        scores[None, :],
        k=k,
        exclude=None if exclude is None else exclude[None, :],
        tiebreak=tiebreak,
    )
    return block[0]


def top_k_block(
    scores: npt.NDArray[np.floating],
    *,
    k: int,
    exclude: npt.NDArray[np.bool_] | None,
    tiebreak: FloatArray,
) -> list[list[int]]:
    """Per row, the indices of the k best scores (best first), excluded cells never chosen."""
    s = scores.astype(np.float64) + 1e-9 * tiebreak / (float(tiebreak.max()) + 1e-9)
    if exclude is not None:
        s[exclude] = -np.inf
    n = s.shape[1]
    idx = np.argpartition(-s, k, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (len(s), 1))
    part = np.take_along_axis(s, idx, axis=1)
    order = np.argsort(-part, axis=1)
    idx = np.take_along_axis(idx, order, axis=1)
    part = np.take_along_axis(part, order, axis=1)
    finite = np.isfinite(part)
    return [[int(i) for i in row[ok]] for row, ok in zip(idx, finite, strict=True)]
