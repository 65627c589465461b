"""What each vector-store backend implements (qdrant-edge in process, Qdrant by URL through
qdrant-client): the engine-level hooks :class:`recsys.store.base.VectorStore` builds its
checked, key-addressed operations on. Everything here works on point ids and engine objects;
keys, validation, space checks and records are the base class's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recsys.store._common import average_query
from recsys.store.bindings import SpaceBindings
from recsys.store.conditions import Condition
from recsys.store.model import (
    CheckedPoint,
    CollectionSpec,
    Record,
    SparseVector,
    StoredPoint,
    Vector,
)

__all__ = ["StoreBackend"]


class StoreBackend(SpaceBindings):
    """The hooks a backend overrides; each raises NotImplementedError here."""

    def _open_collection(self, spec: CollectionSpec) -> None:
        """Create or open ``spec``'s collection and its missing payload indexes; raise a
        StoreError when what exists contradicts ``spec``."""
        raise NotImplementedError

    def _sparse_names(self, collection: str) -> frozenset[str]:
        """The sparse vectors the open collection really holds."""
        raise NotImplementedError

    def _upsert(self, spec: CollectionSpec, points: Sequence[CheckedPoint]) -> None:
        raise NotImplementedError

    def _set_payload(self, spec: CollectionSpec, pid: str, payload: dict[str, Any]) -> bool:
        """Merge ``payload`` into point ``pid``; False (and nothing written) when it is absent."""
        raise NotImplementedError

    def _delete(self, spec: CollectionSpec, pids: Sequence[str]) -> None:
        raise NotImplementedError

    def _retrieve(
        self,
        spec: CollectionSpec,
        pids: Sequence[str],
        with_vectors: bool | list[str],
        payload: list[str] | None,
    ) -> Sequence[StoredPoint]:
        """The existing points among ``pids`` (any order), with the payload fields ``payload``
        (None: all) and the vectors ``with_vectors`` (all, none or those named)."""
        raise NotImplementedError

    def _search(
        self,
        spec: CollectionSpec,
        query: Vector,
        *,
        using: str,
        limit: int,
        flt: Any | None,
        with_vectors: bool | list[str],
        payload: list[str] | None = None,
    ) -> Sequence[Any]:
        """The nearest points to ``query`` by the named vector, each with a ``score``, the
        payload fields ``payload`` (None: all) and the vectors ``with_vectors``."""
        raise NotImplementedError

    def _recommend(
        self,
        spec: CollectionSpec,
        positive: Sequence[Record],
        negative: Sequence[Record],
        *,
        using: str,
        limit: int,
        flt: Any | None,
    ) -> Sequence[Any]:
        """Nearest to the examples (read with their vectors): by default the nearest to their
        ``average_vector`` query, which is what the Qdrant server computes too."""
        query = average_query(
            [r.vectors[using] for r in positive], [r.vectors[using] for r in negative]
        )
        return self._search(spec, query, using=using, limit=limit, flt=flt, with_vectors=False)

    def _search_sparse(
        self,
        spec: CollectionSpec,
        vectors: Sequence[SparseVector],
        *,
        using: str,
        limit: int,
        flt: Any | None,
    ) -> list[Sequence[Any]]:
        """For each (non-empty) sparse query, its best points, each with a ``score``."""
        raise NotImplementedError

    def _facet(
        self, spec: CollectionSpec, key: str, *, limit: int, flt: Any | None
    ) -> list[tuple[Any, int]]:
        raise NotImplementedError

    def _count(self, spec: CollectionSpec, flt: Any | None) -> int:
        raise NotImplementedError

    def _scroll_page(
        self,
        spec: CollectionSpec,
        flt: Any | None,
        *,
        limit: int,
        offset: Any,
        with_vectors: bool | list[str],
    ) -> tuple[Sequence[StoredPoint], Any]:
        """One page of points from ``offset`` (None: the start) and the next offset (None at
        the end)."""
        raise NotImplementedError

    def _native_filter(self, must: Sequence[Condition], exclude_ids: Sequence[str]) -> Any:
        """The engine's filter: every condition of ``must`` and none of the point ids."""
        raise NotImplementedError

    def _close(self) -> None:
        """Release the engine (flush files, close connections)."""
