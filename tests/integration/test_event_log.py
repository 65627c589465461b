"""The DynamoDB event log on the moto server: exactly-once writes, reads, erasure, re-keying."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recsys.core.aws import client
from recsys.core.config import Settings
from recsys.events.log import EventLog, _to_item
from recsys.events.models import LoggedEvent, validate_events
from recsys.local.provision import Provisioned

pytestmark = pytest.mark.integration


@pytest.fixture
def log(aws_stack: tuple[Settings, Provisioned]) -> Iterator[EventLog]:
    settings, _ = aws_stack
    event_log = EventLog(settings, threads=4)
    yield event_log
    event_log.close()


def events(n: int, *, user: str = "u1", start: float = 1_000_000.0) -> list[LoggedEvent]:
    raw = [
        {
            "event_id": f"{user}-e{i}",
            "user_id": user,
            "type": "view",
            "product_id": f"p{i}",
            "timestamp": start + i,
            "context": {"page": "home", "rank": i, "ab": True},
        }
        for i in range(n)
    ]
    good, rejects = validate_events(raw, now=start + n)
    assert not rejects
    return good


def test_write_is_exactly_once_per_event_id(log: EventLog) -> None:
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
    assert stored[0] == batch[0]  # round trip keeps every field
    assert stored[0].context == {"page": "home", "rank": 0, "ab": True}


def test_half_written_event_is_repaired_by_the_retry(log: EventLog) -> None:
    # GIVEN a server-timed event whose claim was written but not the event (writer died)
    raw = {"event_id": "x1", "user_id": "u1", "type": "click", "product_id": "p"}
    (ev,), _ = validate_events([raw], now=5_000.0)
    log._claim(ev, 2_000_000_000)
    assert log.query("u#u1") == []
    # WHEN the client retries (the server gives the retry another time)
    (retry,), _ = validate_events([raw], now=5_060.0)
    result = log.write([retry])
    # THEN the event is logged once, at the claimed time, and counted as written
    assert [e.event_id for e in result.written] == ["x1"]
    assert [(e.event_id, e.at) for e in log.query("u#u1")] == [("x1", 5_000.0)]
    # AND a further retry is a duplicate
    again, _ = validate_events([raw], now=5_120.0)
    assert len(log.write(again).duplicates) == 1


def test_server_timed_events_are_claimed_conditionally(log: EventLog) -> None:
    # GIVEN events without client time, sent twice (each send gets its own server time)
    raw = [
        {"event_id": f"n{i}", "session_id": "s", "type": "view", "product_id": "p"}
        for i in range(30)
    ]
    first, _ = validate_events(raw, now=7_000.0)
    second, _ = validate_events(raw, now=7_001.0)
    # WHEN
    a, b = log.write(first), log.write(second)
    # THEN logged once
    assert (len(a.written), len(b.written), len(b.duplicates)) == (30, 0, 30)
    assert len(log.query("s#s")) == 30


def test_queries_recent_since_and_after(log: EventLog) -> None:
    # GIVEN 30 events one second apart
    batch = events(30)
    log.write(batch)
    # WHEN / THEN
    assert [e.product_id for e in log.recent("u#u1", 3)] == ["p27", "p28", "p29"]
    assert [e.product_id for e in log.query("u#u1", since=batch[25].at)] == [
        "p25",
        "p26",
        "p27",
        "p28",
        "p29",
    ]
    assert [e.product_id for e in log.query("u#u1", after_sk=batch[27].sk)] == ["p28", "p29"]
    assert len(log.query("u#u1", limit=7)) == 7
    assert {e.event_id for e in log.scan(segments=2)} == {e.event_id for e in batch}


def test_delete_owner_erases_events_and_their_claims(log: EventLog) -> None:
    # GIVEN two users' events
    log.write(events(5, user="a") + events(3, user="b"))
    # WHEN a is erased
    deleted = log.delete_owner("u#a")
    # THEN only a's events went, and a's event ids can be logged afresh
    assert deleted == 5
    assert log.query("u#a") == [] and len(log.query("u#b")) == 3
    again = log.write(events(1, user="a"))
    assert len(again.written) == 1


def test_move_owner_rekeys_a_session_under_the_user(log: EventLog) -> None:
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
    # THEN the user owns them with the same ids and order; the session has none
    assert (moved, moved_again) == (4, 0)
    assert [e.event_id for e in log.query("u#9")] == ["s0", "s1", "s2", "s3"]
    assert all(e.owner == "u#9" for e in log.query("u#9"))
    assert log.query("s#s1") == []


def test_prune_expired_deletes_only_expired_items(
    log: EventLog, aws_stack: tuple[Settings, Provisioned]
) -> None:
    # GIVEN one live event and one whose retention ran out
    settings, _ = aws_stack
    live, old = events(2)
    log.write([live])
    client("dynamodb", settings).put_item(
        TableName=settings.events_table, Item=_to_item(old, expires_at=10)
    )
    # WHEN
    pruned = log.prune_expired(now=1000)
    # THEN
    assert pruned == 1
    assert [e.event_id for e in log.query("u#u1")] == [live.event_id]
