"""The reply cache: the same behaviour over the in-process and the Redis backends."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from recsys.cache import Cache, MemoryCache, RedisCache, cache_key, make_cache
from recsys.core.config import Settings


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest) -> Iterator[Cache]:
    if request.param == "memory":
        yield MemoryCache(max_entries=100, prefix="t")
        return
    url = request.getfixturevalue("redis_url")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    redis_cache = RedisCache(url, timeout_s=0.5, prefix=prefix)
    yield redis_cache
    redis_cache.clear()


def key(cache: Cache, name: str) -> str:
    return cache_key(cache.prefix, "user", subject=name, version=1, params={"limit": 10})


def test_set_then_get_round_trips_json(cache: Cache) -> None:
    # GIVEN a JSON value stored under a key
    value = {"strategy": "personalized", "items": [{"product_id": "A", "score": 0.5}]}
    cache.set(key(cache, "a"), value, ttl_s=60)
    # WHEN it is read back, and another key is read
    # THEN the value comes back equal and the other key misses
    assert cache.get(key(cache, "a")) == value
    assert cache.get(key(cache, "b")) is None


def test_entries_expire(cache: Cache) -> None:
    # GIVEN an entry with a one-second TTL
    cache.set(key(cache, "short"), [1, 2], ttl_s=1)
    assert cache.get(key(cache, "short")) == [1, 2]
    # WHEN its TTL has passed
    time.sleep(1.2)
    # THEN it is gone
    assert cache.get(key(cache, "short")) is None


def test_zero_ttl_stores_nothing(cache: Cache) -> None:
    cache.set(key(cache, "z"), {"x": 1}, ttl_s=0)
    assert cache.get(key(cache, "z")) is None


def test_clear_drops_entries(cache: Cache) -> None:
    cache.set(key(cache, "c"), 1, ttl_s=60)
    cache.clear()
    assert cache.get(key(cache, "c")) is None


def test_key_includes_version_and_ignores_parameter_order() -> None:
    # GIVEN the same parameters in two orders, and a new profile version
    a = cache_key("p", "user", subject="u1", version=3, params={"limit": 5, "category": "X"})
    b = cache_key("p", "user", subject="u1", version=3, params={"category": "X", "limit": 5})
    c = cache_key("p", "user", subject="u1", version=4, params={"limit": 5, "category": "X"})
    # THEN order does not matter, the version does
    assert a == b
    assert a != c
    assert a.startswith("p:user:u1:v3:")


def test_memory_cache_evicts_least_recently_used() -> None:
    # GIVEN a cache of two entries where "a" was read after "b" was written
    cache = MemoryCache(max_entries=2)
    cache.set("a", 1, ttl_s=60)
    cache.set("b", 2, ttl_s=60)
    assert cache.get("a") == 1
    # WHEN a third entry arrives
    cache.set("c", 3, ttl_s=60)
    # THEN "b" (least recently used) is evicted
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_redis_outage_is_a_miss_and_pauses_redis() -> None:
    # GIVEN a Redis URL on a closed port
    cache = RedisCache("redis://127.0.0.1:1/0", timeout_s=0.05)
    # WHEN values are written and read
    cache.set("k", {"v": 1}, ttl_s=60)
    got = cache.get("k")
    # THEN nothing raises, reads miss, and Redis is skipped for a while after the failure
    assert got is None
    assert cache.failures == 1
    assert cache.available is False


def test_make_cache_picks_the_backend_from_settings(tmp_path: object) -> None:
    assert make_cache(Settings(redis_url=None)).backend == "memory"
    assert make_cache(Settings(redis_url="redis://127.0.0.1:1/0")).backend == "redis"
