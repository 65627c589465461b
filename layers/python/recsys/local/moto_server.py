"""The moto server the local stack runs in a child process: ``python -m recsys.local.moto_server
PORT``.

- It exits when its parent is gone, so a ``recsys up`` killed without cleanup (kill -9) leaves
  no server behind; it ignores SIGINT, so Ctrl-C (sent to the whole process group) leaves it
  to the stack to stop it after the stack has used it for its shutdown.
- It serialises requests: moto's backends are not thread-safe (a DynamoDB Query racing the event
  log's parallel writes answered HTTP 500 for a large share of profile updates under load); only
  SQS long polls, which wait, run concurrently.
- A table Query reads only its partition: moto sorts and scans every item of the table per
  Query, which made each profile update cost O(table size) once the demo had loaded tens of
  thousands of events (safe here because requests are serialised).
- A queue's attributes are computed only when read: moto builds every attribute of a queue,
  three O(queue length) message counts among them, each time any one is read, and reads them
  once per message sent (``ContentBasedDeduplication``) and once per message received
  (``MessageRetentionPeriod``) — a 500-event POST took 15–20 s once a few thousand profile
  updates were queued.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

__all__ = ["main", "patch_partition_query", "patch_queue_attributes", "serialised"]

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def patch_partition_query() -> None:
    """Make moto's ``Table.query`` look only at the queried partition (same results)."""
    from moto.dynamodb.models.table import Table

    original = Table.query

    def query_one_partition(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name is not None or hash_key is None or not self.range_key_attr:
            return original(self, hash_key, *args, **kwargs)
        part = self.items.get(hash_key) or {}
        subset = sorted(part.values(), key=lambda item: item.range_key)
        self.all_items = lambda: subset
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query_one_partition  # type: ignore[method-assign]


class _QueueAttributes(Mapping[str, Any]):
    """A moto queue's attributes, each computed when it is read (same keys and values)."""

    def __init__(self, queue: Any) -> None:
        from moto.core.utils import camelcase_to_underscores

        self._queue = queue
        self._attr = camelcase_to_underscores
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        self._names = dict.fromkeys(names)

    def __getitem__(self, key: str) -> Any:
        if key not in self._names:
            raise KeyError(key)
        queue = self._queue
        if key == "Policy" and queue.policy:
            return queue.policy
        if key == "RedrivePolicy" and queue.redrive_policy:
            return json.dumps(queue.redrive_policy)
        value = getattr(queue, self._attr(key))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def patch_queue_attributes() -> None:
    """Make moto's ``Queue.attributes`` lazy; ``GetQueueAttributes`` still answers a dict."""
    from moto.sqs.models import Queue, SQSBackend

    Queue.attributes = property(_QueueAttributes)  # type: ignore[assignment,method-assign]
    original = SQSBackend.get_queue_attributes

    def get_queue_attributes(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return dict(original(self, *args, **kwargs))

    SQSBackend.get_queue_attributes = get_queue_attributes  # type: ignore[method-assign]


def serialised(app: WsgiApp) -> WsgiApp:
    """``app`` answering one request at a time, except SQS long polls."""
    lock = threading.Lock()

    def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET") == "AmazonSQS.ReceiveMessage":
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))

    return handle


def main(argv: list[str] | None = None) -> int:
    """Serve moto on 127.0.0.1:PORT until the parent process goes away."""
    port = int((argv if argv is not None else sys.argv[1:])[0])
    # Ctrl-C in a terminal signals the whole process group: the stack must outlive moto's
    # part in it, not the other way round — it drains the queues through moto and then stops
    # it (SIGTERM). A parent that dies without stopping it is noticed below.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    from moto.server import (  # type: ignore[attr-defined]
        DomainDispatcherApplication,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    patch_partition_query()
    patch_queue_attributes()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, serialised(app), threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
