"""Event intake: validate, log durably, then ask for profile updates — one message per owner.

The reply is sent only after the log write returns, so an accepted event is never lost; the
profile queue is notified afterwards. Owners of duplicate events are notified too: a client that
retries after a failed notification then still gets its profile updated (the update itself
finds nothing new when there is nothing new).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from recsys.core.config import Settings
from recsys.core.errors import PayloadTooLargeError
from recsys.events.backend import EventLogBackend
from recsys.events.models import (
    LoggedEvent,
    ProfileUpdate,
    Reject,
    validate_events,
)
from recsys.events.queue import ProfileSink


@dataclass
class IntakeResult:
    """What ``log_events`` did: counts, per-event rejects and the events newly logged."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Reject] = field(default_factory=list)
    written: list[LoggedEvent] = field(default_factory=list)

    def as_reply(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [r.as_dict() for r in self.rejected],
        }


def profile_updates(events: Iterable[LoggedEvent]) -> list[ProfileUpdate]:
    """One update per owner; an event with both ids merges its session into the user."""
    oldest: dict[str, str] = {}
    merges: dict[str, set[str]] = {}
    for ev in events:
        if ev.owner not in oldest or ev.sk < oldest[ev.owner]:
            oldest[ev.owner] = ev.sk
        if ev.user_id and ev.session_id:
            merges.setdefault(ev.owner, set()).add(f"s#{ev.session_id}")
    return [
        ProfileUpdate(key=k, oldest_sk=sk, merge_from=sorted(merges.get(k, ())))
        for k, sk in sorted(oldest.items())
    ]


def log_events(
    events: Sequence[Any],
    *,
    log: EventLogBackend,
    queue: ProfileSink | None,
    settings: Settings,
    now: float | None = None,
    start_index: int = 0,
) -> IntakeResult:
    """Validate, log and notify; raises ``PayloadTooLargeError`` above ``events_max_batch``."""
    if len(events) > settings.events_max_batch:
        raise PayloadTooLargeError(
            f"{len(events)} events in one request; at most {settings.events_max_batch}",
            limit=settings.events_max_batch,
        )
    good, rejects = validate_events(events, now=now, start_index=start_index)
    result = IntakeResult(rejected=rejects)
    if not good:
        return result
    written = log.write(good)
    result.accepted, result.duplicates = len(written.written), len(written.duplicates)
    result.written = written.written
    if queue is not None:
        queue.send(profile_updates([*written.written, *written.duplicates]))
    return result
