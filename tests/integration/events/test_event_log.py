"""What only the DynamoDB event log has: half-written events (two writes) and TTL pruning.

The contract both backends keep (exactly once, exact counts under concurrency, reads, erasure,
re-keying, pruning) is tested in test_event_log_contract.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recsys.core.aws import client
from recsys.core.config import Settings
from recsys.events.items import to_item
from recsys.events.log import EventLog
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


def test_prune_expired_deletes_only_expired_items(
    log: EventLog, aws_stack: tuple[Settings, Provisioned]
) -> None:
    # GIVEN one live event and one whose retention ran out
    settings, _ = aws_stack
    live, old = events(2)
    log.write([live])
    client("dynamodb", settings).put_item(
        TableName=settings.events_table, Item=to_item(old, expires_at=10)
    )
    # WHEN
    pruned = log.prune_expired(now=1000)
    # THEN
    assert pruned == 1
    assert [e.event_id for e in log.query("u#u1")] == [live.event_id]


def test_a_claim_and_its_late_event_write_count_once(log: EventLog) -> None:
    # GIVEN writer A has claimed a client-timed event but not yet written it
    (ev,) = events(1)
    assert log._claim(ev, 2_000_000_000) is None
    # WHEN writer B logs the same event meanwhile, then A's own event write arrives
    b = log.write([ev])
    a_won = log._put_event(ev, 2_000_000_000)
    # THEN B counted it, A counts a duplicate, and the log holds it once
    assert [e.event_id for e in b.written] == [ev.event_id] and not b.duplicates
    assert a_won is False
    assert [e.event_id for e in log.query("u#u1")] == [ev.event_id]
