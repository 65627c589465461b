"""Request metrics for every app: latency per route template, status, errors.

A pure ASGI middleware: it times the request, reads the route template FastAPI matched
(``/users/{user_id}/recommendations``, not the raw path, so a metric's dimensions stay few) and
records ``Latency`` (ms) and ``Requests`` with the route and status class.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from recsys.core.observability import metric, registry

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["RequestMetrics"]


class RequestMetrics:
    """Time each HTTP request of ``app`` and record it per route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            ms = (time.perf_counter() - start) * 1000.0
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            registry.request(f"{scope['method']} {route}", ms, error=status >= 500)
            metric("Latency", ms, unit="Milliseconds", route=route)
            metric("Requests", route=route, status=f"{status // 100}xx")
