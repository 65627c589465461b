"""The event-log contract, run against every backend: DynamoDB (on moto) and embedded SQLite.

DynamoDB runs on the local stack's own moto server process (requests serialised, as moto's
backends are not thread-safe — DynamoDB itself makes each conditional write atomic), so the
concurrent-writers test checks our algorithm, not the emulator's races.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from recsys.core.config import Settings
from recsys.events.backend import EventLogBackend, open_event_log
from recsys.events.models import LoggedEvent, validate_events
from recsys.local.moto import MotoProcess
from recsys.local.provision import provision_from_template

pytestmark = pytest.mark.integration

BACKENDS = ["dynamodb", "sqlite"]


@pytest.fixture(scope="module")
def serialised_moto() -> Iterator[str]:
    """The local stack's moto server (own process, serialised requests) on a free port."""
    server = MotoProcess()
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(params=BACKENDS)
def make_log(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> Iterator[Callable[..., EventLogBackend]]:
    """A factory of event logs over ONE store (table or file) of the backend under test."""
    backend: str = request.param
    if backend == "dynamodb":
        endpoint = request.getfixturevalue("serialised_moto")
        base = make_settings(aws_endpoint_url=endpoint, events_backend="dynamodb")
        prov = provision_from_template(base, prefix=f"c{uuid.uuid4().hex[:10]}")
        settings = base.model_copy(update={"events_table": prov.tables["EventsTable"]})
    else:
        settings = make_settings(
            events_backend="sqlite", events_sqlite_path=tmp_path / "log" / "events.sqlite3"
        )
    opened: list[EventLogBackend] = []

    def make(**overrides: object) -> EventLogBackend:
        log = open_event_log(settings.model_copy(update=overrides), threads=4)
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()


@pytest.fixture
def log(make_log: Callable[..., EventLogBackend]) -> EventLogBackend:
    return make_log()


def events(n: int, *, user: str = "u1", start: float = 1_000_000.0) -> list[LoggedEvent]:
    raw = [
        {
            "event_id": f"{user}-e{i}",
            "user_id": user,
            "type": "view",
            "product_id": f"p{i}",
            "timestamp": start + i,
            "price": 0.1 * i,
            "context": {"page": "home", "rank": i, "ab": True, "nested": {"list": [1, "x"]}},
        }
        for i in range(n)
    ]
    good, rejects = validate_events(raw, now=start + n)
    assert not rejects
    return good


def test_write_is_exactly_once_per_event_id(log: EventLogBackend) -> None:
    # GIVEN 120 events, of which 20 repeated inside the same call
    batch = events(120)
    # WHEN written, then written again with a different timestamp on one of them
    first = log.write(batch + batch[:20])
    retry = LoggedEvent(**{**batch[0].__dict__, "at": batch[0].at + 999})
    second = log.write([retry, *batch[1:5]])
    # THEN the first call logs 120 and counts 20 duplicates; the second logs nothing
    assert (len(first.written), len(first.duplicates)) == (120, 20)
    assert (len(second.written), len(second.duplicates)) == (0, 5)
    stored = log.query("u#u1")
    assert len(stored) == 120
    assert stored[7] == batch[7]  # round trip keeps every field
    assert stored[7].price == batch[7].price
    assert stored[7].context == {
        "page": "home",
        "rank": 7,
        "ab": True,
        "nested": {"list": [1, "x"]},
    }


def test_server_timed_events_are_logged_once(log: EventLogBackend) -> None:
    # GIVEN events without client time, sent twice (each send gets its own server time)
    raw = [
        {"event_id": f"n{i}", "session_id": "s", "type": "view", "product_id": "p"}
        for i in range(30)
    ]
    first, _ = validate_events(raw, now=7_000.0)
    second, _ = validate_events(raw, now=7_001.0)
    # WHEN
    a, b = log.write(first), log.write(second)
    # THEN logged once, at the first time
    assert (len(a.written), len(b.written), len(b.duplicates)) == (30, 0, 30)
    stored = log.query("s#s")
    assert len(stored) == 30 and {e.at for e in stored} == {7_000.0}


def test_concurrent_writers_get_exact_counts(make_log: Callable[..., EventLogBackend]) -> None:
    # GIVEN 10 writers (as 10 Lambda containers would be), each with its own client, and the
    # same 200 events — half timed by the client, half by the server
    client_timed = events(100, user="w")
    raw = [
        {"event_id": f"srv{i}", "user_id": "w", "type": "click", "product_id": "p"}
        for i in range(100)
    ]
    server_timed, _ = validate_events(raw, now=2_000_000.0)
    batch = client_timed + server_timed
    writers = [make_log() for _ in range(10)]
    results: list[tuple[int, int]] = []
    lock = threading.Lock()
    go = threading.Barrier(len(writers))

    def write(log: EventLogBackend) -> None:
        go.wait()
        for i in range(0, len(batch), 50):  # four requests of 50 each, all at once
            res = log.write(batch[i : i + 50])
            with lock:
                results.append((len(res.written), len(res.duplicates)))

    # WHEN they all write at once
    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    # THEN the log holds each event once and the replies add up exactly
    assert len(results) == 40
    assert sum(a for a, _ in results) == 200
    assert sum(d for _, d in results) == 1800
    assert len(writers[0].query("u#w")) == 200


def test_queries_recent_since_and_after(log: EventLogBackend) -> None:
    # GIVEN 30 events one second apart
    batch = events(30)
    log.write(batch)
    # WHEN / THEN
    assert [e.product_id for e in log.recent("u#u1", 3)] == ["p27", "p28", "p29"]
    since = [e.product_id for e in log.query("u#u1", since=batch[25].at)]
    assert since == ["p25", "p26", "p27", "p28", "p29"]
    assert [e.product_id for e in log.query("u#u1", after_sk=batch[27].sk)] == ["p28", "p29"]
    assert len(log.query("u#u1", limit=7)) == 7
    newest = log.query("u#u1", limit=2, newest_first=True)
    assert [e.product_id for e in newest] == ["p29", "p28"]
    assert {e.event_id for e in log.scan(segments=2)} == {e.event_id for e in batch}


def test_delete_owner_erases_events_and_their_claims(log: EventLogBackend) -> None:
    # GIVEN two users' events
    log.write(events(5, user="a") + events(3, user="b"))
    # WHEN a is erased (twice: idempotent)
    deleted, again_deleted = log.delete_owner("u#a"), log.delete_owner("u#a")
    # THEN only a's events went, and a's event ids can be logged afresh
    assert (deleted, again_deleted) == (5, 0)
    assert log.query("u#a") == [] and len(log.query("u#b")) == 3
    assert {e.owner for e in log.scan()} == {"u#b"}
    again = log.write(events(1, user="a"))
    assert len(again.written) == 1


def test_move_owner_rekeys_a_session_under_the_user(log: EventLogBackend) -> None:
    # GIVEN a session's events
    raw = [
        {
            "event_id": f"s{i}",
            "session_id": "s1",
            "type": "click",
            "product_id": "p",
            "timestamp": 10 + i,
        }
        for i in range(4)
    ]
    good, _ = validate_events(raw, now=100)
    log.write(good)
    # WHEN merged into a user, twice (a redelivered message)
    moved = log.move_owner("s#s1", "u#9")
    moved_again = log.move_owner("s#s1", "u#9")
    # THEN the user owns them with the same ids and order; the session has none; the ids stay
    # claimed (a retry of the session's events is a duplicate)
    assert (moved, moved_again) == (4, 0)
    assert [e.event_id for e in log.query("u#9")] == ["s0", "s1", "s2", "s3"]
    assert all(e.owner == "u#9" for e in log.query("u#9"))
    assert log.query("s#s1") == []
    assert len(log.write(good).duplicates) == 4
    # AND erasing the user erases the merged session's history
    assert log.delete_owner("u#9") == 4


def test_prune_expired_deletes_only_expired_items(
    make_log: Callable[..., EventLogBackend],
) -> None:
    # GIVEN one event kept 1 day and one kept 400 days
    short, long = make_log(events_retention_days=1), make_log(events_retention_days=400)
    old, live = events(2)
    short.write([old])
    long.write([live])
    # WHEN pruning as of two days from now
    pruned = long.prune_expired(now=time.time() + 2 * 86400)
    # THEN only the short-lived event went, and its id is free again
    assert pruned == 1
    assert [e.event_id for e in long.query("u#u1")] == [live.event_id]
    assert len(long.write([old]).written) == 1


def test_ping_answers(log: EventLogBackend) -> None:
    state = log.ping()
    assert state["backend"] == log.backend
