"""The two triggers no emulator fires: S3 ObjectCreated notifications and EventBridge schedules.

S3: moto stores objects but delivers no notifications, so :class:`S3Watcher` lists the bucket
on a short interval and hands each new or changed object under the notification's filter to
the function, in the shape S3 sends to Lambda. Polling (rather than hooking our own puts) also
catches uploads made by any client — ``aws s3 cp --endpoint-url ...`` included.

Schedules: :class:`Scheduler` invokes the function with a real "Scheduled Event" payload every
``interval_s`` seconds (the nightly cron is not worth emulating on a laptop) and on demand.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from recsys.local.template import S3Source

log = logging.getLogger(__name__)


def s3_event(
    *, bucket: str, key: str, size: int, etag: str, region: str = "us-east-1"
) -> dict[str, Any]:
    """An S3 ObjectCreated:Put notification as Lambda receives it (key URL-encoded, like S3)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": now,
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "LOCAL"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper()},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "local",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "LOCAL"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": etag.strip('"'),
                        "sequencer": f"{int(datetime.now(UTC).timestamp() * 1e6):X}",
                    },
                },
            }
        ]
    }


def scheduled_event(*, rule: str, region: str = "us-east-1") -> dict[str, Any]:
    """An EventBridge "Scheduled Event" as Lambda receives it from a schedule rule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/{rule}"],
        "detail": {},
    }


class S3Watcher:
    """Routes new objects of one bucket to a function, honouring the notification filter."""

    def __init__(
        self,
        *,
        s3: Any,
        bucket: str,
        source: S3Source,
        handler: Callable[[dict[str, Any]], Any],
        interval_s: float = 1.0,
        region: str = "us-east-1",
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.source = source
        self.handler = handler
        self.interval_s = interval_s
        self.region = region
        self.delivered = 0
        self.errors = 0
        self._seen: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _list(self) -> list[dict[str, Any]]:
        objects: list[dict[str, Any]] = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.source.prefix
        )
        for page in pages:
            objects.extend(page.get("Contents", []))
        return objects

    def prime(self) -> None:
        """Mark what is already in the bucket as delivered (objects restored at start-up)."""
        with self._lock:
            for obj in self._list():
                self._seen[obj["Key"]] = obj["ETag"]

    def scan(self) -> int:
        """Deliver one notification per new or overwritten object; returns how many."""
        delivered = 0
        with self._lock:
            for obj in self._list():
                key, etag = obj["Key"], obj["ETag"]
                if self._seen.get(key) == etag or not self.source.matches(key):
                    continue
                # Marked first: S3 delivers at least once, a failed ingest is not retried here
                # either (the handler reports its own rejects).
                self._seen[key] = etag
                event = s3_event(
                    bucket=self.bucket, key=key, size=obj["Size"], etag=etag, region=self.region
                )
                try:
                    self.handler(event)
                except Exception:
                    self.errors += 1
                    log.exception("S3 notification for s3://%s/%s failed", self.bucket, key)
                delivered += 1
            self.delivered += delivered
        return delivered

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.scan()
            except Exception:
                if not self._stop.is_set():
                    log.exception("listing s3://%s failed; retrying", self.bucket)

    def start(self) -> None:
        """Scan on a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name=f"s3-{self.bucket}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the scan in hand."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


class Scheduler:
    """Fires a schedule's function every ``interval_s`` seconds (0: only on demand)."""

    def __init__(
        self,
        *,
        rule: str,
        handler: Callable[[dict[str, Any]], Any],
        interval_s: float,
        region: str = "us-east-1",
    ) -> None:
        self.rule = rule
        self.handler = handler
        self.interval_s = interval_s
        self.region = region
        self.runs = 0
        self.last_result: Any = None
        self.last_error: str | None = None
        self.last_run_at: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def fire(self) -> Any:
        """Invoke the function now with a Scheduled Event (one run at a time); returns its reply."""
        with self._lock:
            self.last_run_at = datetime.now(UTC).isoformat()
            try:
                self.last_result = self.handler(scheduled_event(rule=self.rule, region=self.region))
                self.last_error = None
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                raise
            finally:
                self.runs += 1
            return self.last_result

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.fire()
            except Exception:
                log.exception("scheduled run of %s failed", self.rule)

    def start(self) -> None:
        """Fire on a timer on a daemon thread (nothing when ``interval_s`` is 0)."""
        if self.interval_s > 0:
            self._thread = threading.Thread(
                target=self._run, name=f"schedule-{self.rule}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the timer; a run in progress finishes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
