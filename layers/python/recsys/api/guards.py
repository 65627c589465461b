"""What every request passes before any route sees it: body size and content type.

- Every body is capped (413 ``{"detail": [{"reason", "limit"}]}``): a declared
  ``Content-Length`` over the cap is refused before reading, a streamed body as soon as it
  passes it — nothing over the cap is ever buffered. Caps are per route family
  (``limit_for(path)``), from settings.
- Writes (POST, PUT, PATCH) take ``application/json`` only (415 otherwise, also with no
  content type). Besides saying what the API speaks, this is the cross-site request guard: a
  page on another origin can send a "simple" request (``text/plain``, form encodings, no
  content type) without the browser asking the API first; ``application/json`` forces a CORS
  preflight, which the allow-list decides.

A pure ASGI middleware (no ``BaseHTTPMiddleware``): it adds nothing to a GET without a body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})


def is_json(content_type: str | None) -> bool:
    """``application/json`` or ``application/<x>+json``, any parameters (charset)."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _problem(status: int, **detail: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": [detail]})


class BodyGuard:
    """ASGI middleware: body caps (413) and JSON-only writes (415) in front of ``app``."""

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        method = scope["method"]
        if method in WRITE_METHODS and not is_json(headers.get("content-type")):
            await _problem(
                415,
                field="content-type",
                reason="writes take application/json",
                accepted=["application/json"],
            )(scope, receive, send)
            return
        declared = headers.get("content-length")
        if declared is None and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body at all (most reads)
            return
        limit = self.limit_for(scope["path"])
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(limit, scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(limit, scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        await _problem(413, reason=f"body larger than {limit} bytes", limit=limit)(
            scope, receive, send
        )


def body_limit(path: str) -> int:
    """The body cap of ``path`` from the settings: events, catalog rows, everything else."""
    from recsys.core.config import get_settings

    settings = get_settings()
    if path == "/events":
        return settings.events_max_body_bytes
    if path == "/products":
        return settings.products_max_body_bytes
    return settings.api_max_body_bytes
