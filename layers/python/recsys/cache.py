"""Reply cache: Redis when ``settings.redis_url`` is set, an in-process TTL cache otherwise.

Keys carry everything a reply depends on — the endpoint, the user's ``profile_version`` (or the
product), and the request parameters — so a profile update makes old entries unreachable
without scanning or deleting anything; they simply expire.

A cache must never take the API down: every Redis error (refused connection, timeout, a
server going away mid-call) is swallowed and counted, the call behaves as a miss, and after a
failure Redis is skipped for ``_RETRY_AFTER_S`` so an outage costs one timeout, not one per
request. Each failure is counted in the ``CacheErrors`` metric (dimension ``cause``), and
:meth:`Cache.state` — what ``/health`` shows — pings Redis, so a lost cache is visible as
``down`` there instead of hiding behind replies that are merely slower.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from recsys.core.config import Settings
from recsys.core.observability import metric

_RETRY_AFTER_S = 5.0


def cache_key(
    prefix: str,
    endpoint: str,
    *,
    subject: str,
    version: int | str | None = None,
    params: Mapping[str, Any] | None = None,
) -> str:
    """``prefix:endpoint:subject:v<version>:<hash of params>``; parameter order never matters."""
    canonical = json.dumps(params or {}, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:20]
    return f"{prefix}:{endpoint}:{subject}:v{version if version is not None else 0}:{digest}"


class Cache:
    """A JSON-value cache with per-entry TTL. Backends override ``_get`` / ``_set``."""

    backend = "none"
    #: Namespace of the keys this cache owns (what ``clear`` drops).
    prefix = "recsys:v1"

    def get(self, key: str) -> Any | None:
        """The cached value, or None on a miss (or when the backend is unavailable)."""
        raw = self._get(key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def set(self, key: str, value: Any, *, ttl_s: int) -> None:
        """Store ``value`` for ``ttl_s`` seconds (0 or less: not stored)."""
        if ttl_s > 0:
            self._set(key, json.dumps(value, separators=(",", ":")).encode(), ttl_s)

    def _get(self, key: str) -> bytes | None:
        raise NotImplementedError

    def _set(self, key: str, value: bytes, ttl_s: int) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        """Drop every entry this cache can reach (tests and benchmarks)."""
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """``{"backend", "state": "ok" | "down", ...}`` for /health."""
        return {"backend": self.backend, "state": "ok"}


class MemoryCache(Cache):
    """Bounded LRU with expiry, per process (each Lambda container has its own)."""

    backend = "memory"

    def __init__(self, *, max_entries: int = 10_000, prefix: str = "recsys:v1") -> None:
        self.prefix = prefix
        self._max = max_entries
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def _get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return entry[1]

    def _set(self, key: str, value: bytes, ttl_s: int) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + ttl_s, value)
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def state(self) -> dict[str, Any]:
        return {"backend": self.backend, "state": "ok", "entries": len(self._data)}


class RedisCache(Cache):
    """Redis with short timeouts; failures are misses and pause Redis use briefly."""

    backend = "redis"

    def __init__(self, url: str, *, timeout_s: float = 0.05, prefix: str = "recsys:v1") -> None:
        import redis

        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry_on_timeout=False
        )
        self.prefix = prefix
        self._down_until = 0.0
        self.failures = 0
        self.last_error: str | None = None

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: BaseException | None = None) -> None:
        self.failures += 1
        self._down_until = time.monotonic() + _RETRY_AFTER_S
        cause = type(exc).__name__ if exc is not None else "unknown"
        self.last_error = f"{cause}: {exc}"[:200] if exc is not None else cause
        metric("CacheErrors", 1, backend="redis", cause=cause)

    def state(self) -> dict[str, Any]:
        """Pings Redis (within the cache timeout): ``down`` while it does not answer."""
        try:
            self._client.ping()
        except self._errors as exc:
            self._failed(exc)
            return {
                "backend": self.backend,
                "state": "down",
                "failures": self.failures,
                "error": self.last_error,
            }
        self._down_until = 0.0
        return {"backend": self.backend, "state": "ok", "failures": self.failures}

    def _get(self, key: str) -> bytes | None:
        if not self.available:
            return None
        try:
            value = self._client.get(key)
        except self._errors as exc:
            self._failed(exc)
            return None
        return value if isinstance(value, bytes) else None

    def _set(self, key: str, value: bytes, ttl_s: int) -> None:
        if not self.available:
            return
        try:
            self._client.set(key, value, ex=ttl_s)
        except self._errors as exc:
            self._failed(exc)

    def clear(self) -> None:
        try:
            keys = list(self._client.scan_iter(match=f"{self.prefix}:*", count=500))
            if keys:
                self._client.delete(*keys)
        except self._errors as exc:
            self._failed(exc)


def make_cache(settings: Settings) -> Cache:
    """The cache ``settings`` ask for: Redis at ``redis_url``, else in-process."""
    if settings.redis_url:
        return RedisCache(
            settings.redis_url, timeout_s=settings.cache_timeout_s, prefix=settings.cache_prefix
        )
    return MemoryCache(max_entries=settings.cache_max_entries, prefix=settings.cache_prefix)
