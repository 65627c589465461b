"""qdrant-client backend: a Qdrant server or cluster by URL, or qdrant-client's local mode.

Local mode (``:memory:`` or a directory) is exact brute force in Python — seconds per
filtered search at 100k points (docs/BENCHMARKS.md, search) — so it serves contract tests and
tiny catalogs; real
deployments point ``qdrant_url`` at a server. Local mode ignores payload indexes and search
params (and warns when given them), so neither is sent to it; it is not thread-safe either,
so its calls are serialised by a lock.

Which collection serves ``products`` (an encoder's space, :mod:`recsys.store.spaces`) is a
Qdrant alias of that name: a switch moves every alias in one ``update_collection_aliases``
call, which the server applies atomically, and each store re-reads the aliases at most every
``follow_every_s`` seconds (so a switch reaches every process within that time; the old
collections must outlive it). A plain collection of the logical name (created before spaces)
cannot coexist with its alias: the switch deletes it just before the alias is made.

Recommendation uses the server's ``average_vector`` strategy with point ids as examples
(the server excludes the examples itself); qdrant-edge reproduces the same formula.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from recsys.core.errors import StoreError
from recsys.store._common import missing_indexes
from recsys.store._qdrant_client import QdrantClient
from recsys.store._qdrant_client import models as qm
from recsys.store.base import (
    CheckedPoint,
    CollectionSpec,
    Record,
    SparseVector,
    Vector,
    VectorStore,
    point_id,
)
from recsys.store.conditions import AnyOf, Between, Condition, Equals

_SCHEMAS = {
    "keyword": qm.PayloadSchemaType.KEYWORD,
    "float": qm.PayloadSchemaType.FLOAT,
    "integer": qm.PayloadSchemaType.INTEGER,
    "datetime": qm.PayloadSchemaType.DATETIME,
}


def _client_for(location: str, *, api_key: str | None, timeout: int) -> tuple[QdrantClient, bool]:
    """The client for ``location`` and whether it runs in local (embedded Python) mode."""
    if location.startswith(("http://", "https://")):
        # No version probe at construction: it is one more round trip on every Lambda cold
        # start; the price is losing qdrant-client's warning on a client/server mismatch.
        client = QdrantClient(
            url=location, api_key=api_key, timeout=timeout, check_compatibility=False
        )
        return client, False
    if location == ":memory:":
        return QdrantClient(location=":memory:"), True
    # The lock below serialises access, so sqlite may be used from the serving threads.
    return QdrantClient(path=location, force_disable_check_same_thread=True), True


def _condition(c: Condition) -> qm.Condition:
    if isinstance(c, AnyOf):
        return qm.FieldCondition(key=c.field, match=qm.MatchAny(any=list(c.values)))
    if isinstance(c, Between):
        return qm.FieldCondition(key=c.field, range=qm.Range(gte=c.gte, lte=c.lte))
    if isinstance(c, Equals):
        return qm.FieldCondition(key=c.field, match=qm.MatchValue(value=c.value))
    return qm.Filter(should=[_condition(o) for o in c.options])


@dataclass(frozen=True)
class ClusterParams:
    """How a server or cluster lays out a new collection (docs/SCALE.md). ``None`` leaves the
    server's default; local mode (``:memory:`` or a path) has one node and ignores them."""

    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None
    #: Full-precision vectors on disk (memory-mapped); the int8 copy searched first stays in
    #: RAM, so only rescoring reads the disk.
    on_disk_vectors: bool = False
    on_disk_payload: bool = False


class QdrantStore(VectorStore):
    """Collections in Qdrant reached through qdrant-client."""

    def __init__(
        self,
        location: str,
        *,
        api_key: str | None = None,
        hnsw_m: int = 16,
        hnsw_ef_construct: int = 100,
        hnsw_ef: int = 128,
        timeout: int = 30,
        cluster: ClusterParams | None = None,
        follow_every_s: float = 5.0,
    ) -> None:
        super().__init__()
        try:
            self.client, self.local = _client_for(location, api_key=api_key, timeout=timeout)
        except Exception as exc:
            raise StoreError(f"cannot open Qdrant at {location!r}: {exc}") from exc
        self.location = location
        self.hnsw_m = hnsw_m
        self.hnsw_ef_construct = hnsw_ef_construct
        self.hnsw_ef = hnsw_ef
        self.cluster = cluster or ClusterParams()
        self.follow_every_s = max(follow_every_s, 1e-3)
        #: Sparse vectors each open collection holds (one created before them has none).
        self._sparse: dict[str, frozenset[str]] = {}
        # The server client is thread-safe; local mode mutates Python dicts and sqlite.
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self.local else contextlib.nullcontext()
        )

    def __repr__(self) -> str:
        return f"QdrantStore({self.location!r})"

    # --- collections -----------------------------------------------------------------------

    def collection_config(self, spec: CollectionSpec) -> dict[str, Any]:
        """The arguments ``create_collection`` gets for ``spec``: vectors (int8 scalar
        quantization kept in RAM when the spec quantizes), HNSW, sparse vectors and, on a
        server, the cluster layout."""
        quantization = (
            qm.ScalarQuantization(
                scalar=qm.ScalarQuantizationConfig(
                    type=qm.ScalarType.INT8, quantile=0.99, always_ram=True
                )
            )
            if spec.quantize
            else None
        )
        cluster = self.cluster
        config: dict[str, Any] = {
            "vectors_config": {
                name: qm.VectorParams(
                    size=size,
                    distance=qm.Distance.COSINE,
                    quantization_config=quantization,
                    on_disk=cluster.on_disk_vectors or None,
                )
                for name, size in spec.vectors.items()
            },
            "hnsw_config": qm.HnswConfigDiff(m=self.hnsw_m, ef_construct=self.hnsw_ef_construct),
            # IDF from the collection's own counts at query time: BM25 over BM25 term weights.
            "sparse_vectors_config": {
                name: qm.SparseVectorParams(modifier=qm.Modifier.IDF)
                for name in spec.sparse_vectors
            }
            or None,
        }
        if not self.local:
            config.update(
                shard_number=cluster.shard_number,
                replication_factor=cluster.replication_factor,
                write_consistency_factor=cluster.write_consistency_factor,
                on_disk_payload=cluster.on_disk_payload or None,
            )
        return config

    def _open_collection(self, spec: CollectionSpec) -> None:
        with self._lock:
            if not self.client.collection_exists(spec.name):
                self.client.create_collection(spec.name, **self.collection_config(spec))
            else:
                self._check_vectors(spec)
            if not self.local:
                existing = self.client.get_collection(spec.name).payload_schema
                for name, kind in missing_indexes(spec, existing):
                    self.client.create_payload_index(
                        spec.name, name, field_schema=_SCHEMAS[kind], wait=True
                    )
            sparse = self.client.get_collection(spec.name).config.params.sparse_vectors or {}
            self._sparse[spec.name] = frozenset(spec.sparse_vectors) & frozenset(sparse)

    def _check_vectors(self, spec: CollectionSpec) -> None:
        params = self.client.get_collection(spec.name).config.params.vectors
        have = {name: p.size for name, p in params.items()} if isinstance(params, dict) else {}
        if have != dict(spec.vectors):
            raise StoreError(
                f"collection {spec.name!r} exists with vectors {have}, not {dict(spec.vectors)}"
            )

    def _sparse_names(self, collection: str) -> frozenset[str]:
        return self._sparse.get(collection, frozenset())

    # --- spaces (recsys.store.spaces): aliases -------------------------------------------------

    def _read_pointers(self) -> dict[str, str]:
        with self._lock:
            aliases = self.client.get_aliases().aliases
        return {a.alias_name: a.collection_name for a in aliases}

    def _pointer_stamp(self) -> object:
        # Aliases are re-read at most once per period (one round trip), not on every call.
        return int(time.monotonic() / self.follow_every_s)

    def _write_pointers(self, pointers: dict[str, str]) -> None:
        with self._lock:
            aliases = {a.alias_name for a in self.client.get_aliases().aliases}
            ops: list[qm.AliasOperations] = []
            for alias, collection in pointers.items():
                if alias == collection:
                    continue  # a plain collection serves its own name
                if alias in aliases:
                    ops.append(
                        qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=alias))
                    )
                elif self.client.collection_exists(alias):
                    # The plain collection of before spaces holds the name the alias needs.
                    self.client.delete_collection(alias)
                    self._sparse.pop(alias, None)
                ops.append(
                    qm.CreateAliasOperation(
                        create_alias=qm.CreateAlias(collection_name=collection, alias_name=alias)
                    )
                )
            if ops:
                self.client.update_collection_aliases(change_aliases_operations=ops)

    def _existing_vectors(self, name: str) -> dict[str, int] | None:
        with self._lock:
            if not self.client.collection_exists(name):
                return None
            params = self.client.get_collection(name).config.params.vectors
        return {n: int(p.size) for n, p in params.items()} if isinstance(params, dict) else {}

    def _list_collections(self) -> list[str]:
        with self._lock:
            return [c.name for c in self.client.get_collections().collections]

    def _drop_collection(self, name: str) -> None:
        with self._lock:
            self.client.delete_collection(name)
        self._sparse.pop(name, None)

    # --- writes ----------------------------------------------------------------------------

    def _upsert(self, spec: CollectionSpec, points: Sequence[CheckedPoint]) -> None:
        structs = []
        for p in points:
            named: dict[str, Any] = {name: vec.tolist() for name, vec in p.vectors.items()}
            for name, sv in p.sparse.items():
                named[name] = qm.SparseVector(indices=list(sv.indices), values=list(sv.values))
            structs.append(qm.PointStruct(id=p.id, vector=named, payload=p.payload))
        with self._lock:
            self.client.upsert(spec.name, points=structs, wait=True)

    def _set_payload(self, spec: CollectionSpec, pid: str, payload: dict[str, Any]) -> bool:
        with self._lock:
            if not self.client.retrieve(spec.name, [pid], with_payload=False):
                return False
            self.client.set_payload(spec.name, payload=payload, points=[pid], wait=True)
        return True

    def _delete(self, spec: CollectionSpec, pids: Sequence[str]) -> None:
        ids: list[qm.ExtendedPointId] = list(pids)
        with self._lock:
            self.client.delete(spec.name, points_selector=qm.PointIdsList(points=ids), wait=True)

    # --- reads -----------------------------------------------------------------------------

    def _retrieve(
        self,
        spec: CollectionSpec,
        pids: Sequence[str],
        with_vectors: bool | list[str],
        payload: list[str] | None,
    ) -> list[qm.Record]:
        with self._lock:
            return self.client.retrieve(
                spec.name,
                list(pids),
                with_payload=True if payload is None else payload,
                with_vectors=with_vectors,
            )

    def _search_params(self, limit: int) -> qm.SearchParams | None:
        if self.local:
            return None
        return qm.SearchParams(
            hnsw_ef=max(self.hnsw_ef, limit),
            quantization=qm.QuantizationSearchParams(rescore=True, oversampling=2.0),
        )

    def _query(
        self,
        spec: CollectionSpec,
        query: qm.Query | list[float],
        *,
        using: str,
        limit: int,
        flt: Any | None,
        with_vectors: bool | list[str],
        payload: list[str] | None = None,
    ) -> list[qm.ScoredPoint]:
        with self._lock:
            response = self.client.query_points(
                spec.name,
                query=query,
                using=using,
                query_filter=flt,
                limit=limit,
                with_payload=True if payload is None else payload,
                with_vectors=with_vectors,
                search_params=self._search_params(limit),
            )
        return response.points

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
    ) -> list[qm.ScoredPoint]:
        return self._query(
            spec,
            query.tolist(),
            using=using,
            limit=limit,
            flt=flt,
            with_vectors=with_vectors,
            payload=payload,
        )

    def _recommend(
        self,
        spec: CollectionSpec,
        positive: Sequence[Record],
        negative: Sequence[Record],
        *,
        using: str,
        limit: int,
        flt: Any | None,
    ) -> list[qm.ScoredPoint]:
        # The server's own average_vector recommendation by ids (only existing examples: it
        # refuses unknown ones); the base's default computes the same query client-side.
        query = qm.RecommendQuery(
            recommend=qm.RecommendInput(
                positive=[self._pid(spec, r) for r in positive],
                negative=[self._pid(spec, r) for r in negative] or None,
                strategy=qm.RecommendStrategy.AVERAGE_VECTOR,
            )
        )
        return self._query(spec, query, using=using, limit=limit, flt=flt, with_vectors=False)

    @staticmethod
    def _pid(spec: CollectionSpec, record: Record) -> qm.ExtendedPointId:
        return point_id(spec.id_space, record.key)

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
            qm.QueryRequest(
                query=qm.SparseVector(indices=list(v.indices), values=list(v.values)),
                using=using,
                filter=flt,
                limit=limit,
                with_payload=True,
            )
            for v in vectors
        ]
        with self._lock:
            responses = self.client.query_batch_points(spec.name, requests=requests)
        return [response.points for response in responses]

    def _facet(
        self, spec: CollectionSpec, key: str, *, limit: int, flt: Any | None
    ) -> list[tuple[Any, int]]:
        with self._lock:
            response = self.client.facet(
                spec.name, key=key, facet_filter=flt, limit=limit, exact=True
            )
        return [(hit.value, int(hit.count)) for hit in response.hits]

    def _count(self, spec: CollectionSpec, flt: Any | None) -> int:
        with self._lock:
            return int(self.client.count(spec.name, count_filter=flt, exact=True).count)

    def _scroll_page(
        self,
        spec: CollectionSpec,
        flt: Any | None,
        *,
        limit: int,
        offset: Any,
        with_vectors: bool | list[str],
    ) -> tuple[list[qm.Record], Any]:
        with self._lock:
            return self.client.scroll(
                spec.name,
                scroll_filter=flt,
                limit=limit,
                offset=offset,
                with_payload=True,
                with_vectors=with_vectors,
            )

    def _native_filter(self, must: Sequence[Condition], exclude_ids: Sequence[str]) -> qm.Filter:
        must_not: list[qm.Condition] = [qm.HasIdCondition(has_id=list(exclude_ids))]
        return qm.Filter(
            must=[_condition(c) for c in must] or None, must_not=must_not if exclude_ids else None
        )

    def _close(self) -> None:
        with self._lock:
            self.client.close()
