"""Recommend Lambda: the read API (recommendations, similar, bought together, cart, trending,
search, categories, health, and GET /stats) behind API Gateway.

The recommender, aggregates loader and cache are wired at import (cold start), so a warm
invocation only ranks; Mangum runs with lifespan off because it would run it per invocation.
"""

from typing import Any

from mangum import Mangum

from recsys.api.app import build_app
from recsys.api.routes import categories, recommend, stats
from recsys.core.observability import instrument
from recsys.services import Services

services = Services()
services.recommender  # noqa: B018 - wire it at cold start, not on the first request
services.feedback  # noqa: B018 - RECSYS_EXPERIMENT checked at cold start: a bad one fails here
routers = (recommend.router, categories.router, stats.router)
app = build_app(*routers, services=services, title="recsys-recommend")
http_handler = Mangum(app, lifespan="off")


@instrument  # metrics (EMF), Lambda context and correlation id in logs, tracing
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    result: dict[str, Any] = http_handler(event, context)
    return result
