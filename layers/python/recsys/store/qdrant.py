"""qdrant-client backend: a Qdrant server or cluster by URL, or qdrant-client's local mode.

Local mode (``:memory:`` or a directory) is exact brute force in Python — about 1.5 s per
filtered search at 100k points — so it serves contract tests and tiny catalogs; real
deployments point ``qdrant_url`` at a server. Local mode ignores payload indexes and search
params (and warns when given them), so neither is sent to it; it is not thread-safe either,
so its calls are serialised by a lock.

Recommendation uses the server's ``average_vector`` strategy with point ids as examples
(the server excludes the examples itself); qdrant-edge reproduces the same formula.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.core.errors import ExamplesNotFoundError, NotFoundError, StoreError
from recsys.store._common import (
    brand_filter_keys,
    category_filter_keys,
    check_examples,
    check_filters,
    check_limit,
    check_point,
    check_query,
    check_sparse,
    check_sparse_vector,
    check_using,
    decode_payload,
    encode_payload,
    unique,
    unknown_collection,
)
from recsys.store._qdrant_client import QdrantClient
from recsys.store._qdrant_client import models as qm
from recsys.store.base import (
    FLAG_FIELDS,
    CollectionSpec,
    Filters,
    PointIn,
    Record,
    SparseVector,
    Vector,
    VectorStore,
    point_id,
)

_SCHEMAS = {
    "keyword_indexes": qm.PayloadSchemaType.KEYWORD,
    "float_indexes": qm.PayloadSchemaType.FLOAT,
    "integer_indexes": qm.PayloadSchemaType.INTEGER,
    "datetime_indexes": qm.PayloadSchemaType.DATETIME,
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


def _qdrant_filter(
    collection: str, filters: Filters | None, exclude: Sequence[str] = ()
) -> qm.Filter | None:
    must: list[qm.Condition] = []
    excluded = list(exclude)
    if filters is not None:
        check_filters(filters)
        if filters.categories:
            must.append(
                qm.Filter(
                    should=[
                        qm.FieldCondition(
                            key="category_keys",
                            match=qm.MatchAny(any=category_filter_keys(filters)),
                        ),
                        qm.FieldCondition(
                            key="category_levels", match=qm.MatchAny(any=list(filters.categories))
                        ),
                    ]
                )
            )
        if filters.brands:
            must.append(
                qm.Filter(
                    should=[
                        qm.FieldCondition(
                            key="brand_key", match=qm.MatchAny(any=brand_filter_keys(filters))
                        ),
                        qm.FieldCondition(key="brand", match=qm.MatchAny(any=list(filters.brands))),
                    ]
                )
            )
        if filters.price_min is not None or filters.price_max is not None:
            must.append(
                qm.FieldCondition(
                    key="price", range=qm.Range(gte=filters.price_min, lte=filters.price_max)
                )
            )
        for flag in FLAG_FIELDS:
            wanted = getattr(filters, flag)
            if wanted is not None:
                must.append(qm.FieldCondition(key=flag, match=qm.MatchValue(value=int(wanted))))
        excluded.extend(filters.exclude_keys)
    must_not: list[qm.Condition] = []
    if excluded:
        must_not.append(qm.HasIdCondition(has_id=[point_id(collection, k) for k in excluded]))
    if not must and not must_not:
        return None
    return qm.Filter(must=must or None, must_not=must_not or None)


def _vectors(raw: Any) -> dict[str, Vector]:
    if not isinstance(raw, dict):
        return {}
    # The sparse "keywords" vector is the store's own index, not one callers compute with.
    return {
        name: np.asarray(vec, dtype=np.float32)
        for name, vec in raw.items()
        if not isinstance(vec, qm.SparseVector)
    }


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
    ) -> None:
        try:
            self.client, self.local = _client_for(location, api_key=api_key, timeout=timeout)
        except Exception as exc:
            raise StoreError(f"cannot open Qdrant at {location!r}: {exc}") from exc
        self.location = location
        self.hnsw_m = hnsw_m
        self.hnsw_ef_construct = hnsw_ef_construct
        self.hnsw_ef = hnsw_ef
        self.cluster = cluster or ClusterParams()
        self._specs: dict[str, CollectionSpec] = {}
        #: Sparse vectors each open collection holds (one created before them has none).
        self._sparse: dict[str, frozenset[str]] = {}
        # The server client is thread-safe; local mode mutates Python dicts and sqlite.
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self.local else contextlib.nullcontext()
        )

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

    def ensure_collection(self, spec: CollectionSpec) -> None:
        with self._lock:
            if not self.client.collection_exists(spec.name):
                self.client.create_collection(spec.name, **self.collection_config(spec))
            else:
                self._check_vectors(spec)
            if not self.local:
                existing = set(self.client.get_collection(spec.name).payload_schema)
                for attr, schema in _SCHEMAS.items():
                    for name in getattr(spec, attr):
                        if name not in existing:
                            self.client.create_payload_index(
                                spec.name, name, field_schema=schema, wait=True
                            )
            sparse = self.client.get_collection(spec.name).config.params.sparse_vectors or {}
            self._sparse[spec.name] = frozenset(spec.sparse_vectors) & frozenset(sparse)
            self._specs[spec.name] = spec

    def _check_vectors(self, spec: CollectionSpec) -> None:
        params = self.client.get_collection(spec.name).config.params.vectors
        have = {name: p.size for name, p in params.items()} if isinstance(params, dict) else {}
        if have != dict(spec.vectors):
            raise StoreError(
                f"collection {spec.name!r} exists with vectors {have}, not {dict(spec.vectors)}"
            )

    def _spec(self, collection: str) -> CollectionSpec:
        try:
            return self._specs[collection]
        except KeyError:
            raise unknown_collection(collection, self._specs) from None

    # --- writes ----------------------------------------------------------------------------

    def upsert(self, collection: str, points: Sequence[PointIn]) -> None:
        spec = self._spec(collection)
        structs = []
        available = self._sparse.get(collection, frozenset())
        for point in points:
            vectors, payload = check_point(spec, point)
            named: dict[str, Any] = {name: vec.tolist() for name, vec in vectors.items()}
            for name, sv in check_sparse(spec, point, available=available).items():
                named[name] = qm.SparseVector(indices=list(sv.indices), values=list(sv.values))
            structs.append(
                qm.PointStruct(id=point_id(collection, point.key), vector=named, payload=payload)
            )
        if not structs:
            return
        with self._lock:
            self.client.upsert(collection, points=structs, wait=True)

    def set_payload(self, collection: str, key: str, payload: Mapping[str, Any]) -> None:
        spec = self._spec(collection)
        encoded = encode_payload(payload)
        if encoded.get(spec.key_field, key) != key:
            raise StoreError(f"set_payload cannot change {spec.key_field} of {key!r}")
        pid = point_id(collection, key)
        with self._lock:
            if not self.client.retrieve(collection, [pid], with_payload=False):
                raise NotFoundError(f"no point {key!r} in {collection!r}")
            self.client.set_payload(collection, payload=encoded, points=[pid], wait=True)

    def delete(self, collection: str, keys: Sequence[str]) -> None:
        self._spec(collection)
        if not keys:
            return
        ids: list[qm.ExtendedPointId] = [point_id(collection, k) for k in unique(keys)]
        with self._lock:
            self.client.delete(collection, points_selector=qm.PointIdsList(points=ids), wait=True)

    # --- reads -----------------------------------------------------------------------------

    def _record(self, spec: CollectionSpec, point: Any, *, score: float = 0.0) -> Record:
        payload = decode_payload(point.payload)
        return Record(
            key=str(payload.get(spec.key_field, point.id)),
            payload=payload,
            vectors=_vectors(point.vector),
            score=score,
        )

    def retrieve(
        self, collection: str, keys: Sequence[str], *, with_vectors: bool = False
    ) -> list[Record]:
        spec = self._spec(collection)
        wanted = unique(keys)
        if not wanted:
            return []
        with self._lock:
            found = self.client.retrieve(
                collection,
                [point_id(collection, k) for k in wanted],
                with_payload=True,
                with_vectors=with_vectors,
            )
        by_key = {r.key: r for r in (self._record(spec, p) for p in found)}
        return [by_key[k] for k in wanted if k in by_key]

    def _search_params(self, limit: int) -> qm.SearchParams | None:
        if self.local:
            return None
        return qm.SearchParams(
            hnsw_ef=max(self.hnsw_ef, limit),
            quantization=qm.QuantizationSearchParams(rescore=True, oversampling=2.0),
        )

    def _query(
        self,
        collection: str,
        query: qm.Query | list[float],
        *,
        using: str,
        limit: int,
        flt: qm.Filter | None,
        with_vectors: bool,
    ) -> list[Record]:
        spec = self._spec(collection)
        check_limit(limit)
        with self._lock:
            response = self.client.query_points(
                collection,
                query=query,
                using=using,
                query_filter=flt,
                limit=limit,
                with_payload=True,
                with_vectors=with_vectors,
                search_params=self._search_params(limit),
            )
        return [self._record(spec, p, score=float(p.score)) for p in response.points]

    def search(
        self,
        collection: str,
        vector: Vector,
        *,
        using: str,
        limit: int,
        filters: Filters | None = None,
        with_vectors: bool = False,
    ) -> list[Record]:
        spec = self._spec(collection)
        query = check_query(spec, using, vector)
        return self._query(
            collection,
            query.tolist(),
            using=using,
            limit=limit,
            flt=_qdrant_filter(collection, filters),
            with_vectors=with_vectors,
        )

    def recommend(
        self,
        collection: str,
        *,
        positive: Sequence[str],
        negative: Sequence[str] = (),
        using: str,
        limit: int,
        filters: Filters | None = None,
    ) -> list[Record]:
        spec = self._spec(collection)
        check_using(spec, using)
        check_examples(positive)
        # Qdrant refuses unknown example ids; keep the ones that exist, as qdrant-edge does.
        pos = [
            r.key
            for r in self.retrieve(collection, positive, with_vectors=True)
            if using in r.vectors
        ]
        if not pos:
            raise ExamplesNotFoundError(collection, unique(positive))
        neg = [
            r.key
            for r in self.retrieve(collection, negative, with_vectors=True)
            if using in r.vectors
        ]
        query = qm.RecommendQuery(
            recommend=qm.RecommendInput(
                positive=[point_id(collection, k) for k in pos],
                negative=[point_id(collection, k) for k in neg] or None,
                strategy=qm.RecommendStrategy.AVERAGE_VECTOR,
            )
        )
        return self._query(
            collection,
            query,
            using=using,
            limit=limit,
            flt=_qdrant_filter(collection, filters, exclude=[*positive, *negative]),
            with_vectors=False,
        )

    def has_sparse(self, collection: str, name: str) -> bool:
        self._spec(collection)
        return name in self._sparse.get(collection, frozenset())

    def _check_sparse_query(
        self, collection: str, vector: SparseVector, *, using: str, limit: int
    ) -> CollectionSpec:
        spec = self._spec(collection)
        check_limit(limit)
        if not self.has_sparse(collection, using):
            raise StoreError(f"collection {collection!r} has no sparse vector {using!r}")
        check_sparse_vector(vector, key="<query>", name=using)
        return spec

    def search_sparse(
        self,
        collection: str,
        vector: SparseVector,
        *,
        using: str,
        limit: int,
        filters: Filters | None = None,
    ) -> list[Record]:
        spec = self._check_sparse_query(collection, vector, using=using, limit=limit)
        if not vector.indices:
            return []
        with self._lock:
            response = self.client.query_points(
                collection,
                query=qm.SparseVector(indices=list(vector.indices), values=list(vector.values)),
                using=using,
                query_filter=_qdrant_filter(collection, filters),
                limit=limit,
                with_payload=True,
            )
        return [self._record(spec, p, score=float(p.score)) for p in response.points]

    def search_sparse_batch(
        self, collection: str, vectors: Sequence[SparseVector], *, using: str, limit: int
    ) -> list[list[Record]]:
        spec = self._spec(collection)
        for vector in vectors:
            self._check_sparse_query(collection, vector, using=using, limit=limit)
        wanted = [i for i, v in enumerate(vectors) if v.indices]
        out: list[list[Record]] = [[] for _ in vectors]
        if not wanted:
            return out
        requests = [
            qm.QueryRequest(
                query=qm.SparseVector(
                    indices=list(vectors[i].indices), values=list(vectors[i].values)
                ),
                using=using,
                limit=limit,
                with_payload=True,
            )
            for i in wanted
        ]
        with self._lock:
            responses = self.client.query_batch_points(collection, requests=requests)
        for i, response in zip(wanted, responses, strict=True):
            out[i] = [self._record(spec, p, score=float(p.score)) for p in response.points]
        return out

    def facet(
        self, collection: str, key: str, *, limit: int, filters: Filters | None = None
    ) -> list[tuple[Any, int]]:
        self._spec(collection)
        check_limit(limit)
        with self._lock:
            response = self.client.facet(
                collection,
                key=key,
                facet_filter=_qdrant_filter(collection, filters),
                limit=limit,
                exact=True,
            )
        return [(hit.value, int(hit.count)) for hit in response.hits]

    def count(self, collection: str, filters: Filters | None = None) -> int:
        self._spec(collection)
        with self._lock:
            result = self.client.count(
                collection, count_filter=_qdrant_filter(collection, filters), exact=True
            )
        return int(result.count)

    def scroll(
        self,
        collection: str,
        *,
        filters: Filters | None = None,
        batch_size: int = 256,
        with_vectors: bool = False,
    ) -> Iterator[Record]:
        spec = self._spec(collection)
        check_limit(batch_size)
        flt = _qdrant_filter(collection, filters)
        offset: Any = None
        while True:
            with self._lock:
                points, offset = self.client.scroll(
                    collection,
                    scroll_filter=flt,
                    limit=batch_size,
                    offset=offset,
                    with_payload=True,
                    with_vectors=with_vectors,
                )
            for point in points:
                yield self._record(spec, point)
            if offset is None:
                return

    def close(self) -> None:
        with self._lock:
            self.client.close()
