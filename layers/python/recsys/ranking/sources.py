"""Ranking sources over the vector store (the production side of :mod:`recsys.ranking.types`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recsys.profiles.schema import ProfilePayload
from recsys.store.base import Filters, Vector, VectorStore


class StoreItems:
    """Products in the ``products`` collection (vector "text").

    One instance serves one request: what a search already returned (payload and vector) is
    kept, so the later read of candidates fetches only the products not seen yet.
    """

    def __init__(self, store: VectorStore, collection: str) -> None:
        self.store = store
        self.collection = collection
        self._seen: dict[str, tuple[Mapping[str, Any], Vector | None]] = {}

    def nearest(
        self, vector: Vector, *, limit: int, filters: Filters | None
    ) -> list[tuple[str, float]]:
        found = self.store.search(
            self.collection, vector, using="text", limit=limit, filters=filters, with_vectors=True
        )
        for r in found:
            self._seen[r.key] = (r.payload, r.vectors.get("text"))
        return [(r.key, r.score) for r in found]

    def items(
        self, ids: Sequence[str], *, with_vectors: bool
    ) -> dict[str, tuple[Mapping[str, Any], Vector | None]]:
        out = {k: self._seen[k] for k in ids if k in self._seen}
        missing = [k for k in ids if k not in out]
        if missing:
            found = self.store.retrieve(self.collection, missing, with_vectors=with_vectors)
            out.update({r.key: (r.payload, r.vectors.get("text")) for r in found})
        return out


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
            profile = ProfilePayload.read(r.payload)
            if r.key == exclude or not profile.is_user:
                continue
            out.append((r.key, r.score, [str(p) for p in profile.bought_or_seen][:20]))
        return out[:limit]
