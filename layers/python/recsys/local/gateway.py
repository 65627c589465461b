"""API Gateway's part: route each request to the function the template says serves it.

Each HTTP function's module-level FastAPI ``app`` (the one its Mangum handler wraps) receives
exactly the routes the template gives it — a route a function's app has but the template does
not declare answers 404 here, as it would behind API Gateway. Authorizers are not emulated; the
routes' own API-key dependency (``RECSYS_API_KEY``) guards writes, erasure and the admin routes
instead. ``/docs`` shows one OpenAPI document merged from the functions' apps; ``/_local/*``
are local-only admin routes (refresh now, queue status), left out of it.

As on AWS: every function's requests run in its own pool of containers
(:mod:`recsys.local.containers`, ``local_containers`` each), so one function's slow requests
never hold another's; CORS is answered here, as API Gateway's ``CorsConfiguration`` does, from
the explicit allow-list ``cors_allow_origins`` (empty: no cross-origin browser access).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from recsys.core.errors import StackStartError
from recsys.local.containers import ContainerPool
from recsys.local.foreground import ForegroundGate
from recsys.local.template import HttpRoute

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Mount:
    """A template route bound to the ASGI app of the function that serves it."""

    route: HttpRoute
    function: str
    app: Any
    pattern: re.Pattern[str]


def _normalise(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def merged_openapi(mounts: list[Mount], *, title: str, version: str) -> dict[str, Any]:
    """One OpenAPI document with each declared route taken from its function's own app."""
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": {},
        "components": {"schemas": {}},
    }
    by_app: dict[int, dict[str, Any]] = {}
    for mount in mounts:
        spec = by_app.get(id(mount.app))
        if spec is None:
            openapi = getattr(mount.app, "openapi", None)
            spec = by_app[id(mount.app)] = openapi() if callable(openapi) else {}
        for path, ops in spec.get("paths", {}).items():
            if _normalise(path) != _normalise(mount.route.path):
                continue
            op = ops.get(mount.route.method.lower())
            if op is not None:
                # One tag per resource (the router's); which function serves the route is an
                # extension field, shown by ReDoc and kept out of Swagger UI's grouping.
                op = {**op, "x-function": mount.function}
                doc["paths"].setdefault(path, {})[mount.route.method.lower()] = op
        components = spec.get("components", {})
        doc["components"]["schemas"].update(components.get("schemas", {}))
        if components.get("securitySchemes"):
            doc["components"].setdefault("securitySchemes", {}).update(
                components["securitySchemes"]
            )
    return doc


class Gateway:
    """ASGI app: template routes go to their function's app, everything else to ``admin``.

    ``containers`` (per function) and ``cors_origins`` default to the settings; every pool
    counts its requests in ``foreground`` (which queue-driven invocations yield to), if given.
    """

    def __init__(
        self,
        mounts: list[Mount],
        admin: FastAPI,
        *,
        containers: int | None = None,
        cors_origins: list[str] | None = None,
        foreground: ForegroundGate | None = None,
    ) -> None:
        from starlette.middleware.cors import CORSMiddleware

        from recsys.api.guards import BodyGuard
        from recsys.core.config import get_settings

        settings = get_settings()
        self.mounts = mounts
        # The admin app is not a function's app (which guard themselves): guard it here.
        self.admin = BodyGuard(admin, limit_for=lambda _path: settings.api_max_body_bytes)
        size = containers if containers is not None else settings.local_containers
        self.pools = {m.function: ContainerPool(m.function, size, foreground) for m in mounts}
        origins = settings.cors_allow_origins if cors_origins is None else cors_origins
        self._entry = CORSMiddleware(
            self._dispatch,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["content-type", "x-api-key", "authorization"],
            expose_headers=["x-request-id", "x-cache"],
            max_age=600,
        )
        #: HTTP requests routed to each function (its handler is not called: its app is).
        self.requests: dict[str, int] = {m.function: 0 for m in mounts}

    def pool_stats(self) -> dict[str, dict[str, int]]:
        """Containers of each function and what they did."""
        return {name: pool.stats() for name, pool in self.pools.items()}

    def close(self) -> None:
        """Stop every function's containers."""
        for pool in self.pools.values():
            pool.close()

    def match(self, method: str, path: str) -> Mount | None:
        """The mount serving ``method path``, as API Gateway would choose it."""
        for mount in self.mounts:
            if mount.route.method in (method, "ANY") and mount.pattern.match(path):
                return mount
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._entry(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            mount = self.match(scope["method"], scope["path"])
            if mount is not None:
                self.requests[mount.function] += 1
                await self.pools[mount.function].serve(mount.app, scope, receive, send)
                return
        await self.admin(scope, receive, send)


def start_server(app: Any, *, host: str, port: int) -> tuple[Any, threading.Thread]:
    """uvicorn serving ``app`` in a daemon thread; (server, thread). Signals stay the CLI's
    business (it owns the main thread), not uvicorn's."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        # Ctrl-C must not wait on idle keep-alive clients or slow requests for long.
        timeout_graceful_shutdown=3,
    )
    server: Any = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    return server, thread


def wait_healthy(url: str, thread: threading.Thread, *, timeout_s: float) -> None:
    """Return once GET ``url``/health answers 200; StackStartError if the server thread dies
    or ``timeout_s`` passes first."""
    import httpx

    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise StackStartError(f"the HTTP server stopped while starting on {url}")
        try:
            reply = httpx.get(f"{url}/health", timeout=5.0)
            if reply.status_code == 200:
                return
            last = f"HTTP {reply.status_code}: {reply.text[:200]}"
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise StackStartError(f"GET {url}/health did not answer 200 within {timeout_s:.0f} s ({last})")
