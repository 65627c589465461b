"""POST /events and DELETE /users/{user_id} — the event side of the API.

POST answers 202 once the events are in the durable log (before any profile work); bad events
are listed as ``{index, field, reason}`` and never stop the good ones. More than
``events_max_batch`` events, or a body over ``events_max_body_bytes``, is refused whole (413);
a body that is not ``{"events": [...]}`` or has no valid event at all is 422.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from recsys.core.config import Settings, get_settings
from recsys.events.intake import PayloadTooLargeError, ProfileQueue, ProfileSink, log_events
from recsys.events.log import EventLog
from recsys.profiles.service import erase_user
from recsys.store import VectorStore, get_store

__all__ = ["EventsOut", "router"]


_logs: dict[str, EventLog] = {}
_queues: dict[str, ProfileQueue] = {}


def _event_log(settings: Settings) -> EventLog:
    key = settings.model_dump_json()
    if key not in _logs:
        _logs[key] = EventLog(settings)
    return _logs[key]


def _queue(settings: Settings) -> ProfileQueue:
    key = settings.model_dump_json()
    if key not in _queues:
        _queues[key] = ProfileQueue(settings)
    return _queues[key]


def settings_dep() -> Settings:
    """The process settings (tests override this dependency)."""
    return get_settings()


SettingsDep = Annotated[Settings, Depends(settings_dep)]


def event_log(settings: SettingsDep) -> EventLog:
    """The process-wide event log."""
    return _event_log(settings)


def profile_queue(settings: SettingsDep) -> ProfileSink:
    """The profile queue."""
    return _queue(settings)


def store_dep(settings: SettingsDep) -> VectorStore:
    """The process-wide vector store."""
    return get_store(settings)


LogDep = Annotated[EventLog, Depends(event_log)]
QueueDep = Annotated[ProfileSink, Depends(profile_queue)]
StoreDep = Annotated[VectorStore, Depends(store_dep)]


class RejectedEvent(BaseModel):
    """An event that was not accepted."""

    index: int
    field: str | None
    reason: str


class EventsOut(BaseModel):
    """Reply of POST /events."""

    accepted: int = Field(description="Newly logged.")
    duplicates: int = Field(description="Already logged (same event_id): ignored.")
    rejected: list[RejectedEvent]


class ErasedOut(BaseModel):
    """Reply of DELETE /users/{user_id}."""

    user_id: str
    events_deleted: int
    profile_deleted: bool


router = APIRouter(tags=["events"])


def _problem(code: int, reason: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=code, content={"detail": [{"reason": reason, **extra}]})


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventsOut,
    responses={413: {"description": "Too many events or bytes"}, 422: {"description": "Bad body"}},
)
async def post_events(request: Request, log: LogDep, queue: QueueDep, settings: SettingsDep) -> Any:
    """Log events durably, then queue one profile update per affected user or session."""
    body = await request.body()
    if len(body) > settings.events_max_body_bytes:
        return _problem(413, "body too large", limit=settings.events_max_body_bytes)
    try:
        parsed = EventsBody.model_validate_json(body)
    except ValueError as exc:
        return _problem(422, f'body must be {{"events": [...]}}: {exc}'.splitlines()[0])
    try:
        result = log_events(parsed.events, log=log, queue=queue, settings=settings)
    except PayloadTooLargeError as exc:
        return _problem(413, str(exc), field="events", limit=exc.limit)
    reply = result.as_reply()
    if result.accepted == 0 and result.duplicates == 0:
        return JSONResponse(status_code=422, content=reply)
    return reply


class EventsBody(BaseModel):
    """Body of POST /events: each event is validated on its own, so each stays a free value."""

    events: list[Any]


@router.delete("/users/{user_id}", response_model=ErasedOut)
def delete_user(user_id: str, log: LogDep, store: StoreDep, settings: SettingsDep) -> Any:
    """Erase the user's events and profile (idempotent: erasing twice deletes nothing more)."""
    done = erase_user(user_id, store=store, log=log, settings=settings)
    return {
        "user_id": user_id,
        "events_deleted": done["events_deleted"],
        "profile_deleted": bool(done["profile_deleted"]),
    }
