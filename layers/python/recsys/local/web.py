"""The demo shop and the operator dashboard, served by the local stack beside the API.

- ``/shop/`` and ``/dashboard/`` — static pages from ``local/web/`` (plain HTML, CSS and ES
  modules; no build step, nothing loaded from elsewhere). Same origin as the API, so the
  pages call it without CORS.
- ``GET /_local/metrics`` — what the dashboard plots besides /stats: latency percentiles per
  route, cache hits, degraded replies by cause, lists served, queue depths with their DLQs and
  queue batch figures (the in-process registry of :mod:`recsys.core.observability`, which on
  AWS are the functions' CloudWatch metrics).
- ``GET /metrics`` — the same in Prometheus' text format, queue depths as gauges.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles

from recsys.core.observability import registry

__all__ = ["WEB_DIR", "mount_web"]

WEB_DIR = Path(__file__).resolve().parent / "web"


def _queues(status: Callable[[], dict[str, Any]]) -> dict[str, dict[str, int]]:
    try:
        queues: dict[str, dict[str, int]] = status().get("queues", {})
    except Exception:  # the emulator may be stopping; the page shows no queues then
        return {}
    return queues


def mount_web(
    app: FastAPI, *, status: Callable[[], dict[str, Any]], dependencies: list[Any] | None = None
) -> None:
    """Add the pages and the metrics routes to the local stack's own FastAPI ``app``.

    ``status`` returns the stack's status (``{"queues": {logical id: {"visible",
    "in_flight"}}, ...}``); ``dependencies`` guard the metrics routes (the API key check).
    """
    guard = list(dependencies or [])

    @app.get("/_local/metrics", include_in_schema=False, dependencies=guard)
    def metrics_json() -> dict[str, Any]:
        """The figures of this process's registry, with the queues and DLQs."""
        snap = registry.snapshot()
        snap["queues"] = _queues(status)
        return snap

    @app.get("/metrics", include_in_schema=False, dependencies=guard)
    def metrics_prometheus() -> PlainTextResponse:
        """Prometheus text format."""
        lines = [registry.prometheus().rstrip("\n"), "# TYPE recsys_queue_messages gauge"]
        for queue, depth in sorted(_queues(status).items()):
            for state, value in sorted(depth.items()):
                lines.append(f'recsys_queue_messages{{queue="{queue}",state="{state}"}} {value}')
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    for name in ("shop", "dashboard", "lib"):
        app.mount(f"/{name}", StaticFiles(directory=WEB_DIR / name, html=True), name=name)
