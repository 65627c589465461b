"""The issue's table, as an operator and an attacker would try it, through the functions' own
apps (the routers each Lambda mounts, with the same middleware): odd values, oversized bodies,
unsafe ids, contradictory filters, the API key, content types, deleted products, and Redis or
the vector store lost mid-run. Real embedded store, encoder, SQLite event log, file aggregates.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recsys.aggregates.compute import compute_aggregates
from recsys.api.app import build_app
from recsys.api.routes import events, products, recommend
from recsys.cache import RedisCache
from recsys.catalog.embed import DirectEmbedQueue, Embedder
from recsys.core.config import Settings, get_settings
from recsys.core.observability import registry
from recsys.profiles.maths import ProfileEvent
from recsys.services import Services

pytestmark = pytest.mark.integration

CATALOG = [
    {"product_id": "L1", "title": "Warm white fairy lights, 100 LED", "category": "Home > Lights"},
    {
        "product_id": "L2",
        "title": "Battery LED candle lights, set of 6",
        "category": "Home > Lights",
    },
    {"product_id": "L3", "title": "Paper lantern string lights", "category": "Home > Lights"},
    {"product_id": "K1", "title": "Enamel coffee mug, red", "category": "Kitchen > Mugs"},
    {"product_id": "K2", "title": "Ceramic tea cup and saucer", "category": "Kitchen > Mugs"},
    {"product_id": "K3", "title": "Stainless steel cake tin set", "category": "Kitchen > Baking"},
]
for i, row in enumerate(CATALOG):
    row["price"] = 4.0 + i


@dataclass
class Api:
    services: Services
    http: TestClient


def _api(settings: Settings, **given: Any) -> Api:
    services = Services(settings, **given)
    app = build_app(events.router, products.router, recommend.router, services=services)
    return Api(services, TestClient(app))


@pytest.fixture
def make_api(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Api]]:
    monkeypatch.delenv("RECSYS_API_KEY", raising=False)
    get_settings.cache_clear()
    made: list[Api] = []
    settings = make_settings(aggregates_backend="file", events_backend="sqlite")

    def make(**given: Any) -> Api:
        api = _api(settings, **given)
        if "embed_queue" not in given:
            services = api.services
            embedder = Embedder(encoder=services.encoder, store=services.store, settings=settings)
            services._built["embed_queue"] = DirectEmbedQueue(embedder)
        made.append(api)
        return api

    yield make
    for api in made:
        api.services.close()


def _load_catalog(api: Api) -> None:
    reply = api.http.post("/products", json={"products": CATALOG})
    assert reply.status_code == 202, reply.text
    assert reply.json()["accepted"] == len(CATALOG)
    now = 1_700_000_000.0
    bought = [
        ProfileEvent(
            type="purchase", product_id=pid, at=now - i * 60, owner=f"u#b{i % 3}", order_id=f"o{i}"
        )
        for i, pid in enumerate(["L1", "L1", "L2", "K1", "L1", "L3", "K2"])
    ]
    cats = {r["product_id"]: str(r["category"]) for r in CATALOG}
    api.services.aggregates.save(compute_aggregates(bought, now=now, catalog_categories=cats))


def _ids(reply: Any) -> list[str]:
    assert reply.status_code == 200, reply.text
    return [item["product_id"] for item in reply.json()["items"]]


# --- values the stores cannot hold, one by one ---------------------------------------------------


def test_bad_events_are_rejected_one_by_one_and_the_good_ones_kept(
    make_api: Callable[..., Api],
) -> None:
    api = make_api()
    base = {"user_id": "shopper-1", "type": "view", "product_id": "L1"}
    batch = [
        {**base, "event_id": "good-1"},
        {**base, "event_id": "huge", "price": 1e200},
        {**base, "event_id": "tiny", "price": 1e-200},
        {**base, "event_id": "emptykey", "context": {"": 1}},
        {**base, "event_id": "slash", "user_id": "a/b"},
        {**base, "event_id": "good-2", "price": 2.5, "context": {"page": "home"}},
    ]
    reply = api.http.post("/events", json={"events": batch})
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert body["accepted"] == 2 and body["duplicates"] == 0
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (1, "price"),
        (2, "price"),
        (3, "context"),
        (4, "user_id"),
    ]
    # the good ones are in the log, and the erasure finds exactly them
    erased = api.http.delete("/users/shopper-1").json()
    assert erased["events_deleted"] == 2


def test_catalog_rows_one_by_one_and_body_caps(make_api: Callable[..., Api]) -> None:
    api = make_api()
    rows = [
        {"product_id": "ok-1", "title": "Mug"},
        {"product_id": "big", "title": "Huge", "description": "x" * 260_000},
        {"product_id": "a/b", "title": "Slash"},
        {"product_id": "ok-2", "title": "Cup"},
    ]
    reply = api.http.post("/products", json={"products": rows})
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "row"), (2, "product_id")]
    # 400 rows of 50 KB (20 MB): refused whole, saying the limit
    row = {"product_id": "p", "title": "t", "description": "y" * 50_000}
    big = json.dumps({"products": [row] * 400})
    reply = api.http.post("/products", content=big, headers={"content-type": "application/json"})
    assert reply.status_code == 413
    assert reply.json()["detail"][0]["limit"] == api.services.settings.products_max_body_bytes
    # every other route is capped too
    cart = {"product_ids": ["ok-1"] * 10, "padding": "z" * 100_000}
    reply = api.http.post("/recommendations/cart", json=cart)
    assert reply.status_code == 413
    assert reply.json()["detail"][0]["limit"] == api.services.settings.api_max_body_bytes


def test_unsafe_ids_and_contradictory_filters_are_refused(make_api: Callable[..., Api]) -> None:
    api = make_api()
    _load_catalog(api)
    for path in ("/search?q=lights", "/users/u1/recommendations", "/products/L1/similar"):
        sep = "&" if "?" in path else "?"
        reply = api.http.get(f"{path}{sep}price_min=10&price_max=1")
        assert reply.status_code == 422, (path, reply.text)
        assert reply.json()["detail"][0]["loc"] == ["query", "price_min"]
    assert api.http.get("/products/..%2F..%2Fetc/similar").status_code in (404, 422)
    assert api.http.delete("/users/a b").status_code == 422


# --- security ------------------------------------------------------------------------------------


def test_the_api_key_guards_writes_and_erasure_but_not_reads(
    make_api: Callable[..., Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api()
    _load_catalog(api)
    monkeypatch.setenv("RECSYS_API_KEY", "k3y")
    get_settings.cache_clear()
    event = {"events": [{"user_id": "u1", "type": "view", "product_id": "L1"}]}
    writes = [
        ("post", "/events", event),
        ("post", "/products", {"products": CATALOG[:1]}),
        ("delete", "/products/K3", None),
        ("delete", "/users/u1", None),
    ]
    for method, path, body in writes:
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        without = api.http.request(method.upper(), path, **kwargs)
        assert without.status_code == 401, (path, without.text)
        with_key = api.http.request(method.upper(), path, headers={"X-Api-Key": "k3y"}, **kwargs)
        assert with_key.status_code in (200, 202), (path, with_key.text)
    for path in ("/trending", "/products/L1/similar", "/search?q=mug", "/health"):
        assert api.http.get(path).status_code == 200, path
    # a write in a "simple" (cross-site capable) content type is refused before the key check
    reply = api.http.post(
        "/events", content=json.dumps(event), headers={"content-type": "text/plain"}
    )
    assert reply.status_code == 415


# --- deleted products ----------------------------------------------------------------------------


def test_a_deleted_product_never_appears_in_any_reply_after_its_delete(
    make_api: Callable[..., Api],
) -> None:
    api = make_api()
    _load_catalog(api)
    reads = [
        "/products/L2/similar?limit=5",
        "/products/L2/bought-together?limit=5",
        "/search?q=lights&limit=5",
        "/trending?limit=5",
        "/users/b0/recommendations?limit=5",
        "/users/b0/buy-again?limit=5",
    ]
    # GIVEN every read route answered once (cached) with L1 among the items of most
    before = {path: _ids(api.http.get(path)) for path in reads}
    assert sum("L1" in ids for ids in before.values()) >= 3, before
    assert api.http.get(reads[0]).headers["x-cache"] == "hit"
    # WHEN L1 is deleted
    assert api.http.delete("/products/L1").status_code == 200
    # THEN no reply carries it — the cached ones included
    for path in reads:
        assert "L1" not in _ids(api.http.get(path)), path


def test_a_product_deleted_or_hidden_by_another_function_never_comes_back_from_the_cache(
    make_api: Callable[..., Api],
) -> None:
    # GIVEN the ingest function's app and the recommend function's, each with its own
    # services (as the local stack's functions are) over one data directory
    ingest, reader = make_api(), make_api()
    _load_catalog(ingest)
    reads = ["/products/L2/similar?limit=5", "/search?q=lights&limit=5"]
    # ... and the reader's cached lists checked already (served twice: the check remembered)
    for path in reads:
        for _ in range(2):
            assert "L1" in _ids(reader.http.get(path)), path
        assert reader.http.get(path).headers["x-cache"] == "hit"
    # WHEN the other function deletes L1 and hides L3 (POSTed again with is_active false)
    assert ingest.http.delete("/products/L1").status_code == 200
    hidden = {**next(r for r in CATALOG if r["product_id"] == "L3"), "is_active": False}
    assert ingest.http.post("/products", json={"products": [hidden]}).status_code == 202
    # THEN the reader's very next replies carry neither
    for path in reads:
        ids = _ids(reader.http.get(path))
        assert "L1" not in ids and "L3" not in ids, (path, ids)


# --- dependencies lost mid-run -------------------------------------------------------------------


def test_redis_stopped_mid_run_shows_in_health_and_metrics(
    make_api: Callable[..., Api], private_redis: Any
) -> None:
    api = make_api(cache=RedisCache(private_redis.url, timeout_s=0.2, prefix="t:hostile"))
    _load_catalog(api)
    assert api.http.get("/trending").status_code == 200
    health = api.http.get("/health").json()
    assert health["status"] == "ok" and health["dependencies"]["cache"]["state"] == "ok"
    errors_before = registry.total("CacheErrors")
    # WHEN Redis goes away
    private_redis.stop()
    # THEN replies still come, and /health and the metric say the cache is down
    assert api.http.get("/trending").status_code == 200
    assert api.http.get("/products/L2/similar").status_code == 200
    health = api.http.get("/health").json()
    assert health["status"] == "degraded" and health["down"] == ["cache"]
    assert health["dependencies"]["cache"]["state"] == "down"
    assert registry.total("CacheErrors") > errors_before
    assert registry.total("DependencyDown", dependency="cache") >= 1


def test_the_vector_store_stopped_mid_run_degrades_and_shows_in_health(
    make_api: Callable[..., Api],
) -> None:
    api = make_api()
    _load_catalog(api)
    assert api.http.get("/health").json()["status"] == "ok"
    # WHEN the store goes away (its shards closed under the running app)
    api.services.store.close()
    # THEN reads still answer (degraded, from the aggregates) and /health names the store
    reply = api.http.get("/trending?limit=3")
    assert reply.status_code == 200 and reply.json()["degraded"] is True
    reply = api.http.get("/users/b0/recommendations?limit=3")
    assert reply.status_code == 200 and reply.json()["degraded"] is True
    health = api.http.get("/health").json()
    assert health["status"] == "degraded" and "vector_store" in health["down"]
