"""The store's sparse "keywords" vectors and facets, run unchanged against both backends.

Products are real Online Retail rows (tests/fixtures/search_catalog.jsonl) with BM25 term
weights from recsys.search.keywords; the reference is BM25 computed in plain Python over the
same tokens with the IDF formula the store applies.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import store_backends

from recsys.catalog.categories import category_levels
from recsys.catalog.text import product_text
from recsys.core.errors import StoreError, ValidationError
from recsys.search import keywords as kw
from recsys.search.fusion import SearchTuning
from recsys.search.service import ProductSearch
from recsys.store import CollectionSpec, Filters, PointIn, VectorStore, products_spec
from recsys.store.base import SparseVector
from recsys.store.edge import EdgeStore

pytestmark = pytest.mark.integration

DIM = 8
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "search_catalog.jsonl"
ROWS = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()][:240]
CODE = ROWS[17]["product_id"]
QUERIES = ["hot water bottle", "retrospot lunch bag", "heart t-light holder", CODE, "doormat"]


def _points() -> list[PointIn]:
    rng = np.random.default_rng(3)
    out = []
    for row in ROWS:
        payload = {**row, "category_levels": category_levels(row["category"]), "is_active": True}
        out.append(
            PointIn(
                key=row["product_id"],
                vectors={"text": rng.standard_normal(DIM).astype(np.float32)},
                payload=payload,
                sparse={kw.KEYWORDS: kw.keyword_vector(payload, row["product_id"])},
            )
        )
    return out


POINTS = _points()
TOKENS = {p.key: kw.document_tokens(product_text(p.payload), key=p.key) for p in POINTS}
WEIGHTS = {
    p.key: dict(zip(p.sparse[kw.KEYWORDS].indices, p.sparse[kw.KEYWORDS].values, strict=True))
    for p in POINTS
}
DF = Counter(i for w in WEIGHTS.values() for i in w)


def reference(query: str, k: int) -> list[tuple[str, float]]:
    """BM25 over the same weights: Σ idf(N, n_t) · weight, best first."""
    ids = {kw.token_id(t) for t in kw.query_tokens(query)}
    scores = {
        key: sum(kw.idf(len(POINTS), DF[i]) * w[i] for i in ids if i in w)
        for key, w in WEIGHTS.items()
    }
    ranked = sorted(((s, key) for key, s in scores.items() if s > 0), reverse=True)
    return [(key, s) for s, key in ranked[:k]]


def open_backend(kind: str, root: Path) -> VectorStore:
    return store_backends.open_backend(kind, root, dim=DIM)


@pytest.fixture(scope="module", params=["edge", "qdrant"])
def catalog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VectorStore]:
    s = open_backend(request.param, tmp_path_factory.mktemp(request.param))
    s.upsert("products", POINTS)
    yield s
    s.close()


@pytest.mark.parametrize("query", QUERIES)
def test_sparse_search_scores_bm25_with_the_stores_idf(catalog: VectorStore, query: str) -> None:
    # GIVEN products carrying BM25 term weights
    # WHEN a query of ones searches them
    found = catalog.search_sparse(
        "products", kw.query_weights(kw.query_tokens(query)), using=kw.KEYWORDS, limit=10
    )

    # THEN the scores are BM25 (the store's IDF times our weights), the reference's top 10
    every = dict(reference(query, len(POINTS)))
    assert found, query
    for r in found:
        assert r.score == pytest.approx(every[r.key], rel=1e-4), r.key
    top = [round(score, 3) for _, score in reference(query, 10)]
    assert [round(r.score, 3) for r in found] == top


def test_sparse_search_honours_filters(catalog: VectorStore) -> None:
    f = Filters(categories=["Home"])
    found = catalog.search_sparse(
        "products", kw.query_weights(["heart"]), using=kw.KEYWORDS, limit=50, filters=f
    )
    assert found
    assert all("Home" in r.payload["category_levels"] for r in found)


def test_reading_vectors_back_gives_the_dense_ones_only(catalog: VectorStore) -> None:
    # GIVEN products stored with a dense "text" and a sparse "keywords" vector
    keys = [p.key for p in POINTS[:5]]
    # WHEN they are read back with vectors (as profile building and similar items do)
    got = catalog.retrieve("products", keys, with_vectors=True)
    # THEN each comes back with its dense vector (unit length: cosine), and no sparse one
    assert [r.key for r in got] == keys
    for rec, point in zip(got, POINTS[:5], strict=True):
        assert set(rec.vectors) == {"text"}
        want = point.vectors["text"] / np.linalg.norm(point.vectors["text"])
        np.testing.assert_allclose(rec.vectors["text"], want, rtol=1e-4, atol=1e-5)


def test_a_query_sharing_no_token_finds_nothing(catalog: VectorStore) -> None:
    vec = kw.query_weights(kw.query_tokens("zzqxv wqqzt"))
    assert catalog.search_sparse("products", vec, using=kw.KEYWORDS, limit=10) == []
    assert catalog.search_sparse("products", SparseVector([], []), using=kw.KEYWORDS, limit=5) == []


def test_single_token_probes_recover_each_tokens_idf(catalog: VectorStore) -> None:
    # GIVEN a search over the store (the encoder is not used by query_idf)
    search = ProductSearch(
        store=catalog,
        collection="products",
        encoder=None,
        tuning=SearchTuning(),  # type: ignore[arg-type]
    )
    tokens = ["bottle", "retrospot", CODE.lower(), "zzqxv"]

    # WHEN the IDF of each token is probed
    idf = search.query_idf(tokens)

    # THEN it is the store's IDF: ln(1 + (N − n + 0.5) / (n + 0.5)), n = products with the token
    for token in tokens:
        n = DF[kw.token_id(token)]
        assert idf[token] == pytest.approx(kw.idf(len(POINTS), n), rel=1e-4), token


def test_batched_probes_equal_single_searches(catalog: VectorStore) -> None:
    vectors = [kw.query_weights([t]) for t in ("bag", "heart", "zzqxv")] + [SparseVector([], [])]
    batch = catalog.search_sparse_batch("products", vectors, using=kw.KEYWORDS, limit=3)
    assert len(batch) == 4
    for vec, hits in zip(vectors, batch, strict=True):
        single = catalog.search_sparse("products", vec, using=kw.KEYWORDS, limit=3)
        assert [(r.key, round(r.score, 4)) for r in hits] == [
            (r.key, round(r.score, 4)) for r in single
        ]


def test_facet_counts_category_levels(catalog: VectorStore) -> None:
    expected = Counter(level for p in POINTS for level in p.payload["category_levels"])
    got = catalog.facet("products", "category_levels", limit=100)
    assert dict(got) == dict(expected)
    assert [c for _, c in got] == sorted((c for _, c in got), reverse=True)


def test_bad_sparse_vectors_are_refused(tmp_path: Path) -> None:
    for kind in ("edge", "qdrant"):
        store = open_backend(kind, tmp_path / kind)
        base = POINTS[0]
        bad = [
            SparseVector([1, 1], [0.5, 0.5]),
            SparseVector([1, 2], [0.5]),
            SparseVector([1], [float("nan")]),
        ]
        for vec in bad:
            point = PointIn(base.key, base.vectors, dict(base.payload), {kw.KEYWORDS: vec})
            with pytest.raises(ValidationError):
                store.upsert("products", [point])
        with pytest.raises(ValidationError):
            store.upsert(
                "products", [PointIn(base.key, base.vectors, dict(base.payload), {"other": bad[0]})]
            )
        store.close()


def test_an_edge_shard_created_without_keywords_still_opens_and_serves(tmp_path: Path) -> None:
    # GIVEN a products shard made before the collection declared "keywords"
    old = CollectionSpec(**{**products_spec(size=DIM).__dict__, "sparse_vectors": ()})
    store = EdgeStore(tmp_path / "qdrant")
    store.ensure_collection(old)
    store.upsert("products", [PointIn(p.key, p.vectors, p.payload) for p in POINTS[:5]])
    store.close()

    # WHEN it is opened with today's spec and written with keyword vectors
    store = EdgeStore(tmp_path / "qdrant")
    store.ensure_collection(products_spec(size=DIM))
    store.upsert("products", POINTS[5:10])

    # THEN it serves dense search, says it has no keywords, and refuses keyword queries
    assert not store.has_sparse("products", kw.KEYWORDS)
    assert store.count("products", Filters(is_active=None)) == 10
    with pytest.raises(StoreError):
        store.search_sparse("products", kw.query_weights(["bag"]), using=kw.KEYWORDS, limit=3)
    store.close()


def test_backends_agree_on_keyword_rankings(tmp_path: Path) -> None:
    stores = [open_backend(kind, tmp_path / kind) for kind in ("edge", "qdrant")]
    for s in stores:
        s.upsert("products", POINTS)
    for query in QUERIES:
        vec = kw.query_weights(kw.query_tokens(query))
        a, b = (s.search_sparse("products", vec, using=kw.KEYWORDS, limit=10) for s in stores)
        scores_a: dict[str, Any] = {r.key: round(r.score, 3) for r in a}
        scores_b: dict[str, Any] = {r.key: round(r.score, 3) for r in b}
        assert sorted(scores_a.values()) == sorted(scores_b.values()), query
    for s in stores:
        s.close()
