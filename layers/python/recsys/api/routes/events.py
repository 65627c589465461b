"""POST /events and DELETE /users/{user_id} — the event side of the API.

POST answers 202 once the events are in the durable log (before any profile work); bad events
are listed as ``{index, field, reason}`` and never stop the good ones. More than
``events_max_batch`` events, or a body over ``events_max_body_bytes``, is refused whole (413);
a body that is not ``{"events": [...]}`` or has no valid event at all is 422.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse

from recsys.api.bodies import UserIdPath, events_request_body
from recsys.api.deps import ApiKeyDep, ServicesDep
from recsys.api.schemas import ErasedOut, EventsIn, EventsOut
from recsys.core.config import get_settings
from recsys.core.errors import PayloadTooLargeError
from recsys.events.intake import log_events
from recsys.profiles.service import erase_user

__all__ = ["router"]

router = APIRouter(tags=["events"])


def _problem(code: int, reason: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=code, content={"detail": [{"reason": reason, **extra}]})


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventsOut,
    responses={
        401: {"description": "RECSYS_API_KEY is set and X-Api-Key is missing or wrong."},
        413: {"description": "Too many events or bytes"},
        415: {"description": "The body is not application/json."},
        422: {"description": "Bad body"},
    },
    dependencies=[ApiKeyDep],
    # The body is read here (its size checked before parsing), so its schema is declared.
    openapi_extra=events_request_body(max_events=get_settings().events_max_batch),
)
async def post_events(request: Request, services: ServicesDep) -> Any:
    """Log events durably, then queue one profile update per affected user or session."""
    settings = services.settings
    body = await request.body()
    if len(body) > settings.events_max_body_bytes:
        return _problem(413, "body too large", limit=settings.events_max_body_bytes)
    try:
        parsed = EventsIn.model_validate_json(body)
    except ValueError as exc:
        return _problem(422, f'body must be {{"events": [...]}}: {exc}'.splitlines()[0])
    try:
        result = log_events(
            parsed.events, log=services.event_log, queue=services.profile_queue, settings=settings
        )
    except PayloadTooLargeError as exc:
        return _problem(413, str(exc), field="events", limit=exc.limit)
    # Only events logged for the first time are counted: a redelivery never counts twice.
    services.feedback.attribute(result.written)
    reply = result.as_reply()
    if result.accepted == 0 and result.duplicates == 0:
        return JSONResponse(status_code=422, content=reply)
    return reply


@router.delete(
    "/users/{user_id}",
    response_model=ErasedOut,
    responses={401: {"description": "RECSYS_API_KEY is set and X-Api-Key is missing or wrong."}},
    dependencies=[ApiKeyDep],
)
def delete_user(user_id: UserIdPath, services: ServicesDep) -> Any:
    """Erase the user's events and profile (idempotent: erasing twice deletes nothing more)."""
    done = erase_user(
        user_id, store=services.store, log=services.event_log, settings=services.settings
    )
    return {
        "user_id": user_id,
        "events_deleted": done["events_deleted"],
        "profile_deleted": bool(done["profile_deleted"]),
    }
