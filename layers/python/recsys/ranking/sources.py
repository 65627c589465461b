"""Ranking sources over the vector store (the production side of :mod:`recsys.ranking.types`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recsys.profiles.schema import ProfilePayload
from recsys.store.base import Filters, Vector, VectorStore

#: The product vector ranking computes with (a second encoder's is for search only).
ITEM_VECTOR = "text"

#: What a similar user lends to ranking: whether the profile is a user's, and their products
#: (:attr:`ProfilePayload.bought_or_seen`); nothing else of the profile is read.
SIMILAR_USER_FIELDS = ("kind", "recent_purchases", "recent_product_ids")


class StoreItems:
    """Products in the ``products`` collection (vector "text").

    The nearest products come back as keys and scores only: ranking keeps a fraction of its
    candidates, and :meth:`items` reads payloads and vectors of those it keeps, each once, and
    of the products' vectors only "text" (the second encoder's, 512 floats a product, is
    search's)."""

    def __init__(self, store: VectorStore, collection: str) -> None:
        self.store = store
        self.collection = collection

    def nearest(
        self, vector: Vector, *, limit: int, filters: Filters | None
    ) -> list[tuple[str, float]]:
        found = self.store.search(
            self.collection, vector, using=ITEM_VECTOR, limit=limit, filters=filters, fields=()
        )
        return [(r.key, r.score) for r in found]

    def items(
        self, ids: Sequence[str], *, with_vectors: bool
    ) -> dict[str, tuple[Mapping[str, Any], Vector | None]]:
        if not ids:
            return {}
        found = self.store.retrieve(
            self.collection, ids, with_vectors=[ITEM_VECTOR] if with_vectors else False
        )
        return {r.key: (r.payload, r.vectors.get(ITEM_VECTOR)) for r in found}


class StoreUsers:
    """Profiles in the ``users`` collection (vector "long"), with their recent products."""

    def __init__(self, store: VectorStore, collection: str) -> None:
        self.store = store
        self.collection = collection

    def similar_users(
        self, vector: Vector, *, limit: int, exclude: str | None
    ) -> list[tuple[str, float, Sequence[str]]]:
        found = self.store.search(
            self.collection, vector, using="long", limit=limit + 1, fields=SIMILAR_USER_FIELDS
        )
        out: list[tuple[str, float, Sequence[str]]] = []
        for r in found:
            profile = ProfilePayload.read(r.payload)
            if r.key == exclude or not profile.is_user:
                continue
            out.append((r.key, r.score, [str(p) for p in profile.bought_or_seen][:20]))
        return out[:limit]
