"""Baselines measured in the same run as the system: popularity, item-kNN, ALS, content-only.

Each is fitted on the training events only and scores every catalog item for a user; the
harness takes the top k after removing what the protocol excludes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from recsys.profiles.maths import ProfileEvent

FloatArray = npt.NDArray[np.float32]


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


class Popularity:
    """Distinct training buyers per item."""

    def __init__(self, inter: Interactions) -> None:
        binary = (inter.matrix > 0).astype(np.float32)
        self.scores: FloatArray = np.asarray(binary.sum(axis=0), dtype=np.float32).ravel()

    def score(self, user: str) -> FloatArray:
        return self.scores


class ItemKNN:
    """Item-based kNN on co-purchase: item–item cosine over identified customers' baskets.

    Rows are orders (invoices) of identified customers; anonymous sessions' baskets are left
    out, as are customer-level rows — both measured weaker here (docs/EVALUATION.md lists the
    variants). Every neighbour counts (a cut to the top 50 measured lower). A customer's score
    for an item sums its similarity to what they bought, weighted by log(1 + orders); an item's
    similarity to itself is 1, so under the *all* protocol the customer's own purchases compete
    (the repeat signal any item-kNN has unless told otherwise); under *new* they are excluded.
    """

    def __init__(
        self,
        inter: Interactions,
        events: Sequence[ProfileEvent],
        *,
        neighbours: int | None = None,
        include_self: bool = True,
    ) -> None:
        baskets: dict[str, set[int]] = {}
        for ev in events:
            col = inter.items.get(ev.product_id or "")
            if ev.type != "purchase" or col is None or not (ev.owner or "").startswith("u#"):
                continue
            key = ev.order_id or f"{ev.owner}#{int(ev.at // 86400)}"
            baskets.setdefault(key, set()).add(col)
        rows_idx = [b for b, cols in enumerate(baskets.values()) for _ in cols]
        cols_idx = [c for cols in baskets.values() for c in cols]
        basket_rows = sparse.csr_matrix(
            (np.ones(len(cols_idx), dtype=np.float32), (rows_idx, cols_idx)),
            shape=(len(baskets), len(inter.items)),
        )
        co = (basket_rows.T @ basket_rows).toarray().astype(np.float32)
        norms = np.sqrt(np.diag(co)) + 1e-9
        sim = co / norms[:, None] / norms[None, :]
        np.fill_diagonal(sim, 0.0)
        if neighbours is not None and neighbours < sim.shape[0]:
            cut = np.argpartition(-sim, neighbours, axis=1)[:, neighbours:]
            np.put_along_axis(sim, cut, 0.0, axis=1)
        if include_self:
            np.fill_diagonal(sim, 1.0)
        self.sim: FloatArray = sim
        customers = [u for u in inter.users if u.startswith("u#")] or list(inter.users)
        rows = inter.matrix[[inter.users[u] for u in customers]].astype(np.float32).tocsr()
        rows.data = np.log1p(rows.data)
        self.users = {u: i for i, u in enumerate(customers)}
        self.rows = rows

    def score(self, user: str) -> FloatArray:
        u = self.users.get(user)
        if u is None:
            return np.zeros(self.sim.shape[0], dtype=np.float32)
        scores: FloatArray = np.asarray(self.rows[u] @ self.sim, dtype=np.float32).ravel()
        return scores


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
        u = self.inter.users.get(user)
        if u is None:
            return np.zeros(self.item_factors.shape[0], dtype=np.float32)
        scores: FloatArray = self.item_factors @ self.user_factors[u]
        return scores


class Content:
    """Nearest items to the user's profile vector (purchase-weighted, decayed)."""

    def __init__(self, item_vectors: FloatArray, profiles: Mapping[str, FloatArray]) -> None:
        self.item_vectors = item_vectors
        self.profiles = profiles

    def score(self, user: str) -> FloatArray:
        p = self.profiles.get(user)
        if p is None:
            return np.zeros(self.item_vectors.shape[0], dtype=np.float32)
        return self.item_vectors @ p


def top_k(
    scores: FloatArray,
    *,
    k: int,
    exclude: npt.NDArray[np.bool_] | None,
    tiebreak: FloatArray,
) -> list[int]:
    """Indices of the k best scores; ties (e.g. all zeros) broken by ``tiebreak`` (popularity)."""
    s = scores.astype(np.float64) + 1e-9 * tiebreak / (float(tiebreak.max()) + 1e-9)
    if exclude is not None:
        s = np.where(exclude, -np.inf, s)
    idx = np.argpartition(-s, k)[:k] if k < len(s) else np.arange(len(s))
    return [int(i) for i in idx[np.argsort(-s[idx])] if np.isfinite(s[i])]
