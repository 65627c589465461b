"""Profile maths: weights, decay, negatives, incremental == rebuild, merge — by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recsys.profiles.maths import (
    DEFAULT_WEIGHTS,
    DecayedSum,
    ProfileEvent,
    build_profile,
    event_weight,
)

DAY = 86400.0
TAU = 30 * DAY
E1 = np.array([1.0, 0.0, 0.0], dtype=np.float32)
E2 = np.array([0.0, 1.0, 0.0], dtype=np.float32)
E3 = np.array([0.0, 0.0, 1.0], dtype=np.float32)
VECTORS = {"a": E1, "b": E2, "c": E3, "tea mugs": E3}


def test_default_weights_are_the_specified_ones() -> None:
    # GIVEN / WHEN / THEN the weights the specification fixes
    assert {k: DEFAULT_WEIGHTS[k] for k in ("purchase", "add_to_cart", "wishlist")} == {
        "purchase": 5.0,
        "add_to_cart": 3.0,
        "wishlist": 2.0,
    }
    assert DEFAULT_WEIGHTS["click"] == 1.5
    assert DEFAULT_WEIGHTS["view"] == 1.0
    assert DEFAULT_WEIGHTS["remove_from_cart"] == -1.0
    assert DEFAULT_WEIGHTS["impression"] == 0.0


def test_event_weight_decays_exponentially_and_ignores_future() -> None:
    # GIVEN a purchase one τ old, a view two τ old, a click from the future
    # WHEN / THEN 5·e^-1, 1·e^-2, 1.5 (age clamped to 0), unknown type 0
    assert event_weight("purchase", TAU, tau_seconds=TAU, weights=DEFAULT_WEIGHTS) == (
        pytest.approx(5 * math.exp(-1))
    )
    assert event_weight("view", 2 * TAU, tau_seconds=TAU, weights=DEFAULT_WEIGHTS) == (
        pytest.approx(math.exp(-2))
    )
    assert event_weight("click", -DAY, tau_seconds=TAU, weights=DEFAULT_WEIGHTS) == 1.5
    assert event_weight("shrug", 0, tau_seconds=TAU, weights=DEFAULT_WEIGHTS) == 0.0


def test_build_profile_weights_and_decay_by_hand() -> None:
    # GIVEN a purchase of a now, a view of b one τ ago
    now = 100 * DAY
    events = [ProfileEvent("purchase", now, "a"), ProfileEvent("view", now - TAU, "b")]
    # WHEN
    acc = build_profile(events, VECTORS, now=now, tau_seconds=TAU, size=3)
    # THEN S = 5·e1 + e^-1·e2, unit = S/|S|
    s = np.array([5.0, math.exp(-1), 0.0])
    np.testing.assert_allclose(acc.vector, s, rtol=1e-6)
    np.testing.assert_allclose(acc.unit(), s / np.linalg.norm(s), rtol=1e-6)
    assert acc.count == 2
    assert acc.norm == pytest.approx(math.sqrt(25 + math.exp(-2)), rel=1e-6)


def test_search_contributes_the_query_embedding() -> None:
    # GIVEN a search whose query text has an embedding
    events = [ProfileEvent("search", 0.0, query="tea mugs"), ProfileEvent("view", 0.0, "a")]
    # WHEN
    acc = build_profile(events, VECTORS, now=0.0, tau_seconds=TAU, size=3)
    # THEN search weight 1 on e3, view 1 on e1
    np.testing.assert_allclose(acc.vector, [1.0, 0.0, 1.0])


def test_negative_events_subtract_and_can_cancel() -> None:
    # GIVEN add_to_cart then three removals of the same item at the same time (3 − 1·3 = 0)
    events = [ProfileEvent("add_to_cart", 0.0, "a")] + [
        ProfileEvent("remove_from_cart", 0.0, "a") for _ in range(3)
    ]
    # WHEN
    acc = build_profile(events, VECTORS, now=0.0, tau_seconds=TAU, size=3)
    # THEN nothing is left: no direction
    np.testing.assert_allclose(acc.vector, [0.0, 0.0, 0.0], atol=1e-7)
    assert acc.unit() is None


def test_a_removal_pulls_away_from_the_item() -> None:
    # GIVEN view of a and b, then a removal of b
    events = [ProfileEvent("view", 0.0, "a"), ProfileEvent("view", 0.0, "b")]
    events.append(ProfileEvent("remove_from_cart", 0.0, "b"))
    # WHEN
    acc = build_profile(events, VECTORS, now=0.0, tau_seconds=TAU, size=3)
    # THEN b's 1 − 1 = 0: only a is left
    np.testing.assert_allclose(acc.unit(), E1)


def test_unknown_items_and_zero_weight_events_are_skipped() -> None:
    # GIVEN an event on an unknown product and an impression
    events = [ProfileEvent("purchase", 0.0, "zzz"), ProfileEvent("impression", 0.0, "a")]
    # WHEN
    acc = build_profile(events, VECTORS, now=0.0, tau_seconds=TAU, size=3)
    # THEN nothing counted
    assert acc.count == 0 and acc.unit() is None


def test_incremental_update_equals_rebuild() -> None:
    # GIVEN a history split at t1, the first part stored as unit vector + norm (as the payload does)
    t = [0.0, 3 * DAY, 10 * DAY, 40 * DAY, 41 * DAY]
    kinds = ["purchase", "view", "add_to_cart", "click", "remove_from_cart"]
    items = ["a", "b", "c", "a", "c"]
    events = [ProfileEvent(k, at, p) for k, at, p in zip(kinds, t, items, strict=True)]
    first = build_profile(events[:3], VECTORS, now=t[2], tau_seconds=TAU, size=3)
    unit = first.unit()
    assert unit is not None
    stored = DecayedSum.from_stored(unit, first.norm, first.as_of, first.count)
    # WHEN continuing incrementally to the last event's time
    inc = stored.decayed_to(t[-1], tau_seconds=TAU)
    for ev in events[3:]:
        key = ev.product_id
        assert key is not None
        inc.add(VECTORS[key], ev.type, ev.at, tau_seconds=TAU, weights=DEFAULT_WEIGHTS)
    full = build_profile(events, VECTORS, now=t[-1], tau_seconds=TAU, size=3)
    # THEN the same sum, and by hand: e1·(5e^-41/30 + 1.5e^-1/30), e2·e^-38/30, e3·(3e^-31/30 − 1)
    np.testing.assert_allclose(inc.vector, full.vector, rtol=1e-5)
    expected = [
        5 * math.exp(-41 / 30) + 1.5 * math.exp(-1 / 30),
        math.exp(-38 / 30),
        3 * math.exp(-31 / 30) - 1.0,
    ]
    np.testing.assert_allclose(full.vector, expected, rtol=1e-5)
    assert inc.count == full.count == 5


def test_decay_never_changes_the_direction() -> None:
    # GIVEN a profile
    acc = build_profile(
        [ProfileEvent("purchase", 0.0, "a"), ProfileEvent("view", 0.0, "b")],
        VECTORS,
        now=0.0,
        tau_seconds=TAU,
        size=3,
    )
    # WHEN seen 300 days later
    later = acc.decayed_to(300 * DAY, tau_seconds=TAU)
    # THEN the norm shrank by e^-10, the direction did not; it never moves back in time
    assert later.norm == pytest.approx(acc.norm * math.exp(-10), rel=1e-5)
    np.testing.assert_allclose(later.unit(), acc.unit(), rtol=1e-6)
    assert later.decayed_to(0.0, tau_seconds=TAU) is later


def test_merge_of_session_into_user_is_the_sum_of_both() -> None:
    # GIVEN a user's history and an anonymous session's, both summed at the same time
    user_events = [ProfileEvent("purchase", 0.0, "a")]
    session_events = [ProfileEvent("click", DAY, "b"), ProfileEvent("view", 2 * DAY, "c")]
    now = 2 * DAY
    user = build_profile(user_events, VECTORS, now=now, tau_seconds=TAU, size=3)
    session = build_profile(session_events, VECTORS, now=now, tau_seconds=TAU, size=3)
    # WHEN merged (the service re-keys the session's events under the user and rebuilds)
    merged = build_profile(user_events + session_events, VECTORS, now=now, tau_seconds=TAU, size=3)
    # THEN the merged sum is the sum of the two, and by hand 5e^-2/30·e1 + 1.5e^-1/30·e2 + e3
    np.testing.assert_allclose(merged.vector, user.vector + session.vector, rtol=1e-6)
    np.testing.assert_allclose(
        merged.vector, [5 * math.exp(-2 / 30), 1.5 * math.exp(-1 / 30), 1.0], rtol=1e-6
    )
