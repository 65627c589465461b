"""qdrant-edge backend: Qdrant's Rust engine in-process, one shard directory per collection.

Facts this module is built around (qdrant-edge-py 0.9, measured here):

- A shard directory can be open once per process (its WAL is locked), so open shards live in a
  process-wide registry keyed by path; every ``EdgeStore`` over the same directory shares one.
- Boolean payloads never match a filter, so flags are stored as 0/1 integers (see base.py).
- Recommendation takes vectors, not ids: the examples' vectors are read first and combined
  with Qdrant's ``average_vector`` formula, the same one qdrant-client and the server use, so
  both backends rank alike and scores stay plain cosine similarities (RecommendBestScore
  returns transformed scores that cannot be compared with search scores or across backends).
- HNSW (and the int8 quantized copy) is built only by ``optimize()``, which blocks and holds
  the GIL for its whole duration; until then search is exact, and fast enough to serve from
  (docs/BENCHMARKS.md, search).
  So ``optimize()`` is an explicit step after bulk loads and in the nightly refresh, never
  per batch; segments smaller than ``indexing_threshold_kb`` stay plain even then.
- Which collection serves ``products`` (an encoder's space, :mod:`recsys.store.spaces`) is in
  ``spaces.json`` under the root, replaced atomically; its contents and a version counter are
  kept process-wide per root, so every store of the process follows a switch on its next call.
- Calls into the engine hold the GIL, so threads never run engine calls in parallel; the
  engine is nonetheless internally synchronised (concurrent reads and writes from threads
  were tried). A per-shard lock serialises writes so check-then-write sequences (set_payload
  of an existing point, index creation) are atomic.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import qdrant_edge as qe

from recsys.core.errors import StoreError
from recsys.store._common import missing_indexes
from recsys.store._edge_engine import _SCHEMAS, EdgeParams, _condition, _edge_config
from recsys.store.base import CheckedPoint, CollectionSpec, SparseVector, Vector, VectorStore
from recsys.store.conditions import Condition
from recsys.store.spaces import read_pointer_file

__all__ = ["EdgeParams", "EdgeStore"]

_SPEC_FILE = "recsys_spec.json"
_POINTER_FILE = "spaces.json"


#: Process-wide, so a shard closed and opened again never repeats a value.
_CHANGES = itertools.count(1)


@dataclass
class _OpenShard:
    shard: qe.EdgeShard
    path: Path
    lock: threading.RLock = field(default_factory=threading.RLock)
    refs: int = 0
    #: Sparse vectors the shard holds (a shard created before they were declared has none).
    sparse: frozenset[str] = frozenset()
    #: Taken from ``_CHANGES`` after every write that may remove or deactivate a point: a
    #: reader that saw the same value before and after has seen every such write since.
    changed: int = field(default_factory=lambda: next(_CHANGES))
    #: Closed and deleted by drop_collection(); stores still holding it leave it alone.
    dropped: bool = False


@dataclass
class _Pointers:
    """A root's ``spaces.json`` as this process knows it, and how often it was changed."""

    collections: dict[str, str]
    version: int = 0


_REGISTRY: dict[Path, _OpenShard] = {}
_REGISTRY_LOCK = threading.Lock()
_POINTERS: dict[Path, _Pointers] = {}


def _acquire(path: Path, spec: CollectionSpec, params: EdgeParams) -> _OpenShard:
    """The process-wide open shard at ``path``, created or loaded on first use."""
    path = path.resolve()
    with _REGISTRY_LOCK:
        opened = _REGISTRY.get(path)
        if opened is None:
            config = _edge_config(spec, params)
            sparse = frozenset(spec.sparse_vectors)
            try:
                if (path / "edge_config.json").exists():
                    try:
                        shard = qe.EdgeShard.load(str(path), config)
                    except Exception as exc:
                        if not sparse or "incompatible" not in str(exc).lower():
                            raise
                        # Created before it had sparse vectors: open it as it is; keyword
                        # evidence waits for a rebuild (has_sparse() is False meanwhile).
                        shard = qe.EdgeShard.load(
                            str(path), _edge_config(spec, params, sparse=False)
                        )
                        sparse = frozenset()
                else:
                    path.mkdir(parents=True, exist_ok=True)
                    shard = qe.EdgeShard.create(str(path), config)
            except Exception as exc:  # the binding raises bare Exception
                raise StoreError(f"cannot open qdrant-edge shard at {path}: {exc}") from exc
            opened = _REGISTRY[path] = _OpenShard(shard=shard, path=path, sparse=sparse)
        opened.refs += 1
        return opened


def _release(opened: _OpenShard) -> None:
    with _REGISTRY_LOCK:
        opened.refs -= 1
        if opened.refs > 0 or opened.dropped:
            return
        _REGISTRY.pop(opened.path, None)
        with opened.lock:
            opened.shard.flush()
            opened.shard.close()


class EdgeStore(VectorStore):
    """Collections as qdrant-edge shards under ``root`` (``<root>/<collection>/``)."""

    def __init__(self, root: Path, *, params: EdgeParams | None = None) -> None:
        super().__init__()
        self.root = Path(root)
        self.params = params or EdgeParams()
        self._shards: dict[str, _OpenShard] = {}
        self._known_pointers: _Pointers | None = None

    def __repr__(self) -> str:
        return f"EdgeStore({str(self.root)!r})"

    # --- collections -----------------------------------------------------------------------

    def _open_collection(self, spec: CollectionSpec) -> None:
        path = self.root / spec.name
        opened = _acquire(path, spec, self.params)
        try:
            self._check_spec_file(path, spec)
            with opened.lock:
                existing = opened.shard.info().payload_schema
                for name, kind in missing_indexes(spec, existing):
                    opened.shard.update(qe.UpdateOperation.create_field_index(name, _SCHEMAS[kind]))
        except BaseException:
            _release(opened)
            raise
        self._shards[spec.name] = opened

    @staticmethod
    def _check_spec_file(path: Path, spec: CollectionSpec) -> None:
        # The shard knows its vectors but not our key field; keep the spec beside it so a
        # reopen with a different key field fails loudly instead of mislabelling points.
        spec_file = path / _SPEC_FILE
        wanted = {"key_field": spec.key_field, "vectors": dict(spec.vectors)}
        if spec_file.exists():
            stored = json.loads(spec_file.read_text(encoding="utf-8"))
            if stored != wanted:
                raise StoreError(
                    f"collection {spec.name!r} at {path} was created as {stored}, not {wanted}"
                )
        else:
            spec_file.write_text(json.dumps(wanted), encoding="utf-8")

    # --- spaces (recsys.store.spaces) ---------------------------------------------------------

    def _pointers(self) -> _Pointers:
        """This root's pointers, read from ``spaces.json`` once per process (call locked);
        the store keeps the process's object, so the request path resolves no path."""
        if (known := self._known_pointers) is None:
            root = self.root.resolve()
            known = _POINTERS.get(root)
            if known is None:
                known = _POINTERS[root] = _Pointers(read_pointer_file(root / _POINTER_FILE))
            self._known_pointers = known
        return known

    def _read_pointers(self) -> dict[str, str]:
        with _REGISTRY_LOCK:
            return dict(self._pointers().collections)

    def _pointer_stamp(self) -> object:
        # Every request reads it: once known, the version (an int bumped under the lock) is
        # read without taking the process-wide lock.
        if (known := self._known_pointers) is not None:
            return known.version
        with _REGISTRY_LOCK:
            return self._pointers().version

    def _write_pointers(self, pointers: dict[str, str]) -> None:
        with _REGISTRY_LOCK:
            known = self._pointers()
            merged = {**known.collections, **pointers}
            self.root.mkdir(parents=True, exist_ok=True)
            # Written aside, flushed, then renamed over: a crash leaves the old file or the new.
            tmp = self.root / f".{_POINTER_FILE}.tmp"
            with tmp.open("w", encoding="utf-8") as f:
                json.dump({"collections": merged}, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(self.root / _POINTER_FILE)
            known.collections = merged
            known.version += 1

    def _existing_vectors(self, name: str) -> dict[str, int] | None:
        spec_file = self.root / name / _SPEC_FILE
        if not spec_file.is_file():
            return None
        vectors = json.loads(spec_file.read_text(encoding="utf-8")).get("vectors", {})
        return {str(k): int(v) for k, v in vectors.items()}

    def _list_collections(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return [p.name for p in self.root.iterdir() if (p / _SPEC_FILE).is_file()]

    def _drop_collection(self, name: str) -> None:
        self._shards.pop(name, None)
        path = (self.root / name).resolve()
        with _REGISTRY_LOCK:
            opened = _REGISTRY.pop(path, None)
            if opened is not None:
                opened.dropped = True
                with opened.lock:
                    opened.shard.close()
        if path.is_dir():
            shutil.rmtree(path)

    def _shard(self, spec: CollectionSpec) -> _OpenShard:
        return self._shards[spec.name]

    def _sparse_names(self, collection: str) -> frozenset[str]:
        return self._shards[collection].sparse

    # --- writes ----------------------------------------------------------------------------

    def _upsert(self, spec: CollectionSpec, points: Sequence[CheckedPoint]) -> None:
        edge_points = []
        for p in points:
            named: dict[str, Any] = dict(p.vectors)
            for name, sv in p.sparse.items():
                named[name] = qe.SparseVector(list(sv.indices), list(sv.values))
            # The binding takes numpy arrays as they are; its stub only names lists.
            edge_points.append(qe.Point(p.id, cast(Any, named), p.payload))
        opened = self._shard(spec)
        with opened.lock:
            opened.shard.update(qe.UpdateOperation.upsert_points(edge_points))
            opened.changed = next(_CHANGES)  # a replaced point may be inactive now

    def _set_payload(self, spec: CollectionSpec, pid: str, payload: dict[str, Any]) -> bool:
        opened = self._shard(spec)
        # Under the shard's write lock, so the point cannot vanish between check and write.
        with opened.lock:
            if not opened.shard.retrieve([pid], False, False):
                return False
            opened.shard.update(qe.UpdateOperation.set_payload([pid], payload))
            opened.changed = next(_CHANGES)
        return True

    def _delete(self, spec: CollectionSpec, pids: Sequence[str]) -> None:
        opened = self._shard(spec)
        with opened.lock:
            opened.shard.update(qe.UpdateOperation.delete_points(list(pids)))
            opened.changed = next(_CHANGES)

    def change_mark(self, collection: str) -> object | None:
        """The shard's last removal-or-replacement mark: the shard is shared by every store of
        the process over this directory, so the mark covers every function's writes."""
        return self._shard(self._spec(collection)).changed

    # --- reads -----------------------------------------------------------------------------

    def _retrieve(
        self,
        spec: CollectionSpec,
        pids: Sequence[str],
        with_vectors: bool | list[str],
        payload: list[str] | None,
    ) -> Any:
        # The binding builds a Python object for every float and field it returns, holding
        # the GIL: only what was asked for is returned.
        return self._shard(spec).shard.retrieve(
            list(pids), True if payload is None else payload, with_vectors
        )

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
    ) -> Any:
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(cast(Any, query), using=using),
            filter=flt,
            with_payload=True if payload is None else payload,
            with_vector=with_vectors,
            params=qe.SearchParams(
                hnsw_ef=max(self.params.hnsw_ef, limit),
                # Rescore the int8 shortlist with the float vectors: exact cosine scores,
                # comparable with the unquantized segments and with the other backend.
                quantization=qe.QuantizationSearchParams(rescore=True, oversampling=2.0),
            ),
        )
        return self._shard(spec).shard.query(request)

    def _search_sparse(
        self,
        spec: CollectionSpec,
        vectors: Sequence[SparseVector],
        *,
        using: str,
        limit: int,
        flt: Any | None,
    ) -> list[Sequence[Any]]:
        requests = [
            qe.QueryRequest(
                limit=limit,
                query=qe.Query.Nearest(
                    qe.SparseVector(list(v.indices), list(v.values)), using=using
                ),
                filter=flt,
                with_payload=True,
                with_vector=False,
            )
            for v in vectors
        ]
        return list(self._shard(spec).shard.query_batch(qe.QueryBatchRequest(requests)))

    def _facet(
        self, spec: CollectionSpec, key: str, *, limit: int, flt: Any | None
    ) -> list[tuple[Any, int]]:
        request = qe.FacetRequest(key=key, limit=limit, exact=True, filter=flt)
        response = self._shard(spec).shard.facet(request)
        return [(hit.value, int(hit.count)) for hit in response.hits]

    def _count(self, spec: CollectionSpec, flt: Any | None) -> int:
        return int(self._shard(spec).shard.count(qe.CountRequest(exact=True, filter=flt)))

    def _scroll_page(
        self,
        spec: CollectionSpec,
        flt: Any | None,
        *,
        limit: int,
        offset: Any,
        with_vectors: bool | list[str],
    ) -> tuple[Any, Any]:
        request = qe.ScrollRequest(
            offset=offset, limit=limit, filter=flt, with_payload=True, with_vector=with_vectors
        )
        points, next_offset = self._shard(spec).shard.scroll(request)
        return points, next_offset

    def _native_filter(self, must: Sequence[Condition], exclude_ids: Sequence[str]) -> Any:
        must_not: list[Any] | None = [qe.HasIdCondition(set(exclude_ids))] if exclude_ids else None
        return qe.Filter(must=[_condition(c) for c in must] or None, must_not=must_not)

    # --- maintenance -----------------------------------------------------------------------

    def optimize(self) -> None:
        """Build HNSW and quantized vectors for segments above the indexing threshold.

        Blocks, and holds the GIL for its whole duration (every thread of the process waits):
        call it after bulk loads and from the nightly refresh, not on the serving path.
        """
        for opened in self._live_shards():
            with opened.lock:
                opened.shard.optimize()

    def info(self, collection: str) -> dict[str, int]:
        """Points, segments and HNSW-indexed vectors of ``collection`` (for ops and benches)."""
        info = self._shard(self._spec(collection)).shard.info()
        return {
            "points": int(info.points_count),
            "segments": int(info.segments_count),
            "indexed_vectors": int(info.indexed_vectors_count),
        }

    def flush(self) -> None:
        """Persist pending writes now (the WAL already makes them durable)."""
        for opened in self._live_shards():
            with opened.lock:
                opened.shard.flush()

    def _live_shards(self) -> list[_OpenShard]:
        """This store's open shards, less those dropped since."""
        return [opened for opened in self._shards.values() if not opened.dropped]

    def _close(self) -> None:
        shards, self._shards = list(self._shards.values()), {}
        for opened in shards:
            _release(opened)
