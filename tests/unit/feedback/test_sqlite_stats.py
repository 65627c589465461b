"""The embedded stats file: served lists batched by one writer per file, yet never missed.

The contract shared with the DynamoDB table (exact counts under duplicate deliveries, the
attribution window) runs on both backends in tests/integration/feedback; these are what only
the writer queue can get wrong: a list queued by one function's store must be found by
another's at once, concurrent servers must be counted exactly, and closing must lose nothing.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from recsys.core.config import Settings
from recsys.feedback.model import ServedList, day_of, pseudonym
from recsys.feedback.sqlite import SqliteStatsStore


@pytest.fixture
def settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    return make_settings(stats_table="t", stats_sqlite_path=tmp_path / "stats.sqlite3")


def _served(subject: str, *, strategy: str = "personalized", cold: bool = False) -> ServedList:
    return ServedList(
        request_id=uuid.uuid4().hex,
        strategy=strategy,
        variant="default",
        at=time.time(),
        subject=subject,
        cold=cold,
        items=10,
    )


def test_a_list_queued_by_one_store_is_found_by_another_right_away(settings: Settings) -> None:
    # GIVEN two stores over one file (the recommend and log-event functions of one process)
    serving, attributing = SqliteStatsStore(settings), SqliteStatsStore(settings)
    try:
        # WHEN one logs a list and the other looks it up without waiting for anything
        served = _served("u1")
        serving.record_list(served)
        found = attributing.lookup_lists([served.request_id, "never-served"])
        # THEN the lookup sees it (it waits for the lists queued before it), and only it
        assert set(found) == {served.request_id}
        assert found[served.request_id].strategy == "personalized"
    finally:
        serving.close()
        attributing.close()


def test_lists_served_from_many_threads_are_counted_exactly(settings: Settings) -> None:
    store = SqliteStatsStore(settings)
    per_thread, threads = 300, 8

    def serve(t: int) -> None:
        for i in range(per_thread):
            store.record_list(_served(f"user{(t * per_thread + i) % 50}", cold=i % 3 == 0))

    try:
        workers = [threading.Thread(target=serve, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        buckets = store.read_days([day_of(time.time())])
    finally:
        store.close()
    (counts,) = buckets.values()
    assert counts.lists == per_thread * threads
    assert counts.cold_lists == threads * len(range(0, per_thread, 3))
    assert counts.users == {pseudonym(f"user{n}") for n in range(50)}


def test_close_commits_every_queued_list(settings: Settings) -> None:
    store = SqliteStatsStore(settings)
    served = [_served(f"u{i}") for i in range(2000)]
    futures = [store.record_list(s) for s in served]
    store.close()  # straight away: most of them are still queued
    assert all(f.done() and f.exception() is None for f in futures)
    reopened = SqliteStatsStore(settings)
    try:
        assert len(reopened.lookup_lists(s.request_id for s in served)) == len(served)
    finally:
        reopened.close()


def test_a_closed_store_refuses_lists_and_its_sibling_keeps_writing(settings: Settings) -> None:
    first, second = SqliteStatsStore(settings), SqliteStatsStore(settings)
    first.close()
    with pytest.raises(Exception, match="closed"):
        first.record_list(_served("u1"))
    served = _served("u2")
    second.record_list(served).result(10)
    try:
        assert served.request_id in second.lookup_lists([served.request_id])
    finally:
        second.close()
