"""The read API over the real embedded edge store, real encoder embeddings and real aggregates.

World: 200 Online Retail products (tests/fixtures/online_retail_sample.csv.gz, 80 customers,
Oct–Dec 2011) embedded by the int8 encoder, every seventh one out of stock; profiles built with
the profile maths from events before the split; aggregates computed from the same events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from recsys.aggregates.compute import Aggregates, compute_aggregates
from recsys.api.app import build_app
from recsys.api.routes import recommend
from recsys.cache import MemoryCache, make_cache
from recsys.catalog.schema import validate_rows
from recsys.core.config import Settings
from recsys.core.errors import StoreError
from recsys.datasets.online_retail import load_catalog
from recsys.encoder import get_encoder
from recsys.evaluation.data import load_events, parse_time
from recsys.profiles.maths import DEFAULT_WEIGHTS, ProfileEvent, build_profile
from recsys.ranking.cached import CachedRecommender
from recsys.ranking.service import Recommender
from recsys.services import Services
from recsys.store import ensure_collections, open_store
from recsys.store.base import PointIn, VectorStore

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "online_retail_sample.csv.gz"
SPLIT = parse_time("2011-11-15T00:00:00Z")


@dataclass
class World:
    settings: Settings
    store: VectorStore
    aggregates: Aggregates
    products: dict[str, dict[str, Any]]
    history: dict[str, list[ProfileEvent]]
    vectors: dict[str, np.ndarray[Any, Any]]

    def user_point(self, owner: str, events: Sequence[ProfileEvent], *, version: int) -> PointIn:
        now = max(e.at for e in events)
        long = build_profile(
            events, self.vectors, now=now, tau_seconds=30 * 86400.0, weights=DEFAULT_WEIGHTS
        ).unit()
        assert long is not None
        newest = sorted(events, key=lambda e: -e.at)
        recent = list(dict.fromkeys(e.product_id for e in newest if e.product_id))
        # As the profile service keeps them: occasions (orders), first and last time.
        orders: dict[str, set[str]] = defaultdict(set)
        times: dict[str, list[float]] = defaultdict(list)
        for e in events:
            if e.type == "purchase" and e.product_id:
                orders[e.product_id].add(e.order_id or str(int(e.at // 86400)))
                times[e.product_id].append(e.at)
        stats = {p: [len(orders[p]), min(times[p]), max(times[p]), "-"] for p in orders}
        return PointIn(
            key=owner[2:],
            vectors={"long": long, "short": long},
            payload={
                "kind": "user",
                "owner": owner,
                "recent_product_ids": recent[:50],
                "recent_purchases": [
                    p
                    for p in recent
                    if any(e.product_id == p and e.type == "purchase" for e in newest)
                ][:50],
                "purchase_stats": stats,
                "last_event_ts": now,
                "short_as_of": now,
                "profile_version": version,
            },
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("recommend") / "data")
    rows = [{**row, "in_stock": i % 7 != 3} for i, row in enumerate(load_catalog(SAMPLE))]
    products, rejected = validate_rows(rows)
    assert not rejected
    encoder = get_encoder(settings)
    vecs = encoder.encode([p.text for p in products])
    store = open_store(settings)
    ensure_collections(store, settings)
    store.upsert(
        settings.products_collection,
        [
            PointIn(p.product_id, {"text": v}, dict(p.payload))
            for p, v in zip(products, vecs, strict=True)
        ],
    )
    vectors = {p.product_id: v for p, v in zip(products, vecs, strict=True)}
    train = [e for e in load_events(SAMPLE) if e.at < SPLIT]
    categories = {p.product_id: str(p.payload.get("category") or "") for p in products}
    aggregates = compute_aggregates(train, now=SPLIT, catalog_categories=categories)
    history: dict[str, list[ProfileEvent]] = defaultdict(list)
    for e in train:
        if e.owner and e.owner.startswith("u#"):
            history[e.owner].append(e)
    w = World(
        settings,
        store,
        aggregates,
        {p.product_id: p.payload for p in products},
        dict(history),
        vectors,
    )
    store.upsert(
        settings.users_collection,
        [w.user_point(o, evs, version=1) for o, evs in sorted(history.items())],
    )
    yield w
    store.close()


def make_client(
    world: World, *, store: Any = None, cache: Any = None, **overrides: Any
) -> TestClient:
    prefix = "ranking_"
    ranking = {k.removeprefix(prefix): v for k, v in overrides.items() if k.startswith(prefix)}
    rest = {k: v for k, v in overrides.items() if not k.startswith("ranking_")}
    if ranking:
        rest["ranking"] = world.settings.ranking.model_copy(update=ranking)
    settings = world.settings.model_copy(update=rest)
    rec = Recommender(
        settings=settings,
        store=store or world.store,
        aggregates=lambda: world.aggregates,
        encoder=lambda: get_encoder(settings),
        clock=lambda: SPLIT,
    )
    cached = CachedRecommender(
        rec, cache=cache if cache is not None else MemoryCache(), settings=settings
    )
    app = build_app(
        recommend.router, services=Services(settings, recommender=cached), title="recsys-test"
    )
    return TestClient(app)


class BrokenStore(VectorStore):
    """A vector store whose every call fails, as an unreachable Qdrant would."""

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("__"):
            return object.__getattribute__(self, name)

        def fail(*_: Any, **__: Any) -> Any:
            raise StoreError(f"qdrant unreachable ({name})")

        return fail


def some_user(world: World, *, min_items: int = 5) -> str:
    for owner, events in sorted(world.history.items()):
        if len({e.product_id for e in events}) >= min_items:
            return owner[2:]
    raise AssertionError("fixture has no user with enough history")


def bought(world: World, user: str) -> set[str]:
    return {
        e.product_id
        for e in world.history[f"u#{user}"]
        if e.type == "purchase" and e.product_id is not None
    }


def assert_list_reply(body: dict[str, Any], *, limit: int) -> None:
    assert set(body) == {"request_id", "strategy", "variant", "degraded", "items"}
    assert body["variant"] == "default"  # no experiment configured
    assert len(body["request_id"]) == 32
    assert 0 < len(body["items"]) <= limit
    for item in body["items"]:
        assert item["product_id"] and item["reason"]
        assert isinstance(item["score"], float)


# --- personalised -----------------------------------------------------------------------------


def test_user_recommendations_are_personal_with_reasons(world: World) -> None:
    # GIVEN a customer with a purchase history and a stored profile
    client = make_client(world)
    user = some_user(world)
    # WHEN their recommendations are asked for
    r = client.get(f"/users/{user}/recommendations", params={"limit": 8})
    # THEN a full personalised list comes back, each item with a title and a reason
    assert r.status_code == 200
    body = r.json()
    assert_list_reply(body, limit=8)
    assert body["strategy"] == "personalized" and body["degraded"] is False
    assert len(body["items"]) == 8
    assert all(i["title"] == world.products[i["product_id"]]["title"] for i in body["items"])
    reasons = {i["reason"].split(" ")[0] for i in body["items"]}
    assert reasons <= {"buy", "often", "because", "customers", "trending", "popular", "matches"}
    assert r.headers["Cache-Control"] == "private, max-age=300"
    assert r.headers["X-Request-ID"] == body["request_id"]


def test_buy_again_off_excludes_everything_the_user_bought(world: World) -> None:
    # GIVEN the exclude-bought rule (buy_again off)
    client = make_client(world, ranking_buy_again=False)
    user = some_user(world)
    # WHEN recommendations are asked for
    items = client.get(f"/users/{user}/recommendations", params={"limit": 20}).json()["items"]
    # THEN none of the products the user bought is offered
    assert items
    assert not {i["product_id"] for i in items} & bought(world, user)


def test_category_and_price_filters_hold_for_every_item(world: World) -> None:
    # GIVEN a category that exists in the fixture catalog
    category = "Home"
    client = make_client(world)
    user = some_user(world)
    # WHEN recommendations are filtered by top-level category and a price band
    r = client.get(
        f"/users/{user}/recommendations",
        params={"limit": 10, "category": category, "price_min": 1.0, "price_max": 3.0},
    )
    # THEN every item satisfies both
    items = r.json()["items"]
    assert items
    for item in items:
        assert item["category"].split(" > ")[0] == category
        assert 1.0 <= item["price"] <= 3.0


def test_a_narrow_filter_still_fills_the_list_when_products_exist(world: World) -> None:
    # GIVEN a category with more matching products than the user's candidates cover
    category = "Kitchen & Dining"
    matching = [p for p, pl in world.products.items() if pl["category"].startswith(category)]
    limit = min(25, len(matching))
    client = make_client(world)
    # WHEN a long list in that category is asked for
    body = client.get(
        f"/users/{some_user(world)}/recommendations",
        params={"limit": limit, "category": category},
    ).json()
    # THEN it is full (topped up with trending / popular) and stays in the category
    assert len(body["items"]) == limit
    assert len({i["product_id"] for i in body["items"]}) == limit
    assert all(i["category"].startswith(category) for i in body["items"])


def test_max_per_category_caps_the_list(world: World) -> None:
    # GIVEN a cap of 2 items per top-level category
    client = make_client(world, ranking_max_per_category=2)
    user = some_user(world)
    # WHEN a long list is asked for
    items = client.get(f"/users/{user}/recommendations", params={"limit": 10}).json()["items"]
    # THEN no top-level category appears more than twice
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[item["category"].split(" > ")[0]] += 1
    assert items and max(counts.values()) <= 2


def test_diversity_spreads_the_list_over_more_categories(world: World) -> None:
    # GIVEN the same user asked with diversity 0 and 0.9
    client = make_client(world)
    user = some_user(world)

    def spread(diversity: float) -> tuple[int, float]:
        items = client.get(
            f"/users/{user}/recommendations", params={"limit": 10, "diversity": diversity}
        ).json()["items"]
        vecs = np.stack([world.vectors[i["product_id"]] for i in items])
        sims = vecs @ vecs.T
        mean_sim = float((sims.sum() - len(items)) / (len(items) * (len(items) - 1)))
        return len({i["category"] for i in items}), mean_sim

    # WHEN both lists are compared
    (cats0, sim0), (cats9, sim9) = spread(0.0), spread(0.9)
    # THEN the diverse list's items are less alike (and cover at least as many categories)
    assert sim9 < sim0
    assert cats9 >= cats0


def test_unknown_user_gets_trending_or_popular_not_degraded(world: World) -> None:
    # GIVEN a user with no profile
    client = make_client(world)
    # WHEN they ask
    body = client.get("/users/nobody-here/recommendations", params={"limit": 5}).json()
    # THEN the cold-start list comes back, complete and not marked degraded
    assert body["strategy"] in {"trending", "popular"}
    assert body["degraded"] is False
    assert len(body["items"]) == 5


def test_store_outage_degrades_to_aggregates_never_5xx(world: World) -> None:
    # GIVEN Qdrant failing on every call
    client = make_client(world, store=BrokenStore())
    user = some_user(world)
    # WHEN every list endpoint is called
    replies = [
        client.get(f"/users/{user}/recommendations", params={"limit": 5}),
        client.get(f"/products/{next(iter(world.products))}/similar", params={"limit": 5}),
        client.get(f"/products/{next(iter(world.products))}/bought-together"),
        client.get("/trending", params={"limit": 5}),
        client.get("/search", params={"q": "candle", "limit": 5}),
        client.post("/recommendations/cart", json={"product_ids": [next(iter(world.products))]}),
    ]
    # THEN each answers 200 with a non-empty degraded list and no-store caching
    for r in replies:
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["items"], body
    degraded = [r.json()["degraded"] for r in replies]
    assert degraded[0] and degraded[1] and degraded[4] and degraded[5]
    assert replies[0].headers["Cache-Control"] == "no-store"
    # AND the degraded search reply does not present its fallback products as matches
    search = replies[4].json()
    assert search["matched"] is False and all(i["match"] is False for i in search["items"])


def test_aggregates_outage_still_answers_from_the_profile(world: World) -> None:
    # GIVEN aggregates that cannot be loaded (S3 down)
    def broken() -> Aggregates:
        raise StoreError("s3 unreachable")

    settings = world.settings
    rec = Recommender(settings=settings, store=world.store, aggregates=broken, clock=lambda: SPLIT)
    cached = CachedRecommender(rec, cache=MemoryCache(), settings=settings)
    app = build_app(recommend.router, services=Services(settings, recommender=cached))
    client = TestClient(app)
    # WHEN a known user asks
    body = client.get(f"/users/{some_user(world)}/recommendations").json()
    # THEN ranking still works from vectors, and the reply says it is degraded
    assert body["items"] and body["degraded"] is True
    assert body["strategy"] == "personalized"


# --- cache -------------------------------------------------------------------------------------


def test_second_call_is_a_cache_hit_until_the_profile_changes(world: World) -> None:
    # GIVEN a client with an in-process cache
    client = make_client(world)
    user = some_user(world)
    url = f"/users/{user}/recommendations"
    first = client.get(url, params={"limit": 6})
    second = client.get(url, params={"limit": 6})
    # THEN the second call is served from the cache with the same items and a new request id
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert first.json()["items"] == second.json()["items"]
    assert first.json()["request_id"] != second.json()["request_id"]
    # WHEN the profile is updated (new version, buying something new)
    owner = f"u#{user}"
    extra_pid = next(p for p in world.products if p not in bought(world, user))
    events = [
        *world.history[owner],
        ProfileEvent("purchase", SPLIT - 60, extra_pid, None, "x", owner),
    ]
    world.store.upsert(
        world.settings.users_collection, [world.user_point(owner, events, version=2)]
    )
    try:
        third = client.get(url, params={"limit": 6})
        # THEN the old entry is unreachable: a miss, computed on the new profile
        assert third.headers["X-Cache"] == "miss"
    finally:
        world.store.upsert(
            world.settings.users_collection,
            [world.user_point(owner, world.history[owner], version=3)],
        )


def test_redis_cache_is_used_when_configured(world: World, redis_url: str) -> None:
    # GIVEN a real Redis behind the cache
    settings = world.settings.model_copy(update={"redis_url": redis_url, "cache_prefix": "t-api"})
    cache = make_cache(settings)
    cache.clear()
    client = make_client(world, cache=cache, redis_url=redis_url, cache_prefix="t-api")
    url = f"/products/{next(iter(world.products))}/similar"
    # WHEN the same similar-items list is asked twice
    first, second = client.get(url), client.get(url)
    # THEN the second comes from Redis
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert first.json()["items"] == second.json()["items"]
    cache.clear()


def test_redis_down_means_no_cache_not_an_error(world: World) -> None:
    # GIVEN redis_url pointing at a closed port
    settings = world.settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    client = make_client(world, cache=make_cache(settings), redis_url="redis://127.0.0.1:1/0")
    user = some_user(world)
    # WHEN lists are asked for twice
    replies = [client.get(f"/users/{user}/recommendations") for _ in range(2)]
    # THEN both succeed, computed each time
    assert [r.status_code for r in replies] == [200, 200]
    assert [r.headers["X-Cache"] for r in replies] == ["miss", "miss"]
    assert replies[0].json()["items"] == replies[1].json()["items"]


# --- per-product ---------------------------------------------------------------------------


def test_similar_products_exclude_the_product_and_honour_filters(world: World) -> None:
    # GIVEN a product
    client = make_client(world)
    pid = some_product_with_neighbours(world)
    # WHEN similar products under 5 pounds are asked for
    r = client.get(f"/products/{pid}/similar", params={"limit": 5, "price_max": 5})
    # THEN the product itself is not among them, all are under 5 and share words or category
    body = r.json()
    assert body["strategy"] == "similar" and len(body["items"]) == 5
    assert pid not in {i["product_id"] for i in body["items"]}
    assert all(i["price"] <= 5 for i in body["items"])
    assert all(i["reason"].startswith("similar to") for i in body["items"])
    assert r.headers["Cache-Control"] == "public, max-age=3600"


def test_similar_unknown_product_is_404(world: World) -> None:
    assert make_client(world).get("/products/NOPE/similar").status_code == 404


def some_product_with_neighbours(world: World) -> str:
    best = max(world.products, key=lambda p: len(world.aggregates.bought_with(p, limit=50)))
    return best


def test_bought_together_uses_co_purchase(world: World) -> None:
    # GIVEN the product with the most co-purchase neighbours
    client = make_client(world)
    pid = some_product_with_neighbours(world)
    expected = {p for p, _ in world.aggregates.bought_with(pid, limit=50)}
    # WHEN bought-together is asked
    body = client.get(f"/products/{pid}/bought-together", params={"limit": 5}).json()
    # THEN its items are co-purchase neighbours, explained as such
    assert body["strategy"] == "bought_together"
    assert {i["product_id"] for i in body["items"]} <= expected
    assert all(i["reason"].startswith("often bought with") for i in body["items"])


def test_bought_together_with_thin_support_tops_up_with_similar(world: World) -> None:
    # GIVEN the product with the fewest co-purchase neighbours
    client = make_client(world)
    pid = min(world.products, key=lambda p: len(world.aggregates.bought_with(p, limit=50)))
    support = len(world.aggregates.bought_with(pid, limit=50))
    # WHEN more items are asked than its co-purchase list has
    body = client.get(f"/products/{pid}/bought-together", params={"limit": support + 5}).json()
    # THEN the list is filled with complementary similar items
    assert len(body["items"]) == support + 5
    assert "similar" in body["strategy"]
    assert any(i["reason"].startswith("goes well with") for i in body["items"])


def test_cart_recommendations_complement_and_never_repeat_the_cart(world: World) -> None:
    # GIVEN a cart of two products
    client = make_client(world)
    cart = sorted(world.products)[:2]
    # WHEN complements are asked for, with and without a user
    anon = client.post("/recommendations/cart", json={"product_ids": cart, "limit": 6}).json()
    user = client.post(
        "/recommendations/cart",
        json={"product_ids": cart, "user_id": some_user(world), "limit": 6},
    ).json()
    # THEN neither list repeats the cart
    for body in (anon, user):
        assert body["strategy"] == "cart" and len(body["items"]) == 6
        assert not {i["product_id"] for i in body["items"]} & set(cart)


def test_cart_rejects_an_empty_cart(world: World) -> None:
    assert (
        make_client(world).post("/recommendations/cart", json={"product_ids": []}).status_code
        == 422
    )


# --- trending, search, health --------------------------------------------------------------


def test_trending_in_a_category(world: World) -> None:
    # GIVEN a client
    client = make_client(world)
    # WHEN trending is asked for overall and in one category
    overall = client.get("/trending", params={"limit": 5}).json()
    home = client.get("/trending", params={"limit": 5, "category": "Home"}).json()
    # THEN both are full; the category list stays in its category
    assert len(overall["items"]) == 5 and overall["strategy"] in {"trending", "popular"}
    assert home["items"] and all(i["category"].startswith("Home") for i in home["items"])


def test_search_finds_products_by_meaning_and_blends_the_user(world: World) -> None:
    # GIVEN a query about candles
    client = make_client(world)
    # WHEN searching anonymously and as a known user
    anon = client.get("/search", params={"q": "candle holder", "limit": 5}).json()
    personal = client.get(
        "/search", params={"q": "candle holder", "limit": 5, "user_id": some_user(world)}
    ).json()
    # THEN the anonymous top hit mentions the query's subject; the user's search is blended
    assert anon["strategy"] == "search"
    assert any("CANDLE" in i["title"] or "T-LIGHT" in i["title"] for i in anon["items"][:3])
    assert personal["strategy"] == "search+profile"
    assert len(personal["items"]) == 5


def test_search_says_whether_its_items_match(world: World) -> None:
    # GIVEN a query the catalog matches, one near some products but matching none (this
    # sample sells no kettle), and one far from everything
    client = make_client(world)
    found = client.get("/search", params={"q": "candle holder", "limit": 5}).json()
    near = client.get("/search", params={"q": "kettle", "limit": 5}).json()
    nothing = client.get("/search", params={"q": "1234567", "limit": 5}).json()
    # THEN matches are flagged as matches
    assert found["matched"] is True and found["strategy"] == "search"
    assert found["items"] and all(i["match"] is True for i in found["items"])
    # AND the near query gets the nearest products, each flagged as not a match
    assert near["matched"] is False and near["strategy"] == "search:fallback"
    assert near["items"] and all(i["match"] is False for i in near["items"])
    assert all("no exact match" in i["reason"] for i in near["items"])
    # AND the far one an empty list
    assert nothing["matched"] is False and nothing["strategy"] == "search:no-match"
    assert nothing["items"] == []
    # AND other lists carry no search flags
    trending = client.get("/trending", params={"limit": 3}).json()
    assert "matched" not in trending and all("match" not in i for i in trending["items"])


def test_health_reports_store_and_cache(world: World) -> None:
    body = make_client(world).get("/health").json()
    assert body["status"] == "ok" and body["products"] == len(world.products)
    assert body["cache"] == "memory"
    # no fitted ranking in these aggregates: the fixed weights serve, and /health says so
    assert body["ranking"] == {"status": "fixed"}


# --- "for you" without past purchases, "buy again" apart ------------------------------------


def test_for_you_leaves_past_purchases_out_by_default(world: World) -> None:
    # GIVEN the default settings and a customer with a purchase history
    client = make_client(world)
    user = some_user(world)
    # WHEN "for you" is asked for
    items = client.get(f"/users/{user}/recommendations", params={"limit": 20}).json()["items"]
    # THEN nothing they bought is offered, and no item says "buy it again"
    assert len(items) == 20
    assert not {i["product_id"] for i in items} & bought(world, user)
    assert not any(i["reason"].startswith("buy it again") for i in items)


def test_include_bought_overrides_the_stores_setting_per_request(world: World) -> None:
    # GIVEN a shop that leaves purchases out (the default) and a wholesaler that lets them in
    shop, wholesaler = make_client(world), make_client(world, ranking_buy_again=True)
    user = some_user(world)
    url = f"/users/{user}/recommendations"

    def ids(client: TestClient, **params: Any) -> set[str]:
        body = client.get(url, params={"limit": 10, **params}).json()
        return {i["product_id"] for i in body["items"]}

    # WHEN each is asked as configured and with the request overriding it
    # THEN include_bought=true brings purchases into the shop's list, false keeps them out of
    # the wholesaler's, and the override never answers from the other setting's cache entry
    assert not ids(shop) & bought(world, user)
    assert ids(shop, include_bought="true") & bought(world, user)
    assert ids(wholesaler) & bought(world, user)
    assert not ids(wholesaler, include_bought="false") & bought(world, user)
    assert client_cache_state(shop, url, include_bought="true") == "hit"
    assert client_cache_state(shop, url, include_bought="false") == "miss"


def client_cache_state(client: TestClient, url: str, **params: Any) -> str:
    return str(client.get(url, params={"limit": 10, **params}).headers["X-Cache"])


def test_diversity_visibly_changes_for_you(world: World) -> None:
    # GIVEN the default "for you" of a customer
    client = make_client(world)
    user = some_user(world)
    url = f"/users/{user}/recommendations"
    # WHEN asked with diversity 0 and 0.7
    plain = [i["product_id"] for i in client.get(url, params={"limit": 10}).json()["items"]]
    varied = client.get(url, params={"limit": 10, "diversity": 0.7}).json()["items"]
    # THEN the lists differ in what they show, not only in order, under the same rules
    assert len(varied) == 10
    assert set(plain) != {i["product_id"] for i in varied}
    assert not {i["product_id"] for i in varied} & bought(world, user)


def test_buy_again_lists_the_users_purchases_best_first(world: World) -> None:
    # GIVEN a customer with purchases
    client = make_client(world)
    user = some_user(world)
    url = f"/users/{user}/buy-again"
    # WHEN their "buy again" list is asked for, twice
    first = client.get(url, params={"limit": 50})
    second = client.get(url, params={"limit": 50})
    # THEN it is a list reply of their purchases only, best first, each "buy it again", cached
    # per user like "for you"
    body = first.json()
    assert_list_reply(body, limit=50)
    assert body["strategy"] == "buy_again" and body["degraded"] is False
    items = body["items"]
    assert {i["product_id"] for i in items} == bought(world, user) & set(world.products)
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
    assert all(i["reason"].startswith("buy it again: you bought this") for i in items)
    assert all(i["title"] == world.products[i["product_id"]]["title"] for i in items)
    assert first.headers["Cache-Control"] == "private, max-age=300"
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert second.json()["items"] == items


def test_buy_again_ranks_by_frequency_recency_and_the_items_repeat_rate(world: World) -> None:
    # GIVEN a profile: `often` bought 4 times, `once_old` once a year ago, and two products
    # bought once on the same recent day — one its buyers often re-buy, one they rarely do
    rates = {
        p: world.aggregates.repeat_rate(p)
        for p, (buyers, _) in world.aggregates.repeat_buyers.items()
        if buyers >= 3 and p in world.products
    }
    assert len(rates) >= 4
    by_rate = sorted(rates, key=lambda p: (rates[p], p))
    low, high = by_rate[0], by_rate[-1]
    often, once_old = by_rate[1], by_rate[2]
    assert rates[high] > rates[low]  # type: ignore[operator]
    day = 86400.0
    stats = {
        often: [4, SPLIT - 90 * day, SPLIT - 3 * day, "o#1"],
        once_old: [1, SPLIT - 365 * day, SPLIT - 365 * day, "o#2"],
        high: [1, SPLIT - 10 * day, SPLIT - 10 * day, "o#3"],
        low: [1, SPLIT - 10 * day, SPLIT - 10 * day, "o#3"],
    }
    point = PointIn(
        "repeat-shopper",
        {"long": world.vectors[often], "short": world.vectors[often]},
        {
            "kind": "user",
            "recent_purchases": [often, high, low, once_old],
            "purchase_stats": stats,
            "last_event_ts": SPLIT - 3 * day,
            "profile_version": 1,
        },
    )
    world.store.upsert(world.settings.users_collection, [point])
    try:
        # WHEN their "buy again" list is asked for
        body = make_client(world).get("/users/repeat-shopper/buy-again").json()
    finally:
        world.store.delete(world.settings.users_collection, ["repeat-shopper"])
    # THEN frequency leads, the re-bought product beats the rarely re-bought one, the old
    # one-off comes last; the reasons count the purchases
    assert [i["product_id"] for i in body["items"]] == [often, high, low, once_old]
    assert body["items"][0]["reason"] == "buy it again: you bought this 4 times"
    assert body["items"][1]["reason"] == "buy it again: you bought this before"


def test_buy_again_for_a_shopper_who_bought_nothing_is_empty(world: World) -> None:
    body = make_client(world).get("/users/nobody-here/buy-again").json()
    assert body["strategy"] == "buy_again"
    assert body["items"] == [] and body["degraded"] is False


def test_buy_again_with_the_store_down_is_degraded_never_5xx(world: World) -> None:
    r = make_client(world, store=BrokenStore()).get(f"/users/{some_user(world)}/buy-again")
    assert r.status_code == 200
    assert r.json()["degraded"] is True
    assert r.headers["Cache-Control"] == "no-store"


# --- reasons name the right product and verb ------------------------------------------------


def _titles(world: World, pids: set[str]) -> set[str]:
    return {str(world.products[p]["title"]) for p in pids if p in world.products}


def test_for_you_says_bought_only_of_products_the_user_bought(world: World) -> None:
    # GIVEN customers with purchase histories
    client = make_client(world)
    users = [o[2:] for o, evs in sorted(world.history.items()) if len(evs) >= 5][:5]
    for user in users:
        # WHEN their lists are asked for
        items = client.get(f"/users/{user}/recommendations", params={"limit": 20}).json()["items"]
        # THEN every "because you bought X" names one of their own purchases
        titles = _titles(world, bought(world, user))
        for item in items:
            if item["reason"].startswith("because you bought "):
                assert item["reason"].removeprefix("because you bought ") in titles


def test_a_shopper_who_only_viewed_and_carted_is_never_told_bought(world: World) -> None:
    # GIVEN a shopper who viewed two products and carted a third, and bought nothing; content
    # the only signal, so every reason names one of them
    # (two products of one top category, the carted one from another, so each names some items)
    def top(pid: str) -> str:
        return str(world.products[pid]["category"]).split(" > ")[0]

    first = sorted(world.products)[10]
    viewed = [p for p in sorted(world.products) if top(p) == top(first)][:2]
    carted = next(p for p in sorted(world.products) if top(p) != top(first))
    taste = world.vectors[viewed[0]] + world.vectors[viewed[1]] + 2 * world.vectors[carted]
    taste = taste / np.linalg.norm(taste)
    point = PointIn(
        "browser-1",
        {"long": taste, "short": taste},
        {
            "kind": "user",
            "recent_product_ids": [carted, *viewed],
            "recent_carted": [carted],
            "recent_purchases": [],
            "last_event_ts": SPLIT,
            "short_as_of": SPLIT,
            "profile_version": 1,
        },
    )
    world.store.upsert(world.settings.users_collection, [point])
    content_only = {
        "ranking_w_collaborative": 0.0,
        "ranking_w_similar_users": 0.0,
        "ranking_w_popularity": 0.0,
        "ranking_w_trending": 0.0,
    }
    try:
        # WHEN their list is asked for
        items = (
            make_client(world, **content_only)
            .get("/users/browser-1/recommendations", params={"limit": 10})
            .json()["items"]
        )
    finally:
        world.store.delete(world.settings.users_collection, ["browser-1"])
    # THEN reasons say viewed / carted of the right products, never bought
    reasons = [i["reason"] for i in items]
    assert reasons and not any("bought" in r for r in reasons)
    carted_title = world.products[carted]["title"]
    viewed_titles = _titles(world, set(viewed))
    for r in reasons:
        assert r == f"because you carted {carted_title}" or (
            r.startswith("because you viewed ")
            and r.removeprefix("because you viewed ") in viewed_titles
        ), r
    assert f"because you carted {carted_title}" in reasons


def test_cart_reasons_name_only_products_in_the_cart(world: World) -> None:
    # GIVEN a cart of two products, asked anonymously and by a customer with a history
    client = make_client(world)
    cart = [some_product_with_neighbours(world), sorted(world.products)[0]]
    cart_titles = _titles(world, set(cart))
    user = some_user(world)
    for body in (
        client.post("/recommendations/cart", json={"product_ids": cart, "limit": 10}).json(),
        client.post(
            "/recommendations/cart", json={"product_ids": cart, "user_id": user, "limit": 10}
        ).json(),
    ):
        # THEN a reason that names a product names one in the cart, saying so
        named = [i["reason"] for i in body["items"] if i["reason"].startswith(("often", "goes"))]
        assert named
        for reason in named:
            assert reason.endswith(" in your cart"), reason
            title = reason.removesuffix(" in your cart").split(" with ", 1)[1]
            assert title in cart_titles, reason
        assert not any("you bought" in i["reason"] for i in body["items"])


# --- in_stock means what it says, on every route and both store backends ------------------


@pytest.fixture(scope="module", params=["edge", "qdrant"])
def backend(request: pytest.FixtureRequest, world: World) -> Iterator[VectorStore]:
    """The world's store, or the same points copied into the Qdrant client's engine."""
    if request.param == "edge":
        yield world.store
        return
    from recsys.store.qdrant import QdrantStore

    store = QdrantStore(":memory:")
    ensure_collections(store, world.settings)
    for collection in (world.settings.products_collection, world.settings.users_collection):
        store.upsert(
            collection,
            [
                PointIn(r.key, r.vectors, dict(r.payload))
                for r in world.store.scroll(collection, with_vectors=True)
            ],
        )
    yield store
    store.close()


def _stock_of(items: list[dict[str, Any]]) -> set[bool]:
    return {bool(i["in_stock"]) for i in items}


def test_in_stock_filter_means_what_it_says_on_every_route(
    world: World, backend: VectorStore
) -> None:
    # GIVEN a catalog with every seventh product out of stock and a customer who bought one
    client = make_client(world, store=backend)
    out_of_stock = {p for p, pl in world.products.items() if not pl["in_stock"]}
    user = next(o[2:] for o in sorted(world.history) if bought(world, o[2:]) & out_of_stock)
    pid = some_product_with_neighbours(world)
    routes = {
        "for you": (f"/users/{user}/recommendations", {"limit": 30}),
        "buy again": (f"/users/{user}/buy-again", {"limit": 50}),
        "similar": (f"/products/{pid}/similar", {"limit": 30}),
        "search": ("/search", {"q": "christmas decoration", "limit": 30}),
    }
    for name, (url, params) in routes.items():
        # WHEN each list is asked with in_stock true, false and without it
        lists = {
            flag: client.get(url, params={**params, **({"in_stock": flag} if flag else {})})
            for flag in ("true", "false", None)
        }
        for flag, r in lists.items():
            assert r.status_code == 200, (name, flag, r.text)
        got = {flag: r.json()["items"] for flag, r in lists.items()}
        # THEN true: only in stock; false: only out of stock; absent: both kinds
        assert got["true"] and _stock_of(got["true"]) == {True}, name
        assert got["false"] and _stock_of(got["false"]) == {False}, name
        assert _stock_of(got[None]) == {True, False}, name
