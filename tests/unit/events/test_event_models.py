"""Event validation: per-event rejects with field and reason; ids, owners and times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from recsys.events.intake import profile_updates
from recsys.events.models import (
    ProfileUpdate,
    Unparsable,
    owner_key,
    sort_key,
    validate_events,
)

NOW = 1_700_000_000.0


def test_good_events_get_owner_ids_and_times() -> None:
    # GIVEN a user event with an ISO time and a session search without time or id
    raw = [
        {
            "event_id": "e1",
            "user_id": "42",
            "type": "view",
            "product_id": "p1",
            "timestamp": "2011-12-01T10:00:00Z",
        },
        {"session_id": "s1", "type": "search", "query": "  red mug "},
    ]
    # WHEN
    good, rejects = validate_events(raw, now=NOW)
    # THEN
    assert rejects == []
    assert good[0].owner == "u#42" and good[0].event_id == "e1"
    assert good[0].at == datetime(2011, 12, 1, 10, tzinfo=UTC).timestamp()
    assert good[0].sk == f"{int(good[0].at * 1000):013d}#e1"
    assert good[1].owner == "s#s1" and good[1].at == NOW and good[1].query == "red mug"
    assert len(good[1].event_id) == 32


@pytest.mark.parametrize(
    ("event", "field", "reason_part"),
    [
        ({"type": "view", "product_id": "p"}, "user_id", "user_id or session_id"),
        ({"user_id": "u", "type": "view"}, "product_id", "required for view"),
        ({"user_id": "u", "type": "search"}, "query", "required for search"),
        ({"user_id": "u", "type": "like", "product_id": "p"}, "type", "must be one of"),
        (
            {"user_id": "u", "type": "view", "product_id": "p", "timestamp": 1.7e12},
            "timestamp",
            "milliseconds",
        ),
        (
            {"user_id": "u", "type": "view", "product_id": "p", "timestamp": "yesterday"},
            "timestamp",
            "not ISO 8601",
        ),
        (
            {"user_id": "u", "type": "view", "product_id": "p", "timestamp": 4e9},
            "timestamp",
            "future",
        ),
        (
            {"user_id": "u", "type": "purchase", "product_id": "p", "price": -1},
            "price",
            "greater than or equal to 0",
        ),
        (
            {"user_id": "u", "type": "view", "product_id": "p", "colour": "red"},
            "colour",
            "unknown field",
        ),
        ({"user_id": "", "type": "view", "product_id": "p"}, "user_id", "at least 1"),
    ],
)
def test_bad_events_are_rejected_with_field_and_reason(
    event: dict[str, object], field: str, reason_part: str
) -> None:
    # GIVEN a good event around the bad one
    good_event = {"user_id": "u", "type": "click", "product_id": "p"}
    # WHEN
    good, rejects = validate_events([good_event, event], now=NOW)
    # THEN the good one passes; the bad one is reported at index 1 with its field
    assert len(good) == 1
    assert len(rejects) == 1
    rej = rejects[0]
    assert (rej.index, rej.field) == (1, field)
    assert reason_part in rej.reason


def test_non_objects_and_unparsable_lines_are_rejected() -> None:
    # GIVEN
    raw = [42, Unparsable("line 3: not JSON (Expecting value)")]
    # WHEN
    _, rejects = validate_events(raw, now=NOW, start_index=10)
    # THEN
    assert [r.as_dict() for r in rejects] == [
        {"index": 10, "field": None, "reason": "an event must be a JSON object"},
        {"index": 11, "field": None, "reason": "line 3: not JSON (Expecting value)"},
    ]


def test_id_from_content_makes_client_retries_idempotent() -> None:
    # GIVEN the same event without id, twice, with a client timestamp; and once without one
    ev = {"user_id": "u", "type": "view", "product_id": "p", "timestamp": 1_600_000_000}
    untimed = {"user_id": "u", "type": "view", "product_id": "p"}
    # WHEN
    (a, b, c, d), _ = validate_events([ev, dict(ev), untimed, dict(untimed)], now=NOW)
    # THEN the timed ones share an id; the untimed ones are distinct events
    assert a.event_id == b.event_id
    assert c.event_id != d.event_id


def test_owner_and_sort_keys() -> None:
    # GIVEN / WHEN / THEN the user wins over the session; sort keys order by time
    assert owner_key(user_id="7", session_id="s") == "u#7"
    assert owner_key(session_id="s") == "s#s"
    with pytest.raises(ValueError, match="required"):
        owner_key()
    assert sort_key(9.5, "x") < sort_key(10.0, "a") < sort_key(100.0, "a")


def test_one_profile_update_per_owner_with_merges() -> None:
    # GIVEN three events of one user (one carrying the session) and one of a session
    good, _ = validate_events(
        [
            {"user_id": "u", "type": "view", "product_id": "p", "timestamp": 20},
            {
                "user_id": "u",
                "session_id": "s1",
                "type": "view",
                "product_id": "q",
                "timestamp": 10,
            },
            {"user_id": "u", "type": "click", "product_id": "p", "timestamp": 30},
            {"session_id": "s2", "type": "view", "product_id": "p", "timestamp": 5},
        ],
        now=NOW,
    )
    # WHEN
    updates = profile_updates(good)
    # THEN the user's oldest new sort key, and the session to merge
    assert [u.key for u in updates] == ["s#s2", "u#u"]
    user = updates[1]
    assert user.merge_from == ["s#s1"]
    assert user.oldest_sk is not None and user.oldest_sk.startswith("0000000010000#")
    assert ProfileUpdate.model_validate_json(user.model_dump_json()) == user


def test_values_the_log_cannot_hold_are_rejected_one_by_one() -> None:
    # GIVEN one good event between events DynamoDB could not store or route by id
    base = {"user_id": "u1", "type": "view", "product_id": "p1"}
    raw = [
        {**base, "price": 1e200},
        {**base, "price": 1e-200},
        {**base, "context": {"": 1}},
        {**base, "context": {"a": {"b": [{"": 2}]}}},
        {**base, "context": {"n": 10**40 + 1}},
        {**base, "context": _deep(40)},
        {**base, "price": 3.5, "context": {"page": "home", "list": [1, 2.5, None]}},
        {**base, "user_id": "a/b"},
        {**base, "product_id": ".."},
        {**base, "event_id": "x y"},
    ]
    # WHEN validated
    good, rejects = validate_events(raw, now=1_000.0)
    # THEN only the good one is kept, and each bad one says where and why
    assert [ev.price for ev in good] == [3.5]
    by_index = {r.index: r for r in rejects}
    assert sorted(by_index) == [0, 1, 2, 3, 4, 5, 7, 8, 9]
    assert by_index[0].field == "price" and "too large" in by_index[0].reason
    assert by_index[1].field == "price" and "too small" in by_index[1].reason
    assert by_index[2].field == "context" and "empty" in by_index[2].reason
    assert by_index[3].field == "context.a.b[0]"
    assert "significant digits" in by_index[4].reason
    assert "deeper than 32" in by_index[5].reason
    assert by_index[7].field == "user_id" and "A-Z a-z 0-9" in by_index[7].reason
    assert by_index[8].field == "product_id" and by_index[9].field == "event_id"


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        value = {"k": value}
    return value
