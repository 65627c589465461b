"""qdrant-edge's own terms for what :mod:`recsys.store.edge` stores: the engine tuning
(:class:`EdgeParams`), a collection spec as an engine config, payload index kinds and filter
conditions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import qdrant_edge as qe

from recsys.store.base import CollectionSpec
from recsys.store.conditions import AnyOf, Between, Condition, Equals

__all__ = ["EdgeParams"]


@dataclass(frozen=True)
class EdgeParams:
    """Engine tuning; defaults suit one shared machine (see docs/BENCHMARKS.md, search)."""

    hnsw_m: int = 16
    hnsw_ef_construct: int = 100
    #: ef at query time: top-10 recall stays that of exact search (docs/BENCHMARKS.md, search).
    hnsw_ef: int = 128
    #: Below this many KB of vectors a segment is scanned, not walked (≈ 6.6k × 384-d).
    full_scan_threshold_kb: int = 10_000
    #: optimize() builds HNSW only for segments above this many KB of vectors.
    indexing_threshold_kb: int = 10_000
    indexing_threads: int = 2
    #: None: one search thread per CPU.
    search_threads: int | None = None


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


_SCHEMAS = {
    "keyword": qe.PayloadSchemaType.Keyword,
    "float": qe.PayloadSchemaType.Float,
    "integer": qe.PayloadSchemaType.Integer,
    "datetime": qe.PayloadSchemaType.Datetime,
}


def _condition(c: Condition) -> Any:
    if isinstance(c, AnyOf):
        return qe.FieldCondition(c.field, match=qe.MatchAny(list(c.values)))
    if isinstance(c, Between):
        return qe.FieldCondition(c.field, range=qe.RangeFloat(gte=c.gte, lte=c.lte))
    if isinstance(c, Equals):
        return qe.FieldCondition(c.field, match=qe.MatchValue(c.value))
    return qe.Filter(should=[_condition(o) for o in c.options])
