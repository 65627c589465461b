"""Log-event Lambda: POST /events (→ event log, profile queue), DELETE /users/{user_id}, and
the event table's DynamoDB stream (→ archive rows → Firehose, after the 202, never on it).

The event log, queue client and store are created once per container, on first use.
"""

from typing import Any

from mangum import Mangum

from recsys.api.app import build_app
from recsys.api.routes import events
from recsys.core.observability import instrument
from recsys.events.archive import FirehoseSink, is_stream_event, rows_from_stream
from recsys.services import Services

services = Services()
app = build_app(events.router, services=services, title="recsys-log-event")
http_handler = Mangum(app, lifespan="off")
archive = FirehoseSink(services.settings)


@instrument  # metrics (EMF), Lambda context and correlation id in logs, tracing
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    if is_stream_event(event):
        # A batch that cannot be delivered raises: the event source halves and retries it,
        # then parks what still fails in the archive DLQ.
        return {"archived": archive.put(rows_from_stream(event["Records"]))}
    result: dict[str, Any] = http_handler(event, context)
    return result
