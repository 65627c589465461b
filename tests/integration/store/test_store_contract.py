"""The vector-store contract, run unchanged against every backend.

qdrant-edge runs in a tmp directory, qdrant-client in ``:memory:`` mode; both are the real
engines. Expected results come from numpy over the same deterministic catalog, and a
congruence test compares the two backends with each other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import store_backends

from recsys.core.config import Settings
from recsys.core.errors import NotFoundError, StoreError, ValidationError
from recsys.services import Services
from recsys.store import (
    ExamplesNotFoundError,
    Filters,
    PointIn,
    VectorStore,
    products_spec,
)
from recsys.store.edge import EdgeParams, EdgeStore
from recsys.store.qdrant import QdrantStore

pytestmark = pytest.mark.integration

DIM = 384
N = 400
CATEGORIES = [
    "Home > Kitchen > Mugs",
    "Home > Kitchen > Teapots",
    "Home > Garden",
    "Toys > Puzzles",
    "Toys > Dolls > Houses",
    "Stationery",
]
BRANDS = ["acme", "globex", "initech", "umbrella", "hooli"]


def levels(path: str) -> list[str]:
    parts = [p.strip() for p in path.split(">")]
    return [" > ".join(parts[: i + 1]) for i in range(len(parts))]


def make_catalog(n: int = N, seed: int = 7) -> tuple[list[PointIn], dict[str, np.ndarray]]:
    """Products with clustered unit vectors and varied payloads (same for every backend)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(CATEGORIES), DIM))
    points, unit = [], {}
    for i in range(n):
        cat = i % len(CATEGORIES)
        vec = (centres[cat] + 1.2 * rng.standard_normal(DIM)).astype(np.float32)
        key = f"sku-{i:04d}"
        unit[key] = vec / np.linalg.norm(vec)
        points.append(
            PointIn(
                key=key,
                vectors={"text": vec},
                payload={
                    "title": f"Product {i}",
                    "category": CATEGORIES[cat],
                    "category_levels": levels(CATEGORIES[cat]),
                    "brand": BRANDS[int(rng.integers(len(BRANDS)))],
                    "price": round(float(rng.uniform(1, 200)), 2),
                    "in_stock": bool(rng.random() < 0.7),
                    "is_active": bool(rng.random() < 0.9),
                    "created_at": f"2024-{1 + i % 12:02d}-15T10:00:00Z",
                    "tags": ["gift"] if i % 3 == 0 else [],
                },
            )
        )
    return points, unit


CATALOG, UNIT = make_catalog()
PAYLOADS = {p.key: p.payload for p in CATALOG}


def matches(payload: dict[str, Any], key: str, f: Filters | None) -> bool:
    """The reference semantics of Filters, in plain Python."""
    if f is None:
        return True
    checks = [
        not f.categories or bool(set(f.categories) & set(payload["category_levels"])),
        not f.brands or payload["brand"] in f.brands,
        f.price_min is None or payload["price"] >= f.price_min,
        f.price_max is None or payload["price"] <= f.price_max,
        f.in_stock is None or payload["in_stock"] == f.in_stock,
        f.is_active is None or payload["is_active"] == f.is_active,
        key not in f.exclude_keys,
    ]
    return all(checks)


def exact_top(query: np.ndarray, f: Filters | None, k: int, skip: set[str] = frozenset()) -> list:
    q = query / np.linalg.norm(query)
    scored = [
        (float(UNIT[key] @ q), key)
        for key, payload in PAYLOADS.items()
        if key not in skip and matches(payload, key, f)
    ]
    return [key for _, key in sorted(scored, reverse=True)[:k]]


def open_backend(kind: str, root: Path, params: EdgeParams | None = None) -> VectorStore:
    return store_backends.open_backend(kind, root, dim=DIM, users=True, params=params)


@pytest.fixture(params=["edge", "qdrant"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    """An empty store of each backend with `products` and `users` collections."""
    s = open_backend(request.param, tmp_path)
    yield s
    s.close()


@pytest.fixture
def loaded(store: VectorStore) -> VectorStore:
    """A fresh store holding the catalog, for tests that change it."""
    store.upsert("products", CATALOG)
    return store


@pytest.fixture(scope="module", params=["edge", "qdrant"])
def catalog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VectorStore]:
    """A store holding the catalog, shared by the tests that only read it."""
    s = open_backend(request.param, tmp_path_factory.mktemp(request.param))
    s.upsert("products", CATALOG)
    yield s
    s.close()


# --- writes and reads -------------------------------------------------------------------------


def test_upsert_then_retrieve_round_trips_payload_flags_and_vectors(store: VectorStore) -> None:
    # GIVEN a catalog written to the store
    store.upsert("products", CATALOG)

    # WHEN three points are read back, one of them unknown, in a chosen order
    got = store.retrieve("products", ["sku-0003", "nope", "sku-0001"], with_vectors=True)

    # THEN the known ones come back in that order, flags as bool, key in the payload
    assert [r.key for r in got] == ["sku-0003", "sku-0001"]
    for record in got:
        expected = {**PAYLOADS[record.key], "product_id": record.key}
        assert record.payload == expected
        assert isinstance(record.payload["in_stock"], bool)
        assert isinstance(record.payload["is_active"], bool)
        np.testing.assert_allclose(record.vectors["text"], UNIT[record.key], atol=1e-5)
    assert store.count("products") == N


def test_retrieve_without_vectors_leaves_them_out(catalog: VectorStore) -> None:
    # WHEN a point is read without vectors
    (record,) = catalog.retrieve("products", ["sku-0010"])

    # THEN only its payload is there
    assert record.vectors == {}
    assert record.payload["title"] == "Product 10"


def test_upserting_a_key_twice_keeps_one_point_with_the_latest_data(store: VectorStore) -> None:
    # GIVEN a point
    first = CATALOG[0]
    store.upsert("products", [first])

    # WHEN the same key is written again with other data
    newer = PointIn(first.key, {"text": CATALOG[1].vectors["text"]}, {"title": "Renamed"})
    store.upsert("products", [newer])

    # THEN there is still one point, holding the newer payload and vector
    assert store.count("products", None) == 1
    (record,) = store.retrieve("products", [first.key], with_vectors=True)
    assert record.payload == {"title": "Renamed", "product_id": first.key}
    np.testing.assert_allclose(record.vectors["text"], UNIT[CATALOG[1].key], atol=1e-5)


def test_set_payload_merges_fields_and_leaves_vectors(loaded: VectorStore) -> None:
    # WHEN two fields of a point are changed, one of them a flag
    loaded.set_payload("products", "sku-0002", {"in_stock": False, "popularity": 0.5})

    # THEN they are merged into the payload, the rest and the vector unchanged
    (record,) = loaded.retrieve("products", ["sku-0002"], with_vectors=True)
    assert record.payload == {
        **PAYLOADS["sku-0002"],
        "product_id": "sku-0002",
        "in_stock": False,
        "popularity": 0.5,
    }
    assert record.payload["in_stock"] is False
    np.testing.assert_allclose(record.vectors["text"], UNIT["sku-0002"], atol=1e-5)
    # and the new flag value is what filters see
    assert "sku-0002" not in {
        r.key for r in loaded.scroll("products", filters=Filters(in_stock=True, is_active=None))
    }


def test_set_payload_of_an_unknown_key_is_not_found(loaded: VectorStore) -> None:
    # WHEN / THEN
    with pytest.raises(NotFoundError, match="nope"):
        loaded.set_payload("products", "nope", {"title": "x"})
    assert loaded.count("products") == N


def test_delete_removes_points_and_ignores_unknown_keys(loaded: VectorStore) -> None:
    # WHEN two points and an unknown key are deleted
    loaded.delete("products", ["sku-0005", "sku-0006", "never-existed"])

    # THEN the two are gone, the rest stay
    assert loaded.retrieve("products", ["sku-0005", "sku-0006"]) == []
    assert loaded.count("products") == N - 2
    assert all(
        r.key not in {"sku-0005", "sku-0006"}
        for r in loaded.search("products", CATALOG[5].vectors["text"], using="text", limit=5)
    )


def test_the_change_mark_moves_on_every_removal_for_every_store_of_the_directory(
    loaded: VectorStore, tmp_path: Path
) -> None:
    if not isinstance(loaded, EdgeStore):
        # a server shared with other processes cannot tell without a round trip
        assert loaded.change_mark("products") is None
        return
    # GIVEN a second store over the same directory (another function of the process)
    other = EdgeStore(tmp_path / "qdrant")
    try:
        other.ensure_collection(products_spec(size=DIM))
        seen = {loaded.change_mark("products")}
        assert other.change_mark("products") in seen  # one shard, one mark
        assert loaded.change_mark("products") in seen  # reads leave it alone
        loaded.retrieve("products", ["sku-0001"])
        assert loaded.change_mark("products") in seen
        # WHEN either store deletes, hides or replaces a point THEN the mark is new for both
        for write in (
            lambda: other.delete("products", ["sku-0005"]),
            lambda: loaded.set_payload("products", "sku-0007", {"is_active": False}),
            lambda: other.upsert("products", [CATALOG[8]]),
        ):
            write()
            mark = loaded.change_mark("products")
            assert mark not in seen and other.change_mark("products") == mark
            seen.add(mark)
    finally:
        other.close()


def test_named_vectors_read_again_are_those_written_last_whichever_store_wrote(
    loaded: VectorStore, tmp_path: Path
) -> None:
    # GIVEN products read once with their "text" vector (the embedded store keeps them)
    keys = ["sku-0001", "sku-0002", "sku-0003"]
    first = loaded.retrieve("products", keys, with_vectors=["text"])
    assert [r.key for r in first] == keys
    other = EdgeStore(tmp_path / "qdrant") if isinstance(loaded, EdgeStore) else loaded
    try:
        other.ensure_collection(products_spec(size=DIM))
        # WHEN another store of the directory replaces one, deletes one and retitles one
        moved = CATALOG[100].vectors["text"]
        other.upsert("products", [replace(CATALOG[2], vectors={"text": moved})])
        other.delete("products", ["sku-0003"])
        other.set_payload("products", "sku-0001", {"title": "Renamed"})
        again = loaded.retrieve("products", keys, with_vectors=["text"], fields=["title"])
        twice = loaded.retrieve("products", keys, with_vectors=["text"], fields=["title"])
    finally:
        if other is not loaded:
            other.close()

    # THEN a read after the writes sees each of them, and a read repeated sees the same
    for got in (again, twice):
        assert [r.key for r in got] == ["sku-0001", "sku-0002"]
        assert got[0].payload["title"] == "Renamed"
        np.testing.assert_allclose(got[0].vectors["text"], UNIT["sku-0001"], atol=1e-5)
        np.testing.assert_allclose(got[1].vectors["text"], UNIT["sku-0100"], atol=1e-5)
        assert all(set(r.vectors) == {"text"} for r in got)
    # AND vectors a store may share between reads cannot be changed in place
    if isinstance(loaded, EdgeStore):
        with pytest.raises(ValueError, match="read-only"):
            twice[1].vectors["text"][0] = 0.0


# --- filters ----------------------------------------------------------------------------------

FILTER_CASES = {
    "none": None,
    "default-active": Filters(),
    "top-level-category": Filters(categories=["Home"], is_active=None),
    "mid-level-category": Filters(categories=["Home > Kitchen"], is_active=None),
    "leaf-category": Filters(categories=["Toys > Dolls > Houses"], is_active=None),
    "two-categories": Filters(categories=["Stationery", "Home > Garden"], is_active=None),
    "brands": Filters(brands=["acme", "hooli"], is_active=None),
    "price-range": Filters(price_min=20.0, price_max=60.0, is_active=None),
    "price-min-only": Filters(price_min=150.0, is_active=None),
    "price-max-only": Filters(price_max=10.0, is_active=None),
    "in-stock": Filters(in_stock=True, is_active=None),
    "out-of-stock": Filters(in_stock=False, is_active=None),
    "inactive": Filters(is_active=False),
    "exclude": Filters(exclude_keys=["sku-0000", "sku-0006", "sku-0012"], is_active=None),
    "everything": Filters(
        categories=["Home"],
        brands=["acme", "globex", "initech"],
        price_min=5.0,
        price_max=150.0,
        in_stock=True,
        is_active=True,
        exclude_keys=["sku-0000"],
    ),
}


@pytest.mark.parametrize("case", FILTER_CASES)
def test_count_with_filters_matches_the_reference(catalog: VectorStore, case: str) -> None:
    # GIVEN a filter
    f = FILTER_CASES[case]

    # WHEN the store counts the matching points
    got = catalog.count("products", f)

    # THEN it agrees with the plain-Python reference, and the filter is not trivial
    expected = sum(matches(p, k, f) for k, p in PAYLOADS.items())
    assert got == expected
    assert expected > 0


@pytest.mark.parametrize("case", FILTER_CASES)
def test_filtered_search_returns_the_exact_top_k(catalog: VectorStore, case: str) -> None:
    # GIVEN a filter and a query near one cluster
    f = FILTER_CASES[case]
    query = CATALOG[0].vectors["text"] + CATALOG[4].vectors["text"]

    # WHEN the store searches
    hits = catalog.search("products", query, using="text", limit=10, filters=f)

    # THEN every hit satisfies the filter and the ranking is the exact cosine top-10
    assert [h.key for h in hits] == exact_top(query, f, 10)
    q = query / np.linalg.norm(query)
    for hit in hits:
        assert matches(hit.payload, hit.key, f)
        assert hit.score == pytest.approx(float(UNIT[hit.key] @ q), abs=1e-4)
    assert hits == sorted(hits, key=lambda h: -h.score)


def test_search_can_return_vectors(catalog: VectorStore) -> None:
    # WHEN a search asks for vectors
    (hit,) = catalog.search(
        "products", CATALOG[9].vectors["text"], using="text", limit=1, with_vectors=True
    )

    # THEN the nearest point is the query's own, with its vector
    assert hit.key == "sku-0009"
    assert hit.score == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(hit.vectors["text"], UNIT["sku-0009"], atol=1e-5)


# --- recommend --------------------------------------------------------------------------------


def test_recommend_ranks_by_average_vector_and_excludes_examples(catalog: VectorStore) -> None:
    # GIVEN two liked products and one disliked
    pos, neg = ["sku-0000", "sku-0006"], ["sku-0001"]
    f = Filters(in_stock=True)

    # WHEN the store recommends
    hits = catalog.recommend(
        "products", positive=pos, negative=neg, using="text", limit=10, filters=f
    )

    # THEN the ranking is the exact top-10 for 2·mean(pos) − mean(neg), examples left out
    query = 2 * np.mean([UNIT[k] for k in pos], axis=0) - UNIT[neg[0]]
    assert [h.key for h in hits] == exact_top(query, f, 10, skip={*pos, *neg})
    assert not {h.key for h in hits} & {*pos, *neg}
    assert all(matches(h.payload, h.key, f) for h in hits)


def test_recommend_positive_only_ignores_unknown_examples(catalog: VectorStore) -> None:
    # WHEN one example is known and one is not
    hits = catalog.recommend("products", positive=["sku-0003", "ghost"], using="text", limit=5)

    # THEN the known one alone drives the result, and is excluded from it
    assert [h.key for h in hits] == exact_top(UNIT["sku-0003"], None, 5, skip={"sku-0003"})


def test_recommend_with_only_unknown_examples_is_not_found(catalog: VectorStore) -> None:
    # WHEN / THEN
    with pytest.raises(ExamplesNotFoundError) as info:
        catalog.recommend("products", positive=["ghost"], using="text", limit=5)
    assert info.value.keys == ["ghost"]


# --- scroll -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["none", "in-stock", "everything"])
def test_scroll_yields_every_matching_point_once(catalog: VectorStore, case: str) -> None:
    # GIVEN a filter
    f = FILTER_CASES[case]

    # WHEN the collection is scrolled in small batches
    keys = [r.key for r in catalog.scroll("products", filters=f, batch_size=7)]

    # THEN each matching point comes exactly once
    assert len(keys) == len(set(keys))
    assert set(keys) == {k for k, p in PAYLOADS.items() if matches(p, k, f)}


def test_scroll_can_return_vectors(catalog: VectorStore) -> None:
    # WHEN
    records = list(catalog.scroll("products", batch_size=100, with_vectors=True))

    # THEN
    assert len(records) == N
    for record in records[:10]:
        np.testing.assert_allclose(record.vectors["text"], UNIT[record.key], atol=1e-5)


# --- users: two named vectors -----------------------------------------------------------------


def test_users_collection_keeps_long_and_short_vectors_apart(store: VectorStore) -> None:
    # GIVEN two users with both vectors and one with only a long-term vector
    rng = np.random.default_rng(3)
    vec = {name: rng.standard_normal(DIM).astype(np.float32) for name in "abcdef"}
    store.upsert(
        "users",
        [
            PointIn("u1", {"long": vec["a"], "short": vec["b"]}, {"kind": "user"}),
            PointIn("u2", {"long": vec["c"], "short": vec["d"]}, {"kind": "session"}),
            PointIn("u3", {"long": vec["e"]}, {"kind": "user"}),
        ],
    )

    # WHEN searching each named vector
    by_short = store.search("users", vec["b"], using="short", limit=5)
    by_long = store.search("users", vec["e"], using="long", limit=5)

    # THEN each searches its own space; u3 has no short vector so is absent from it
    assert by_short[0].key == "u1"
    assert {h.key for h in by_short} == {"u1", "u2"}
    assert by_long[0].key == "u3"
    (u1,) = store.retrieve("users", ["u1"], with_vectors=True)
    assert set(u1.vectors) == {"long", "short"}
    assert u1.payload == {"kind": "user", "user_id": "u1"}
    hits = store.recommend("users", positive=["u1"], using="long", limit=5)
    assert "u1" not in {h.key for h in hits}


def test_reads_return_only_the_named_vectors_and_payload_fields_asked_for(
    store: VectorStore,
) -> None:
    # GIVEN a user with both vectors and a payload of several fields
    rng = np.random.default_rng(5)
    long, short = (rng.standard_normal(DIM).astype(np.float32) for _ in range(2))
    payload = {"kind": "user", "owner": "u#u1", "recent_purchases": ["p1", "p2"]}
    store.upsert("users", [PointIn("u1", {"long": long, "short": short}, payload)])
    (full,) = store.retrieve("users", ["u1"], with_vectors=True)

    # WHEN it is read with one named vector, or a few payload fields, or its key alone
    (one,) = store.retrieve("users", ["u1"], with_vectors=["short"])
    (hit,) = store.search(
        "users", long, using="long", limit=1, with_vectors=["long"], fields=["recent_purchases"]
    )
    (bare,) = store.retrieve("users", ["u1"], fields=())
    (scrolled,) = store.scroll("users", with_vectors=["long"])

    # THEN only what was asked comes back, as a full read has it, and the key always
    assert set(one.vectors) == {"short"} and one.payload == full.payload
    np.testing.assert_array_equal(one.vectors["short"], full.vectors["short"])
    assert one.vectors["short"].dtype == np.float32
    assert hit.key == "u1" and set(hit.vectors) == {"long"}
    assert hit.payload == {"user_id": "u1", "recent_purchases": ["p1", "p2"]}
    np.testing.assert_array_equal(hit.vectors["long"], full.vectors["long"])
    assert bare.key == "u1" and bare.payload == {"user_id": "u1"} and bare.vectors == {}
    assert set(scrolled.vectors) == {"long"} and scrolled.payload == full.payload
    # AND a vector the collection lacks is refused, not silently left out
    with pytest.raises(ValidationError, match="image"):
        store.retrieve("users", ["u1"], with_vectors=["image"])


def test_selected_payload_fields_keep_flags_as_booleans(catalog: VectorStore) -> None:
    # WHEN products are read and searched for two payload fields, one of them a flag
    got = catalog.retrieve("products", ["sku-0003", "sku-0001"], fields=["in_stock", "title"])
    hits = catalog.search("products", UNIT["sku-0009"], using="text", limit=3, fields=["is_active"])

    # THEN each holds those fields (the flag a bool) and its key, in the order asked
    assert [r.key for r in got] == ["sku-0003", "sku-0001"]
    for record in got:
        full = PAYLOADS[record.key]
        expected = {"product_id": record.key, "in_stock": full["in_stock"], "title": full["title"]}
        assert record.payload == expected
        assert isinstance(record.payload["in_stock"], bool)
    assert hits[0].key == "sku-0009"
    assert [h.key for h in hits] == exact_top(UNIT["sku-0009"], None, 3)
    for hit in hits:
        assert hit.payload == {"product_id": hit.key, "is_active": PAYLOADS[hit.key]["is_active"]}
        assert isinstance(hit.payload["is_active"], bool)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vectors", "field"),
    [
        ({"text": np.ones(DIM - 1, dtype=np.float32)}, "text"),
        ({"image": np.ones(DIM, dtype=np.float32)}, "image"),
        ({"text": np.zeros(DIM, dtype=np.float32)}, "text"),
        ({"text": np.full(DIM, np.nan, dtype=np.float32)}, "text"),
        ({}, "vectors"),
    ],
)
def test_bad_vectors_are_refused_naming_the_point_and_field(
    store: VectorStore, vectors: dict[str, np.ndarray], field: str
) -> None:
    # WHEN a batch holds one bad point among good ones
    with pytest.raises(ValidationError, match="bad-one") as info:
        store.upsert("products", [CATALOG[0], PointIn("bad-one", vectors, {})])

    # THEN the error names the field and nothing of the batch was written
    assert info.value.field == field
    assert store.count("products") == 0


def test_a_non_boolean_flag_is_refused(store: VectorStore) -> None:
    with pytest.raises(ValidationError) as info:
        store.upsert("products", [replace(CATALOG[0], payload={"in_stock": "yes"})])
    assert info.value.field == "in_stock"


def test_unknown_collection_and_vector_names_are_errors(catalog: VectorStore) -> None:
    with pytest.raises(StoreError, match="ensure_collection"):
        catalog.count("nope")
    with pytest.raises(ValidationError, match="image"):
        catalog.search("products", CATALOG[0].vectors["text"], using="image", limit=3)
    with pytest.raises(ValidationError, match="price_min"):
        catalog.count("products", Filters(price_min=10, price_max=5))


# --- backend-specific: persistence, sharing, threads, HNSW ------------------------------------


def test_edge_data_survives_close_and_reopen(tmp_path: Path) -> None:
    # GIVEN an edge store with data, closed
    store = open_backend("edge", tmp_path)
    store.upsert("products", CATALOG)
    store.set_payload("products", "sku-0001", {"title": "Kept"})
    store.close()

    # WHEN the directory is opened again
    reopened = open_backend("edge", tmp_path)

    # THEN everything is there and searchable
    try:
        assert reopened.count("products") == N
        assert reopened.retrieve("products", ["sku-0001"])[0].payload["title"] == "Kept"
        hits = reopened.search("products", CATALOG[7].vectors["text"], using="text", limit=1)
        assert hits[0].key == "sku-0007"
    finally:
        reopened.close()


def test_a_closed_edge_store_refuses_to_work(tmp_path: Path) -> None:
    # GIVEN a closed store
    store = open_backend("edge", tmp_path)
    store.close()

    # WHEN / THEN it says so rather than failing inside the engine
    with pytest.raises(StoreError, match="closed"):
        store.count("products")
    with pytest.raises(StoreError, match="closed"):
        store.ensure_collection(products_spec(size=DIM))


def test_qdrant_client_path_mode_survives_close_and_reopen(tmp_path: Path) -> None:
    # GIVEN qdrant-client's on-disk local mode with a few points, closed
    store = QdrantStore(str(tmp_path / "local"))
    store.ensure_collection(products_spec(size=DIM))
    store.upsert("products", CATALOG[:30])
    store.close()

    # WHEN the directory is opened again
    reopened = QdrantStore(str(tmp_path / "local"))
    reopened.ensure_collection(products_spec(size=DIM))

    # THEN the points are there
    try:
        assert reopened.count("products") == 30
        assert reopened.retrieve("products", ["sku-0029"])[0].payload == {
            **PAYLOADS["sku-0029"],
            "product_id": "sku-0029",
        }
    finally:
        reopened.close()


def test_edge_stores_over_one_directory_share_the_open_shard(tmp_path: Path) -> None:
    # GIVEN a store holding the shard directory open
    first = open_backend("edge", tmp_path)
    first.upsert("products", CATALOG[:10])

    # WHEN a second store opens the same directory in this process (the WAL is locked)
    second = open_backend("edge", tmp_path)

    # THEN it shares the shard: writes through one are read through the other
    second.upsert("products", CATALOG[10:20])
    assert first.count("products") == 20
    first.close()
    assert second.count("products") == 20
    second.close()


def test_edge_refuses_a_directory_created_with_another_key_field(tmp_path: Path) -> None:
    # GIVEN a collection created with key field product_id
    store = open_backend("edge", tmp_path)
    store.close()

    # WHEN it is opened with another key field THEN the mismatch is reported
    other = EdgeStore(tmp_path / "qdrant")
    with pytest.raises(StoreError, match="created as"):
        other.ensure_collection(replace(products_spec(size=DIM), key_field="sku"))
    other.close()


def test_edge_accepts_concurrent_writers_and_readers(tmp_path: Path) -> None:
    # GIVEN one store shared by threads, as the local stack shares it
    store = open_backend("edge", tmp_path)
    errors: list[BaseException] = []

    def write(part: int) -> None:
        try:
            for start in range(part * 100, part * 100 + 100, 10):
                store.upsert("products", CATALOG[start : start + 10])
                store.set_payload("products", CATALOG[start].key, {"popularity": 1.0})
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        try:
            for i in range(40):
                store.search("products", CATALOG[i].vectors["text"], using="text", limit=5)
                store.count("products", Filters(in_stock=True))
        except BaseException as exc:
            errors.append(exc)

    # WHEN four writers and two readers run at once
    threads = [threading.Thread(target=write, args=(p,)) for p in range(4)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # THEN nothing failed and every write landed
    try:
        assert errors == []
        assert store.count("products") == 400
        assert len(list(store.scroll("products", batch_size=64))) == 400
    finally:
        store.close()


LOW_THRESHOLD = EdgeParams(indexing_threshold_kb=1, full_scan_threshold_kb=1, indexing_threads=1)


@pytest.fixture(scope="module")
def both_backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """The same catalog in edge (HNSW + int8 built by optimize()) and qdrant-client (exact)."""
    edge = open_backend("edge", tmp_path_factory.mktemp("edge"), LOW_THRESHOLD)
    local = open_backend("qdrant", tmp_path_factory.mktemp("qdrant"))
    for s in (edge, local):
        s.upsert("products", CATALOG)
    edge.optimize()
    yield edge, local
    edge.close()
    local.close()


def test_optimize_builds_the_hnsw_index(both_backends: tuple[Any, Any]) -> None:
    edge, _ = both_backends
    info = edge.info("products")
    assert info["points"] == N
    assert info["indexed_vectors"] == N


@pytest.mark.parametrize("case", ["none", "default-active", "mid-level-category", "everything"])
def test_backends_agree_on_top_k(both_backends: tuple[Any, Any], case: str) -> None:
    # GIVEN the same data in both backends, edge searching its HNSW graph over int8 vectors
    edge, local = both_backends
    f = FILTER_CASES[case]
    rng = np.random.default_rng(11)

    for i in range(20):
        query = CATALOG[int(rng.integers(N))].vectors["text"] + rng.standard_normal(DIM) * 0.3
        query = query.astype(np.float32)

        # WHEN both search
        a = edge.search("products", query, using="text", limit=5, filters=f)
        b = local.search("products", query, using="text", limit=5, filters=f)

        # THEN top-5 overlap in ≥ 4 of 5, and shared hits score alike (rescored exactly)
        assert len({h.key for h in a} & {h.key for h in b}) >= 4, f"query {i}"
        b_scores = {h.key: h.score for h in b}
        for hit in a:
            if hit.key in b_scores:
                assert hit.score == pytest.approx(b_scores[hit.key], abs=1e-3)


def test_backends_agree_on_recommendations(both_backends: tuple[Any, Any]) -> None:
    edge, local = both_backends
    kwargs: dict[str, Any] = {
        "positive": ["sku-0010", "sku-0016"],
        "negative": ["sku-0011"],
        "using": "text",
        "limit": 5,
    }
    a = edge.recommend("products", **kwargs)
    b = local.recommend("products", **kwargs)
    assert len({h.key for h in a} & {h.key for h in b}) >= 4


# --- the store a process holds -------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [{}, {"vector_backend": "qdrant", "qdrant_url": ":memory:"}])
def test_services_open_the_store_once_with_both_collections(
    make_settings: Callable[..., Settings], overrides: dict[str, Any]
) -> None:
    # GIVEN the composition root for a backend
    settings = make_settings(vector_size=DIM, **overrides)
    services = Services(settings)

    # WHEN the store is asked for twice
    try:
        first = services.store
        second = services.store

        # THEN it is one store, with both collections ready
        assert first is second
        assert first.count(settings.products_collection) == 0
        assert first.count(settings.users_collection) == 0
    finally:
        services.close()
    # and once closed, new services open a fresh store over the same files
    again = Services(settings)
    try:
        assert again.store is not first
    finally:
        again.close()
