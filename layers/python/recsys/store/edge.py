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
  the GIL for its whole duration; until then search is exact and fast enough (~9 ms at 100k).
  So ``optimize()`` is an explicit step after bulk loads and in the nightly refresh, never
  per batch; segments smaller than ``indexing_threshold_kb`` stay plain even then.
- Calls into the engine hold the GIL, so threads never run engine calls in parallel; the
  engine is nonetheless internally synchronised (concurrent reads and writes from threads
  were tried). A per-shard lock serialises writes so check-then-write sequences (set_payload
  of an existing point, index creation) are atomic.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import qdrant_edge as qe

from recsys.core.errors import ExamplesNotFoundError, NotFoundError, StoreError
from recsys.store._common import (
    average_query,
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

_SPEC_FILE = "recsys_spec.json"


@dataclass(frozen=True)
class EdgeParams:
    """Engine tuning; defaults suit one shared machine (see docs/BENCHMARKS.md, search)."""

    hnsw_m: int = 16
    hnsw_ef_construct: int = 100
    #: ef at query time; 128 keeps recall ≈ exact for top-10 at 100k.
    hnsw_ef: int = 128
    #: Below this many KB of vectors a segment is scanned, not walked (≈ 6.6k × 384-d).
    full_scan_threshold_kb: int = 10_000
    #: optimize() builds HNSW only for segments above this many KB of vectors.
    indexing_threshold_kb: int = 10_000
    indexing_threads: int = 2
    #: None: one search thread per CPU.
    search_threads: int | None = None


@dataclass
class _OpenShard:
    shard: qe.EdgeShard
    path: Path
    lock: threading.RLock = field(default_factory=threading.RLock)
    refs: int = 0
    #: Sparse vectors the shard holds (a shard created before they were declared has none).
    sparse: frozenset[str] = frozenset()


_REGISTRY: dict[Path, _OpenShard] = {}
_REGISTRY_LOCK = threading.Lock()


def _edge_config(spec: CollectionSpec, params: EdgeParams, *, sparse: bool = True) -> qe.EdgeConfig:
    quantization = (
        qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=0.99, always_ram=True)
        if spec.quantize
        else None
    )
    return qe.EdgeConfig(
        vectors={
            name: qe.EdgeVectorParams(
                size=size, distance=qe.Distance.Cosine, quantization_config=quantization
            )
            for name, size in spec.vectors.items()
        },
        # IDF from the shard's own counts at query time: BM25 over BM25 term weights.
        sparse_vectors={
            name: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)
            for name in spec.sparse_vectors
        }
        if sparse and spec.sparse_vectors
        else None,
        hnsw_config=qe.HnswIndexConfig(
            m=params.hnsw_m,
            ef_construct=params.hnsw_ef_construct,
            full_scan_threshold=params.full_scan_threshold_kb,
            max_indexing_threads=params.indexing_threads,
        ),
        optimizers=qe.EdgeOptimizersConfig(indexing_threshold=params.indexing_threshold_kb),
        max_search_threads=params.search_threads,
    )


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
        if opened.refs > 0:
            return
        _REGISTRY.pop(opened.path, None)
        with opened.lock:
            opened.shard.flush()
            opened.shard.close()


_SCHEMAS = {
    "keyword_indexes": qe.PayloadSchemaType.Keyword,
    "float_indexes": qe.PayloadSchemaType.Float,
    "integer_indexes": qe.PayloadSchemaType.Integer,
    "datetime_indexes": qe.PayloadSchemaType.Datetime,
}


def _edge_filter(
    collection: str, filters: Filters | None, exclude: Sequence[str] = ()
) -> qe.Filter | None:
    """The engine filter for ``filters``, also excluding the keys in ``exclude``."""
    must: list[Any] = []
    excluded = list(exclude)
    if filters is not None:
        check_filters(filters)
        if filters.categories:
            must.append(
                qe.Filter(
                    should=[
                        qe.FieldCondition(
                            "category_keys", match=qe.MatchAny(category_filter_keys(filters))
                        ),
                        qe.FieldCondition(
                            "category_levels", match=qe.MatchAny(list(filters.categories))
                        ),
                    ]
                )
            )
        if filters.brands:
            must.append(
                qe.Filter(
                    should=[
                        qe.FieldCondition(
                            "brand_key", match=qe.MatchAny(brand_filter_keys(filters))
                        ),
                        qe.FieldCondition("brand", match=qe.MatchAny(list(filters.brands))),
                    ]
                )
            )
        if filters.price_min is not None or filters.price_max is not None:
            must.append(
                qe.FieldCondition(
                    "price", range=qe.RangeFloat(gte=filters.price_min, lte=filters.price_max)
                )
            )
        for flag in FLAG_FIELDS:
            wanted = getattr(filters, flag)
            if wanted is not None:
                must.append(qe.FieldCondition(flag, match=qe.MatchValue(int(wanted))))
        excluded.extend(filters.exclude_keys)
    must_not: list[Any] = []
    if excluded:
        must_not.append(qe.HasIdCondition({point_id(collection, key) for key in excluded}))
    if not must and not must_not:
        return None
    return qe.Filter(must=must or None, must_not=must_not or None)


def _vectors(raw: Any) -> dict[str, Vector]:
    """The dense vectors of a point (its sparse "keywords" vector is the store's own index)."""
    if not isinstance(raw, dict):
        return {}
    return {
        name: np.asarray(vec, dtype=np.float32)
        for name, vec in raw.items()
        if not isinstance(vec, qe.SparseVector)
    }


class EdgeStore(VectorStore):
    """Collections as qdrant-edge shards under ``root`` (``<root>/<collection>/``)."""

    def __init__(self, root: Path, *, params: EdgeParams | None = None) -> None:
        self.root = Path(root)
        self.params = params or EdgeParams()
        self._specs: dict[str, CollectionSpec] = {}
        self._shards: dict[str, _OpenShard] = {}
        self._lock = threading.Lock()
        self._closed = False

    # --- collections -----------------------------------------------------------------------

    def ensure_collection(self, spec: CollectionSpec) -> None:
        """Open (creating if absent) the shard of ``spec`` and its payload indexes."""
        with self._lock:
            if self._closed:
                raise StoreError("this EdgeStore is closed")
            if spec.name in self._shards:
                if self._specs[spec.name] != spec:
                    raise StoreError(f"collection {spec.name!r} is already open with another spec")
                return
            path = self.root / spec.name
            opened = _acquire(path, spec, self.params)
            try:
                self._check_spec_file(path, spec)
                with opened.lock:
                    existing = set(opened.shard.info().payload_schema)
                    for attr, schema in _SCHEMAS.items():
                        for name in getattr(spec, attr):
                            if name not in existing:
                                opened.shard.update(
                                    qe.UpdateOperation.create_field_index(name, schema)
                                )
            except BaseException:
                _release(opened)
                raise
            self._shards[spec.name] = opened
            self._specs[spec.name] = spec

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

    def _open(self, collection: str) -> tuple[CollectionSpec, _OpenShard]:
        if self._closed:
            raise StoreError(f"this EdgeStore over {self.root} is closed")
        try:
            return self._specs[collection], self._shards[collection]
        except KeyError:
            raise unknown_collection(collection, self._specs) from None

    # --- writes ----------------------------------------------------------------------------

    def upsert(self, collection: str, points: Sequence[PointIn]) -> None:
        spec, opened = self._open(collection)
        edge_points = []
        for point in points:
            vectors, payload = check_point(spec, point)
            named: dict[str, Any] = dict(vectors)
            for name, sv in check_sparse(spec, point, available=opened.sparse).items():
                named[name] = qe.SparseVector(list(sv.indices), list(sv.values))
            # The binding takes numpy arrays as they are; its stub only names lists.
            edge_points.append(qe.Point(point_id(collection, point.key), cast(Any, named), payload))
        if not edge_points:
            return
        with opened.lock:
            opened.shard.update(qe.UpdateOperation.upsert_points(edge_points))

    def set_payload(self, collection: str, key: str, payload: Mapping[str, Any]) -> None:
        spec, opened = self._open(collection)
        encoded = encode_payload(payload)
        if encoded.get(spec.key_field, key) != key:
            raise StoreError(f"set_payload cannot change {spec.key_field} of {key!r}")
        pid = point_id(collection, key)
        with opened.lock:
            if not opened.shard.retrieve([pid], False, False):
                raise NotFoundError(f"no point {key!r} in {collection!r}")
            opened.shard.update(qe.UpdateOperation.set_payload([pid], encoded))

    def delete(self, collection: str, keys: Sequence[str]) -> None:
        _, opened = self._open(collection)
        if not keys:
            return
        with opened.lock:
            opened.shard.update(
                qe.UpdateOperation.delete_points([point_id(collection, k) for k in unique(keys)])
            )

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
        spec, opened = self._open(collection)
        wanted = unique(keys)
        if not wanted:
            return []
        found = opened.shard.retrieve([point_id(collection, k) for k in wanted], True, with_vectors)
        by_key = {r.key: r for r in (self._record(spec, p) for p in found)}
        return [by_key[k] for k in wanted if k in by_key]

    def _query(
        self,
        collection: str,
        query: Vector,
        *,
        using: str,
        limit: int,
        flt: qe.Filter | None,
        with_vectors: bool,
    ) -> list[Record]:
        spec, opened = self._open(collection)
        check_using(spec, using)
        check_limit(limit)
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(cast(Any, query), using=using),
            filter=flt,
            with_payload=True,
            with_vector=with_vectors,
            params=qe.SearchParams(
                hnsw_ef=max(self.params.hnsw_ef, limit),
                # Rescore the int8 shortlist with the float vectors: exact cosine scores,
                # comparable with the unquantized segments and with the other backend.
                quantization=qe.QuantizationSearchParams(rescore=True, oversampling=2.0),
            ),
        )
        hits = opened.shard.query(request)
        return [self._record(spec, hit, score=float(hit.score)) for hit in hits]

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
        spec, _ = self._open(collection)
        query = check_query(spec, using, vector)
        return self._query(
            collection,
            query,
            using=using,
            limit=limit,
            flt=_edge_filter(collection, filters),
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
        spec, _ = self._open(collection)
        check_using(spec, using)
        check_examples(positive)
        pos = [
            r.vectors[using]
            for r in self.retrieve(collection, positive, with_vectors=True)
            if using in r.vectors
        ]
        if not pos:
            raise ExamplesNotFoundError(collection, unique(positive))
        neg = [
            r.vectors[using]
            for r in self.retrieve(collection, negative, with_vectors=True)
            if using in r.vectors
        ]
        return self._query(
            collection,
            average_query(pos, neg),
            using=using,
            limit=limit,
            flt=_edge_filter(collection, filters, exclude=[*positive, *negative]),
            with_vectors=False,
        )

    def has_sparse(self, collection: str, name: str) -> bool:
        _, opened = self._open(collection)
        return name in opened.sparse

    def _sparse_request(
        self, vector: SparseVector, *, using: str, limit: int, flt: qe.Filter | None
    ) -> qe.QueryRequest:
        return qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(
                qe.SparseVector(list(vector.indices), list(vector.values)), using=using
            ),
            filter=flt,
            with_payload=True,
            with_vector=False,
        )

    def _check_sparse_query(
        self, collection: str, vector: SparseVector, *, using: str, limit: int
    ) -> tuple[CollectionSpec, _OpenShard]:
        spec, opened = self._open(collection)
        check_limit(limit)
        if using not in opened.sparse:
            raise StoreError(f"collection {collection!r} has no sparse vector {using!r}")
        check_sparse_vector(vector, key="<query>", name=using)
        return spec, opened

    def search_sparse(
        self,
        collection: str,
        vector: SparseVector,
        *,
        using: str,
        limit: int,
        filters: Filters | None = None,
    ) -> list[Record]:
        spec, opened = self._check_sparse_query(collection, vector, using=using, limit=limit)
        if not vector.indices:
            return []
        request = self._sparse_request(
            vector, using=using, limit=limit, flt=_edge_filter(collection, filters)
        )
        return [self._record(spec, h, score=float(h.score)) for h in opened.shard.query(request)]

    def search_sparse_batch(
        self, collection: str, vectors: Sequence[SparseVector], *, using: str, limit: int
    ) -> list[list[Record]]:
        spec, opened = self._open(collection)
        for vector in vectors:
            self._check_sparse_query(collection, vector, using=using, limit=limit)
        wanted = [i for i, v in enumerate(vectors) if v.indices]
        out: list[list[Record]] = [[] for _ in vectors]
        if not wanted:
            return out
        batch = qe.QueryBatchRequest(
            [self._sparse_request(vectors[i], using=using, limit=limit, flt=None) for i in wanted]
        )
        for i, hits in zip(wanted, opened.shard.query_batch(batch), strict=True):
            out[i] = [self._record(spec, h, score=float(h.score)) for h in hits]
        return out

    def facet(
        self, collection: str, key: str, *, limit: int, filters: Filters | None = None
    ) -> list[tuple[Any, int]]:
        _, opened = self._open(collection)
        check_limit(limit)
        response = opened.shard.facet(
            qe.FacetRequest(
                key=key, limit=limit, exact=True, filter=_edge_filter(collection, filters)
            )
        )
        return [(hit.value, int(hit.count)) for hit in response.hits]

    def count(self, collection: str, filters: Filters | None = None) -> int:
        _, opened = self._open(collection)
        flt = _edge_filter(collection, filters)
        return int(opened.shard.count(qe.CountRequest(exact=True, filter=flt)))

    def scroll(
        self,
        collection: str,
        *,
        filters: Filters | None = None,
        batch_size: int = 256,
        with_vectors: bool = False,
    ) -> Iterator[Record]:
        spec, opened = self._open(collection)
        check_limit(batch_size)
        flt = _edge_filter(collection, filters)
        offset: Any = None
        while True:
            points, offset = opened.shard.scroll(
                qe.ScrollRequest(
                    offset=offset,
                    limit=batch_size,
                    filter=flt,
                    with_payload=True,
                    with_vector=with_vectors,
                )
            )
            for point in points:
                yield self._record(spec, point)
            if offset is None:
                return

    # --- maintenance -----------------------------------------------------------------------

    def optimize(self) -> None:
        """Build HNSW and quantized vectors for segments above the indexing threshold.

        Blocks, and holds the GIL for its whole duration (every thread of the process waits):
        call it after bulk loads and from the nightly refresh, not on the serving path.
        """
        for opened in list(self._shards.values()):
            with opened.lock:
                opened.shard.optimize()

    def info(self, collection: str) -> dict[str, int]:
        """Points, segments and HNSW-indexed vectors of ``collection`` (for ops and benches)."""
        _, opened = self._open(collection)
        info = opened.shard.info()
        return {
            "points": int(info.points_count),
            "segments": int(info.segments_count),
            "indexed_vectors": int(info.indexed_vectors_count),
        }

    def flush(self) -> None:
        """Persist pending writes now (the WAL already makes them durable)."""
        for opened in list(self._shards.values()):
            with opened.lock:
                opened.shard.flush()

    def close(self) -> None:
        with self._lock:
            shards, self._shards, self._specs = list(self._shards.values()), {}, {}
            self._closed = True
        for opened in shards:
            _release(opened)
