"""Vector store: one interface, backends chosen by settings (see ``open_store``).

A process holds one store, in its :class:`recsys.services.Services` (``services.store``,
opened by :func:`open_store_ready`); stores over the same qdrant-edge directory share its open
shards, so a test, a handler and the local stack can each open their own.
"""

from __future__ import annotations

from recsys.core.config import Settings
from recsys.core.errors import ConfigError, ExamplesNotFoundError
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
    from recsys.store.qdrant import ClusterParams, QdrantStore

    return QdrantStore(
        settings.qdrant_url,
        # On Lambda the key arrives as a Secrets Manager ARN (template.yaml), not in plain text.
        api_key=qdrant_api_key(settings),
        hnsw_m=settings.hnsw_m,
        hnsw_ef_construct=settings.hnsw_ef_construct,
        hnsw_ef=settings.hnsw_ef,
        cluster=ClusterParams(
            shard_number=settings.qdrant_shard_number,
            replication_factor=settings.qdrant_replication_factor,
            write_consistency_factor=settings.qdrant_write_consistency_factor,
            on_disk_vectors=settings.qdrant_on_disk_vectors,
            on_disk_payload=settings.qdrant_on_disk_payload,
        ),
    )


def ensure_collections(store: VectorStore, settings: Settings) -> None:
    """Open the products and users collections of the store's encoder space, binding their
    logical names (created, with their indexes, in the configured encoder's space when the
    store is new; :func:`recsys.store.spaces.open_spaces`). Idempotent."""
    from recsys.store.spaces import open_spaces

    open_spaces(store, settings)


def open_store_ready(settings: Settings) -> VectorStore:
    """A new store for ``settings`` with the products and users collections ensured (closed
    again if that fails). :class:`recsys.services.Services` holds the one a process uses."""
    store = open_store(settings)
    try:
        ensure_collections(store, settings)
    except BaseException:
        store.close()
        raise
    return store


__all__ = [
    "FLAG_FIELDS",
    "CollectionSpec",
    "ExamplesNotFoundError",
    "Filters",
    "PointIn",
    "Record",
    "VectorStore",
    "ensure_collections",
    "open_store",
    "open_store_ready",
    "point_id",
    "products_spec",
    "users_spec",
]
