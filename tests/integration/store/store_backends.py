"""Both store backends opened the same way for the store tests: qdrant-edge in a directory,
qdrant-client in ``:memory:`` mode, the products (and users) collections ensured."""

from __future__ import annotations

from pathlib import Path

from recsys.store import VectorStore, products_spec, users_spec
from recsys.store.edge import EdgeParams, EdgeStore
from recsys.store.qdrant import QdrantStore

BACKENDS = ("edge", "qdrant")


def open_backend(
    kind: str, root: Path, *, dim: int, users: bool = False, params: EdgeParams | None = None
) -> VectorStore:
    """A ``kind`` store ("edge" under ``root``, or "qdrant" in memory) with ``dim``-d
    collections ready."""
    store: VectorStore = (
        EdgeStore(root / "qdrant", params=params) if kind == "edge" else QdrantStore(":memory:")
    )
    store.ensure_collection(products_spec(size=dim))
    if users:
        store.ensure_collection(users_spec(size=dim))
    return store
