"""The nightly job never deletes profiles because the log could not be read: an unreadable or
empty log (beside existing profiles) is an error it reports, and nothing is rebuilt."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from recsys.core.config import Settings
from recsys.core.errors import EventLogUnusableError
from recsys.events.sqlite import SqliteEventLog
from recsys.jobs.nightly import nightly_refresh
from recsys.store import open_store_ready
from recsys.store.base import PointIn, VectorStore

pytestmark = pytest.mark.integration


class _Unreadable(SqliteEventLog):
    """A log whose every scan fails (a disk gone, a table dropped)."""

    def scan(self, *, segments: int = 4) -> Iterator[Any]:
        raise OSError("disk I/O error")
        yield  # pragma: no cover


class _NoAggregates:
    """The job must stop before it touches the aggregates."""

    def load(self) -> Any:
        raise AssertionError("aggregates read")

    def save(self, agg: Any) -> None:
        raise AssertionError("aggregates written")


@pytest.fixture
def world(make_settings: Callable[..., Settings]) -> Iterator[tuple[Settings, VectorStore]]:
    settings = make_settings(events_backend="sqlite")
    store = open_store_ready(settings)
    unit = np.ones(settings.vector_size, dtype=np.float32) / np.sqrt(settings.vector_size)
    store.upsert(
        settings.users_collection,
        [
            PointIn(
                key=f"shopper{i}",
                vectors={"long": unit, "short": unit},
                payload={"owner": f"u#shopper{i}", "last_event_ts": 0.0, "updated_ts": 0.0},
            )
            for i in range(3)
        ],
    )
    yield settings, store
    store.close()


@pytest.mark.parametrize("log_kind", ["empty", "unreadable"])
def test_an_empty_or_unreadable_log_is_reported_and_no_profile_is_touched(
    world: tuple[Settings, VectorStore], log_kind: str
) -> None:
    # GIVEN three stored profiles, all stale (the job would rebuild every one of them)
    settings, store = world
    log = SqliteEventLog(settings) if log_kind == "empty" else _Unreadable(settings)
    sent: list[Any] = []

    class Queue:
        def send(self, updates: Any) -> None:
            sent.extend(updates)

    # WHEN the nightly job runs on a log that is empty / cannot be read
    with pytest.raises(EventLogUnusableError) as failure:
        nightly_refresh(
            store=store,
            log=log,
            settings=settings,
            queue=Queue(),
            aggregates=_NoAggregates(),  # type: ignore[arg-type]
        )
    log.close()
    # THEN it says why, queues no rebuild, and every profile is still there
    reason = str(failure.value)
    assert ("3 profiles exist" in reason) if log_kind == "empty" else ("disk I/O" in reason)
    assert sent == []
    assert store.count(settings.users_collection) == 3
