"""Keyword (BM25) lists do not depend on the order a catalog was written in.

Many Online Retail titles score the same for a query word (same words, same length), and both
engines return points tied at a list's cut-off in an order of their own (it follows how the
points were written), so two builds of one catalog kept different products at the cut. The
same real rows (tests/fixtures/search_catalog.jsonl) are written to each real embedded store
twice, in file order and shuffled; every keyword list must come out the same, ties decided by
product key.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recsys.catalog.categories import category_levels
from recsys.search import keywords as kw
from recsys.search.fusion import SearchTuning
from recsys.search.service import ProductSearch
from recsys.store import PointIn, VectorStore, products_spec
from recsys.store._common import TIE_PAD
from recsys.store.edge import EdgeStore
from recsys.store.qdrant import QdrantStore

pytestmark = pytest.mark.integration

DIM = 8
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "search_catalog.jsonl"
ROWS = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
# And one title sold under 60 codes (as colour variants often are): a tied group deeper than
# what is first fetched past a cut-off.
TWINS = [
    {"product_id": f"TWIN{i:02d}", "title": "ENAMEL FLOWER JUG", "category": "Home > Kitchen"}
    for i in range(60)
]
QUERIES = ["heart", "bag", "christmas", "holder", "light", "vintage", "cake", "box", "mug"]
LIMIT = 10


def _point(row: dict[str, Any], vector: np.ndarray) -> PointIn:
    payload = {**row, "category_levels": category_levels(row["category"]), "is_active": True}
    sparse = {kw.KEYWORDS: kw.keyword_vector(payload, row["product_id"])}
    return PointIn(row["product_id"], {"text": vector}, payload, sparse)


_ALL = ROWS + random.Random(2).sample(TWINS, len(TWINS))
_DENSE = np.random.default_rng(3).standard_normal((len(_ALL), DIM)).astype(np.float32)
POINTS = [_point(row, vec) for row, vec in zip(_ALL, _DENSE, strict=True)]


def _build(kind: str, root: Path, points: list[PointIn]) -> VectorStore:
    store: VectorStore = EdgeStore(root / "qdrant") if kind == "edge" else QdrantStore(":memory:")
    store.ensure_collection(products_spec(size=DIM))
    for start in range(0, len(points), 50):
        store.upsert("products", points[start : start + 50])
    return store


@pytest.fixture(scope="module", params=["edge", "qdrant"])
def builds(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[VectorStore, VectorStore]]:
    shuffled = random.Random(1).sample(POINTS, len(POINTS))
    a = _build(request.param, tmp_path_factory.mktemp("in_order"), POINTS)
    b = _build(request.param, tmp_path_factory.mktemp("shuffled"), shuffled)
    yield a, b
    a.close()
    b.close()


def _keys(store: VectorStore, query: str, limit: int) -> list[str]:
    vector = kw.query_weights(kw.query_tokens(query))
    return [r.key for r in store.search_sparse("products", vector, using=kw.KEYWORDS, limit=limit)]


def _everything(store: VectorStore, query: str) -> list[tuple[float, str]]:
    vector = kw.query_weights(kw.query_tokens(query))
    found = store.search_sparse("products", vector, using=kw.KEYWORDS, limit=len(POINTS))
    return [(r.score, r.key) for r in found]


@pytest.mark.parametrize("query", QUERIES)
def test_two_builds_give_the_same_list_when_points_tie_at_the_cut(
    builds: tuple[VectorStore, VectorStore], query: str
) -> None:
    a, b = builds
    # GIVEN a query whose 10th score is shared by points on both sides of the cut-off
    every = _everything(a, query)
    cut = every[LIMIT - 1][0]
    assert sum(score == cut for score, _ in every[LIMIT:]) > 0, "no tie straddles the cut"

    # WHEN both builds are asked for the top 10
    got_a, got_b = _keys(a, query, LIMIT), _keys(b, query, LIMIT)

    # THEN the lists are equal, and the tied points kept are those of the smallest keys
    assert got_a == got_b
    assert got_a == [key for _, key in sorted(every, key=lambda t: (-t[0], t[1]))[:LIMIT]]


def test_ties_deeper_than_the_extra_fetch_are_still_decided_by_key(
    builds: tuple[VectorStore, VectorStore],
) -> None:
    a, b = builds
    # GIVEN cut-offs whose tied group runs past what is fetched beyond the cut at first
    cases = []
    for query in [*QUERIES, "enamel jug"]:
        every = _everything(a, query)
        for limit in range(1, len(every)):
            tied = [i for i, (score, _) in enumerate(every) if score == every[limit - 1][0]]
            if tied[-1] >= limit + TIE_PAD:
                cases.append((query, limit, every))
    assert cases, "no tie group deeper than the first fetch"

    for query, limit, every in cases:
        # WHEN both builds cut there
        # THEN both keep the same points: the smallest keys of the tied group
        want = [key for _, key in sorted(every, key=lambda t: (-t[0], t[1]))[:limit]]
        assert _keys(a, query, limit) == _keys(b, query, limit) == want, (query, limit)


def test_batched_lists_and_the_keyword_evidence_agree_across_builds(
    builds: tuple[VectorStore, VectorStore],
) -> None:
    a, b = builds
    vectors = [kw.query_weights(kw.query_tokens(q)) for q in QUERIES]

    # WHEN the same queries go through one batch, and through search's keyword evidence
    def batch(store: VectorStore) -> list[list[str]]:
        found = store.search_sparse_batch("products", vectors, using=kw.KEYWORDS, limit=LIMIT)
        return [[r.key for r in hits] for hits in found]

    def evidence(store: VectorStore) -> list[list[str]]:
        search = ProductSearch(
            store=store,
            collection="products",
            encoder=None,  # type: ignore[arg-type]
            tuning=SearchTuning(),
            candidates=LIMIT,
        )
        return [[h.key for h in search.keyword_hits(q, None) or []] for q in QUERIES]

    # THEN every list is the same in both builds, and the batch equals the single searches
    assert batch(a) == batch(b) == [_keys(a, q, LIMIT) for q in QUERIES]
    assert evidence(a) == evidence(b) == [_keys(a, q, LIMIT) for q in QUERIES]
