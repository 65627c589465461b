"""Log-event Lambda: POST /events (→ event log, profile queue) and DELETE /users/{user_id}.

The event log, queue client and store are created once per container, on first use.
"""

from typing import Any

from mangum import Mangum

from recsys.api.app import build_app
from recsys.api.routes import events
from recsys.core.observability import instrument
from recsys.services import Services

app = build_app(events.router, services=Services(), title="recsys-log-event")
http_handler = Mangum(app, lifespan="off")


@instrument  # metrics (EMF), Lambda context and correlation id in logs, tracing
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    result: dict[str, Any] = http_handler(event, context)
    return result
