"""Labels for the tuner: shown items, clicked or not, bought or not, with positions."""

from __future__ import annotations

from typing import Any

from recsys.events.models import validate_events
from recsys.feedback.labels import labels_from_events, position_propensity


def _events(raw: list[dict[str, Any]]) -> list[Any]:
    good, rejects = validate_events(raw, now=2_000_000_000.0)
    assert not rejects
    return good


def test_each_shown_item_is_one_label_clicked_and_bought_from_the_events() -> None:
    t = 1_700_000_000.0
    ctx = [{"request_id": "r1", "position": i} for i in range(3)]
    events = _events(
        [
            *(
                {
                    "type": "impression",
                    "user_id": "u",
                    "product_id": p,
                    "timestamp": t,
                    "context": c,
                }
                for p, c in zip("ABC", ctx, strict=True)
            ),
            # shown twice in the same list (a re-render): still one label
            {
                "type": "impression",
                "user_id": "u",
                "product_id": "A",
                "timestamp": t + 1,
                "context": ctx[0],
            },
            {
                "type": "click",
                "user_id": "u",
                "product_id": "B",
                "timestamp": t + 5,
                "context": ctx[1],
            },
            {
                "type": "click",
                "user_id": "u",
                "product_id": "C",
                "timestamp": t + 6,
                "context": ctx[2],
            },
            # B bought later without a request id (inside the window); C never
            {"type": "purchase", "user_id": "u", "product_id": "B", "timestamp": t + 600},
            {"type": "purchase", "user_id": "u", "product_id": "C", "timestamp": t + 10**6},
        ]
    )
    labels = {lab.product_id: lab for lab in labels_from_events(events, window_s=3600)}
    assert sorted(labels) == ["A", "B", "C"]
    assert [labels[p].position for p in "ABC"] == [0, 1, 2]
    assert [labels[p].clicked for p in "ABC"] == [False, True, True]
    assert [labels[p].purchased for p in "ABC"] == [False, True, False]


def test_position_propensity_is_relative_to_the_top_position() -> None:
    t = 1_700_000_000.0
    raw: list[dict[str, Any]] = []
    for n in range(20):
        rid = f"r{n}"
        for pos in range(2):
            raw.append(
                {
                    "type": "impression",
                    "user_id": f"u{n}",
                    "product_id": f"P{pos}",
                    "timestamp": t + n,
                    "context": {"request_id": rid, "position": pos},
                }
            )
        # position 0 clicked in half the lists, position 1 in a quarter
        if n % 2 == 0:
            raw.append(
                {
                    "type": "click",
                    "user_id": f"u{n}",
                    "product_id": "P0",
                    "timestamp": t + n + 1,
                    "context": {"request_id": rid, "position": 0},
                }
            )
        if n % 4 == 0:
            raw.append(
                {
                    "type": "click",
                    "user_id": f"u{n}",
                    "product_id": "P1",
                    "timestamp": t + n + 1,
                    "context": {"request_id": rid, "position": 1},
                }
            )
    props = position_propensity(labels_from_events(_events(raw), window_s=3600), positions=3)
    assert props == [1.0, 0.5, 1.0]
