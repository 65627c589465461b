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
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["main", "patch_partition_query", "serialised"]

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
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, serialised(app), threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
