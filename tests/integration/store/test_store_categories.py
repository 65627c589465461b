"""Category and brand filters as shoppers type them, on both store backends, and GET /categories.

Payloads come from the catalog's own builder (recsys.catalog.schema.build_product), so the
stored selectors are the ones ingest writes; the in-Python predicate the ranker applies to
candidates must agree with the store on every filter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import store_backends
from fastapi.testclient import TestClient

from recsys.api.app import build_app
from recsys.api.routes import categories
from recsys.catalog.schema import ProductIn, build_product
from recsys.core.config import Settings
from recsys.ranking.rules import matches
from recsys.services import Services
from recsys.store import Filters, PointIn, VectorStore

pytestmark = pytest.mark.integration

DIM = 8
ROWS = [
    ("k1", "Home > Kitchen", "Acme"),
    ("k2", "Home > Kitchen > Mugs", "ACME"),
    ("k3", "Kitchen & Dining > Baking", "Globex"),
    ("g1", "Home > Garden", "globex "),
    ("t1", "Toys & Games", "Initech"),
    ("n1", None, None),
]
NOW = datetime(2024, 5, 1, tzinfo=UTC)


def _points() -> list[PointIn]:
    rng = np.random.default_rng(5)
    out = []
    for pid, category, brand in ROWS:
        product = build_product(
            ProductIn.model_validate(
                {"product_id": pid, "title": f"Item {pid}", "category": category, "brand": brand}
            ),
            now=NOW,
        )
        vec = rng.standard_normal(DIM).astype(np.float32)
        out.append(PointIn(pid, {"text": vec}, product.payload))
    # Written before category_keys / brand_key existed: exact-case levels only.
    legacy = {
        "title": "Old",
        "category": "Home > Kitchen",
        "brand": "Acme",
        "category_levels": ["Home", "Home > Kitchen"],
        "is_active": True,
    }
    out.append(PointIn("old", {"text": rng.standard_normal(DIM).astype(np.float32)}, legacy))
    return out


POINTS = _points()
CASES = {
    "a level's name, lower case": (Filters(categories=["kitchen"]), {"k1", "k2", "k3"}),
    "a prefix, any case and spacing": (Filters(categories=["HOME>kitchen"]), {"k1", "k2"}),
    "a deep level by name": (Filters(categories=["mugs"]), {"k2"}),
    "a top level": (Filters(categories=["Home"]), {"k1", "k2", "g1", "old"}),
    "a word of a level": (Filters(categories=["games"]), {"t1"}),
    "legacy exact path": (Filters(categories=["Home > Kitchen"]), {"k1", "k2", "old"}),
    "brand, case aside": (Filters(brands=["acme"]), {"k1", "k2"}),
    "brand with spaces": (Filters(brands=["GLOBEX"]), {"k3", "g1"}),
    "legacy brand, exact": (Filters(brands=["Acme"]), {"k1", "k2", "old"}),
    "nothing": (Filters(categories=["garage"]), set()),
}


def open_backend(kind: str, root: Path) -> VectorStore:
    return store_backends.open_backend(kind, root, dim=DIM)


@pytest.fixture(scope="module", params=["edge", "qdrant"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VectorStore]:
    s = open_backend(request.param, tmp_path_factory.mktemp(request.param))
    s.upsert("products", POINTS)
    yield s
    s.close()


@pytest.mark.parametrize("case", list(CASES))
def test_filters_match_what_shoppers_type(store: VectorStore, case: str) -> None:
    f, expected = CASES[case]
    # WHEN the store counts, searches and scrolls with the filter
    scrolled = {r.key for r in store.scroll("products", filters=f)}
    found = store.search("products", np.ones(DIM, np.float32), using="text", limit=20, filters=f)
    # THEN each finds exactly the expected products
    assert scrolled == expected
    assert {r.key for r in found} == expected
    assert store.count("products", f) == len(expected)


@pytest.mark.parametrize("case", [c for c in CASES if "legacy" not in c])
def test_the_rankers_predicate_agrees_with_the_store(case: str) -> None:
    f, expected = CASES[case]
    assert {p.key for p in POINTS if p.key != "old" and matches(p.payload, f)} == expected - {"old"}


def test_categories_route_lists_every_level_with_counts(tmp_path: Path) -> None:
    # GIVEN a store holding the products (one of them inactive)
    settings = Settings(data_dir=tmp_path, vector_size=DIM)
    services = Services(settings=settings)
    store = services.store
    inactive = PointIn(
        "x1", POINTS[0].vectors, {**POINTS[0].payload, "product_id": "x1", "is_active": False}
    )
    store.upsert(settings.products_collection, [*POINTS, inactive])
    client = TestClient(build_app(categories.router, services=services))

    # WHEN the categories are asked for
    reply = client.get("/categories")

    # THEN every prefix of every active product's path is listed once, with its count, parents
    # before children
    assert reply.status_code == 200, reply.text
    rows = reply.json()["categories"]
    expected = Counter(level for p in POINTS for level in p.payload.get("category_levels") or [])
    assert {r["path"]: r["count"] for r in rows} == dict(expected)
    paths = [r["path"] for r in rows]
    assert (
        paths.index("Home") < paths.index("Home > Kitchen") < paths.index("Home > Kitchen > Mugs")
    )
    mugs = next(r for r in rows if r["path"] == "Home > Kitchen > Mugs")
    assert mugs["name"] == "Mugs" and mugs["depth"] == 3
    services.close()
