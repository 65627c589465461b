"""Redis going away mid-run: replies go on as misses, and the loss is visible (state, metric)."""

from __future__ import annotations

from typing import Any

import pytest

from recsys.cache import RedisCache
from recsys.core.observability import registry

pytestmark = pytest.mark.integration


def test_a_stopped_redis_shows_down_and_is_counted(private_redis: Any) -> None:
    # GIVEN a cache on a private Redis that answers
    cache = RedisCache(private_redis.url, timeout_s=0.2, prefix="t:outage")
    cache.set("t:outage:k", {"v": 1}, ttl_s=60)
    assert cache.get("t:outage:k") == {"v": 1}
    assert cache.state()["state"] == "ok"
    before = registry.total("CacheErrors")
    # WHEN Redis is stopped mid-run
    private_redis.stop()
    # THEN reads are misses, writes are dropped, nothing raises
    assert cache.get("t:outage:k") is None
    cache.set("t:outage:k2", {"v": 2}, ttl_s=60)
    # AND the state says down with the cause, and the failures are counted as a metric
    state = cache.state()
    assert state["state"] == "down" and state["failures"] >= 1
    assert "Error" in state["error"]
    assert registry.total("CacheErrors") > before
