"""Popularity among a customer's nearest neighbours by purchases (user-kNN), as a feature.

On a grocery the products a customer buys for the first time are mostly the shop's
bestsellers, so in *new* a bestseller list is hard to beat; what a bestseller list lacks is
which of them suit this customer. The customers who bought most of the same products say it:
for customer ``u`` with bought set ``S_u``, the similarity to every other customer ``v`` is the
cosine of their binary purchase vectors, ``|S_u ∩ S_v| / sqrt(|S_u| |S_v|)``; of the
:data:`NEIGHBOURS` most similar, the feature of product ``i`` is the share of their similarity
that bought ``i`` (``[0, 1]``; a product every neighbour bought scores 1). The similar-users
source of :mod:`recsys.ranking.features` finds neighbours by the profile's *text* vector
instead, which on a shop whose texts are only department / category / brand says little.

The index (who bought what, distinct products per customer, as integer codes) is computed
with the item statistics from the same events (:func:`recsys.ranking.item_stats.
compute_item_stats`) and stored with them, so the tuner's replay and serving read the same
neighbours. numpy only (the layer has no scipy): a request gathers the buyers of its
customer's products, counts overlaps with one ``bincount`` and sums the neighbours' products
with another.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["KNN_NAMES", "NEIGHBOURS", "PurchaseNeighbours", "UserScores"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: Neighbours whose purchases are summed.
NEIGHBOURS = 100
#: Shared products weighed by rarity (module doc).
IDF = False
#: The feature columns this module fills (appended to ``features.FEATURES``).
KNN_NAMES: tuple[str, ...] = ("user_knn",)


def _csr(rows: IntArray, cols: IntArray, n_rows: int) -> tuple[IntArray, IntArray]:
    """(indptr, indices) of the pairs grouped by row, columns in ascending order."""
    order = np.lexsort((cols, rows))
    counts = np.bincount(rows, minlength=n_rows)
    ptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, cols[order].astype(np.int64)


@dataclass
class PurchaseNeighbours:
    """Distinct (customer, product) purchase pairs, indexed both ways."""

    users: list[str]
    items: list[str]
    #: customer code and product code of each distinct pair
    pair_users: IntArray
    pair_items: IntArray
    k: int = NEIGHBOURS
    #: weigh shared products by their rarity, log(customers / buyers), in the cosine
    idf: bool | None = None  # None: :data:`IDF`
    user_code: dict[str, int] = field(init=False)
    item_code: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.user_code = {u: i for i, u in enumerate(self.users)}
        self.item_code = {p: i for i, p in enumerate(self.items)}
        pu = np.asarray(self.pair_users, dtype=np.int64)
        pi = np.asarray(self.pair_items, dtype=np.int64)
        self.pair_users, self.pair_items = pu, pi
        self.user_ptr, self.user_items = _csr(pu, pi, len(self.users))
        self.item_ptr, self.item_users = _csr(pi, pu, len(self.items))
        self.idf = IDF if self.idf is None else self.idf
        buyers = np.diff(self.item_ptr).astype(np.float64)
        n = max(len(self.users), 1)
        self.weight = (
            np.log(n / np.maximum(buyers, 1.0)) + 1e-3 if self.idf else np.ones(len(buyers))
        )
        # each customer's squared norm of their weighted purchase vector
        self.size = np.bincount(pu, weights=self.weight[pi] ** 2, minlength=len(self.users))

    @classmethod
    def from_pairs(
        cls, pairs: Iterable[tuple[str, str]], k: int = NEIGHBOURS, idf: bool | None = None
    ) -> PurchaseNeighbours:
        """From (customer, product) pairs (repeats are counted once)."""
        distinct = sorted(set(pairs))
        users = sorted({u for u, _ in distinct})
        items = sorted({p for _, p in distinct})
        uc = {u: i for i, u in enumerate(users)}
        ic = {p: i for i, p in enumerate(items)}
        return cls(
            users,
            items,
            np.asarray([uc[u] for u, _ in distinct], dtype=np.int64),
            np.asarray([ic[p] for _, p in distinct], dtype=np.int64),
            k,
            idf,
        )

    def scores(self, user_id: str | None, bought: Iterable[str]) -> FloatArray:
        """Per product code, the share of the neighbours' similarity that bought it (all
        zeros when the customer bought nothing the index knows)."""
        n_items = len(self.items)
        codes = sorted({c for c in (self.item_code.get(p) for p in bought) if c is not None})
        if not codes or not self.users:
            return np.zeros(n_items, dtype=np.float64)
        buyers = np.concatenate(
            [self.item_users[self.item_ptr[c] : self.item_ptr[c + 1]] for c in codes]
        )
        counts = self.item_ptr[np.asarray(codes) + 1] - self.item_ptr[np.asarray(codes)]
        w = self.weight[codes]
        overlap = np.bincount(buyers, weights=np.repeat(w**2, counts), minlength=len(self.users))
        me = self.user_code.get(user_id or "")
        if me is not None:
            overlap[me] = 0.0
        sim = overlap / np.sqrt(float((w**2).sum()) * np.maximum(self.size, 1e-9))
        k = min(self.k, int(np.count_nonzero(sim)))
        if k == 0:
            return np.zeros(n_items, dtype=np.float64)
        top = np.argpartition(-sim, k - 1)[:k]
        weights = sim[top]
        lengths = (self.user_ptr[top + 1] - self.user_ptr[top]).astype(np.int64)
        theirs = np.concatenate(
            [self.user_items[self.user_ptr[v] : self.user_ptr[v + 1]] for v in top]
        )
        acc = np.bincount(theirs, weights=np.repeat(weights, lengths), minlength=n_items)
        out: FloatArray = acc / float(weights.sum())
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "idf": self.idf,
            "users": self.users,
            "items": self.items,
            "pair_users": self.pair_users.tolist(),
            "pair_items": self.pair_items.tolist(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PurchaseNeighbours:
        return cls(
            [str(u) for u in data.get("users", [])],
            [str(p) for p in data.get("items", [])],
            np.asarray(data.get("pair_users", []), dtype=np.int64),
            np.asarray(data.get("pair_items", []), dtype=np.int64),
            int(data.get("k", NEIGHBOURS)),
            bool(data.get("idf", False)),
        )


class UserScores:
    """One request's neighbour scores, computed on first use (a pool asks twice: before and
    after serving's fetch)."""

    def __init__(
        self, index: PurchaseNeighbours | None, user_id: str | None, bought: Iterable[str]
    ):
        self.index, self.user_id, self.bought = index, user_id, list(bought)
        self._acc: FloatArray | None = None

    def column(self, ids: Sequence[str]) -> FloatArray:
        """The feature of each of ``ids`` (0 without an index or for unknown products)."""
        if self.index is None or not self.index.items:
            return np.zeros(len(ids), dtype=np.float64)
        if self._acc is None:
            self._acc = self.index.scores(self.user_id, self.bought)
        code = self.index.item_code
        rows = np.asarray([code.get(p, -1) for p in ids], dtype=np.int64)
        return (
            np.where(rows >= 0, self._acc[np.maximum(rows, 0)], 0.0) if len(rows) else np.zeros(0)
        )
