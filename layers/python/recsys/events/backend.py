"""The event-log interface and the choice of its backend (``events_backend``).

- ``dynamodb`` (:class:`recsys.events.log.EventLog`): the table template.yaml declares; what
  Lambda uses (the template sets ``RECSYS_EVENTS_BACKEND=dynamodb``).
- ``sqlite`` (:class:`recsys.events.sqlite.SqliteEventLog`): one durable file under the data
  directory; the embedded default (``recsys up``, the CLI, a laptop).

Both keep the same contract, checked by the same tests: exactly once per event_id with exact
counts, time-ordered reads per owner, erasure, re-keying, pruning.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from recsys.core.config import Settings
from recsys.events.models import LoggedEvent, WriteResult


class EventLogBackend(Protocol):
    """What every event-log backend provides (see the module doc)."""

    backend: str

    def write(self, events: Sequence[LoggedEvent]) -> WriteResult: ...

    def query(
        self,
        owner: str,
        *,
        after_sk: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[LoggedEvent]: ...

    def recent(self, owner: str, n: int) -> list[LoggedEvent]: ...

    def scan(self, *, segments: int = 4) -> Iterator[LoggedEvent]: ...

    def delete_owner(self, owner: str) -> int: ...

    def move_owner(self, source: str, target: str) -> int: ...

    def prune_expired(self, *, now: float | None = None) -> int: ...

    def ping(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


def open_event_log(settings: Settings, *, threads: int | None = None) -> EventLogBackend:
    """The event log ``settings.events_backend`` names."""
    backend = getattr(settings, "events_backend", "dynamodb")
    if backend == "sqlite":
        from recsys.events.sqlite import SqliteEventLog

        return SqliteEventLog(settings, threads=threads)
    from recsys.events.log import EventLog

    return EventLog(settings, threads=threads)
