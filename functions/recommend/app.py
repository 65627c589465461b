"""Recommend Lambda: the read API (recommendations, similar, bought together, cart, trending,
search, health) behind API Gateway.

The store, encoder, aggregates loader and cache are wired at import (cold start), so a warm
invocation only ranks; Mangum runs with lifespan off because it would run it per invocation.
"""

from typing import Any

from mangum import Mangum

from recsys.api import build_app
from recsys.api.routes import recommend

recommend.load_context()
app = build_app(recommend.router, title="recsys-recommend")
http_handler = Mangum(app, lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    result: dict[str, Any] = http_handler(event, context)
    return result
