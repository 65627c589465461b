"""Ranking sources over the vector store (the production side of :mod:`recsys.ranking.types`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recsys.store.base import Filters, Vector, VectorStore


class StoreItems:
    """Products in the ``products`` collection (vector "text")."""

    def __init__(self, store: VectorStore, collection: str) -> None:
        self.store = store
        self.collection = collection

    def nearest(
        self, vector: Vector, *, limit: int, filters: Filters | None
    ) -> list[tuple[str, float]]:
        found = self.store.search(
            self.collection, vector, using="text", limit=limit, filters=filters
        )
        return [(r.key, r.score) for r in found]

    def items(
        self, ids: Sequence[str], *, with_vectors: bool
    ) -> dict[str, tuple[Mapping[str, Any], Vector | None]]:
        if not ids:
            return {}
        found = self.store.retrieve(self.collection, list(ids), with_vectors=with_vectors)
        return {r.key: (r.payload, r.vectors.get("text")) for r in found}


class StoreUsers:
    """Profiles in the ``users`` collection (vector "long"), with their recent products."""

    def __init__(self, store: VectorStore, collection: str) -> None:
        self.store = store
        self.collection = collection

    def similar_users(
        self, vector: Vector, *, limit: int, exclude: str | None
    ) -> list[tuple[str, float, Sequence[str]]]:
        found = self.store.search(self.collection, vector, using="long", limit=limit + 1)
        out: list[tuple[str, float, Sequence[str]]] = []
        for r in found:
            if r.key == exclude or r.payload.get("kind", "user") != "user":
                continue
            recent = r.payload.get("recent_purchases") or r.payload.get("recent_product_ids") or []
            out.append((r.key, r.score, [str(p) for p in recent][:20]))
        return out[:limit]
