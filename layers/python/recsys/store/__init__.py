"""Vector store: one interface, backends chosen by settings (see ``open_store``).

``get_store()`` is the process-wide store the handlers, the local runtime and the CLI share;
it opens the backend once and makes sure the products and users collections exist. Tests
reset it with ``get_store.cache_clear()`` (or ``reset_store()``), which also closes it.
"""

from __future__ import annotations

import threading

from recsys.core.config import Settings, get_settings
from recsys.core.errors import ConfigError
from recsys.store._common import ExamplesNotFoundError
from recsys.store.base import (
    FLAG_FIELDS,
    CollectionSpec,
    Filters,
    PointIn,
    Record,
    VectorStore,
    point_id,
    products_spec,
    users_spec,
)


def open_store(settings: Settings) -> VectorStore:
    """A new store for ``settings.vector_backend`` (collections not ensured yet).

    ``edge`` keeps shards under ``settings.data_dir / "qdrant"``; ``qdrant`` needs
    ``settings.qdrant_url`` (an http(s) URL, ``:memory:`` or a local directory).
    """
    if settings.vector_backend == "edge":
        from recsys.store.edge import EdgeParams, EdgeStore

        params = EdgeParams(
            hnsw_m=settings.hnsw_m,
            hnsw_ef_construct=settings.hnsw_ef_construct,
            hnsw_ef=settings.hnsw_ef,
            full_scan_threshold_kb=settings.edge_full_scan_threshold_kb,
            indexing_threshold_kb=settings.edge_indexing_threshold_kb,
            indexing_threads=settings.edge_indexing_threads,
            search_threads=settings.edge_search_threads,
        )
        return EdgeStore(settings.data_dir / "qdrant", params=params)
    if not settings.qdrant_url:
        raise ConfigError(
            "vector_backend 'qdrant' needs RECSYS_QDRANT_URL (URL, ':memory:' or path)"
        )
    from recsys.core.aws import qdrant_api_key
    from recsys.store.qdrant import QdrantStore

    return QdrantStore(
        settings.qdrant_url,
        # On Lambda the key arrives as a Secrets Manager ARN (template.yaml), not in plain text.
        api_key=qdrant_api_key(settings),
        hnsw_m=settings.hnsw_m,
        hnsw_ef_construct=settings.hnsw_ef_construct,
        hnsw_ef=settings.hnsw_ef,
    )


def ensure_collections(store: VectorStore, settings: Settings) -> None:
    """Create the products and users collections (and their indexes) if absent."""
    store.ensure_collection(products_spec(settings.products_collection, settings.vector_size))
    store.ensure_collection(users_spec(settings.users_collection, settings.vector_size))


class _StoreCache:
    """Process-wide stores, one per distinct settings, each opened once."""

    def __init__(self) -> None:
        self._stores: dict[str, VectorStore] = {}
        self._lock = threading.Lock()

    def __call__(self, settings: Settings | None = None) -> VectorStore:
        """The store for ``settings`` (default ``get_settings()``), collections ensured."""
        wanted = settings or get_settings()
        key = wanted.model_dump_json()
        with self._lock:
            store = self._stores.get(key)
            if store is None:
                store = open_store(wanted)
                try:
                    ensure_collections(store, wanted)
                except BaseException:
                    store.close()
                    raise
                self._stores[key] = store
            return store

    def cache_clear(self) -> None:
        """Close every cached store; the next call opens afresh (tests, shutdown)."""
        with self._lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            store.close()


#: ``get_store(settings=None)``: the shared store of the process (see ``_StoreCache``).
#: Stores over the same edge directory share its shards, so distinct settings are safe.
get_store = _StoreCache()


def reset_store() -> None:
    """Close the cached stores so the next ``get_store()`` opens fresh ones."""
    get_store.cache_clear()


__all__ = [
    "FLAG_FIELDS",
    "CollectionSpec",
    "ExamplesNotFoundError",
    "Filters",
    "PointIn",
    "Record",
    "VectorStore",
    "ensure_collections",
    "get_store",
    "open_store",
    "point_id",
    "products_spec",
    "reset_store",
    "users_spec",
]
