"""Where the aggregates are kept: one gzip JSON object, ``aggregates/latest.json.gz``, in the
catalog bucket (``aggregates_backend = "s3"``, what the template sets) or under the data dir
(``"file"``, the embedded default, so the CLI works with no AWS at all); read through a
per-process cache of ``aggregates_ttl_s``.

The cache is process-wide on purpose, keyed by endpoint and bucket: the local stack runs the
nightly job and the read API in one process, and the writer's save must be what the readers
load next (as on Lambda, where each container reloads after the TTL). It holds one immutable
value per bucket and nothing else.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

from recsys.aggregates.compute import Aggregates
from recsys.core.config import Settings
from recsys.core.errors import DependencyError

__all__ = ["AGGREGATES_KEY", "AggregatesStore", "computed_at_iso"]

#: Where the aggregates live in the catalog bucket.
AGGREGATES_KEY = "aggregates/latest.json.gz"

_cache_lock = threading.Lock()
_cache: dict[tuple[str | None, str], tuple[float, Aggregates]] = {}


class AggregatesStore:
    """Save and load the aggregates of ``settings.catalog_bucket``."""

    def __init__(self, settings: Settings, *, s3: Any = None) -> None:
        self.settings = settings
        self._s3 = s3
        self._file = (
            settings.data_dir / AGGREGATES_KEY if settings.aggregates_backend == "file" else None
        )
        self._key = (
            (None, str(self._file))
            if self._file is not None
            else (settings.aws_endpoint_url, settings.catalog_bucket)
        )

    @property
    def where(self) -> str:
        """Where the aggregates live, for messages."""
        if self._file is not None:
            return str(self._file)
        return f"s3://{self.settings.catalog_bucket}/{AGGREGATES_KEY}"

    def _client(self) -> Any:
        if self._s3 is None:
            from recsys.core.aws import client

            self._s3 = client("s3", self.settings)
        return self._s3

    def save(self, agg: Aggregates) -> str:
        """Write ``agg``; returns its key. The process cache is replaced too, so the writer
        (and every reader in this process) reads the new value at once."""
        body = gzip.compress(json.dumps(agg.to_json(), separators=(",", ":")).encode(), 6)
        bucket = self.settings.catalog_bucket
        try:
            if self._file is not None:
                self._file.parent.mkdir(parents=True, exist_ok=True)
                tmp = self._file.with_suffix(".tmp")
                tmp.write_bytes(body)
                tmp.replace(self._file)  # atomic: a reader sees the old or the new object
            else:
                self._client().put_object(
                    Bucket=bucket,
                    Key=AGGREGATES_KEY,
                    Body=body,
                    ContentType="application/json",
                    ContentEncoding="gzip",
                )
        except Exception as exc:  # boto raises many types; callers need one
            raise DependencyError(f"cannot write aggregates to {self.where}: {exc}") from exc
        with _cache_lock:
            _cache[self._key] = (time.monotonic(), agg)
        return AGGREGATES_KEY

    def load(self, *, max_age_s: float | None = None) -> Aggregates:
        """The latest saved aggregates, re-read after ``aggregates_ttl_s``.

        None saved yet → empty ``Aggregates`` (``computed_at`` None): callers fall back to what
        they have. An unreachable bucket → the stale copy if one was loaded, else
        ``DependencyError``.
        """
        ttl = self.settings.aggregates_ttl_s if max_age_s is None else max_age_s
        with _cache_lock:
            hit = _cache.get(self._key)
        if hit is not None and time.monotonic() - hit[0] < ttl:
            return hit[1]
        try:
            body = self._read()
            agg = (
                Aggregates()
                if body is None
                else Aggregates.from_json(json.loads(gzip.decompress(body)))
            )
        except Exception as exc:  # network, permissions, missing bucket, a torn file
            if hit is not None:
                return hit[1]
            raise DependencyError(f"cannot read aggregates from {self.where}: {exc}") from exc
        with _cache_lock:
            _cache[self._key] = (time.monotonic(), agg)
        return agg

    def _read(self) -> bytes | None:
        """The stored object's bytes, None when nothing was saved yet."""
        if self._file is not None:
            return self._file.read_bytes() if self._file.exists() else None
        s3 = self._client()
        try:
            body: bytes = s3.get_object(Bucket=self.settings.catalog_bucket, Key=AGGREGATES_KEY)[
                "Body"
            ].read()
        except s3.exceptions.NoSuchKey:
            return None
        return body


def computed_at_iso(agg: Aggregates) -> str | None:
    """When ``agg`` was computed, as ISO 8601 UTC (None if never)."""
    if agg.computed_at is None:
        return None
    return datetime.fromtimestamp(agg.computed_at, UTC).isoformat()
