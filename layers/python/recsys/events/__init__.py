"""Events: validation (``models``), the DynamoDB event log (``log``) and intake (``intake``)."""

from recsys.events.models import (
    EVENT_TYPES,
    EventIn,
    LoggedEvent,
    ProfileUpdate,
    Reject,
    owner_key,
    validate_events,
)

__all__ = [
    "EVENT_TYPES",
    "EventIn",
    "LoggedEvent",
    "ProfileUpdate",
    "Reject",
    "owner_key",
    "validate_events",
]
