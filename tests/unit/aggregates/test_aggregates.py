"""Aggregates: decayed popularity, trending against a baseline, co-purchase neighbours."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from recsys.aggregates.compute import (
    Aggregates,
    compute_aggregates,
)
from recsys.aggregates.store import AggregatesStore
from recsys.core.config import Settings
from recsys.profiles.maths import ProfileEvent

DAY = 86400.0
NOW = 1_000 * DAY


def purchase(pid: str, order: str, days_ago: float = 1.0) -> ProfileEvent:
    return ProfileEvent(type="purchase", at=NOW - days_ago * DAY, product_id=pid, order_id=order)


def test_popularity_is_decayed_weighted_and_normalised() -> None:
    # GIVEN a purchased today (weight 3), b viewed twice 30 days ago (weight 1 each, τ 30 d)
    events = [
        ProfileEvent("purchase", NOW, "a"),
        ProfileEvent("view", NOW - 30 * DAY, "b"),
        ProfileEvent("view", NOW - 30 * DAY, "b"),
        ProfileEvent("remove_from_cart", NOW, "c"),
    ]
    # WHEN
    agg = compute_aggregates(events, now=NOW, catalog_categories={})
    # THEN a = 3 is the top, b = 2·e^-1 / 3; negatives never make an item popular
    assert agg.popularity("a") == pytest.approx(1.0)
    assert agg.popularity("b") == pytest.approx(2 * math.exp(-1) / 3, rel=1e-6)
    assert agg.popularity("c") == 0.0
    assert [p for p, _ in agg.popular(limit=5)] == ["a", "b"]


def test_future_events_are_ignored() -> None:
    # GIVEN an event after "now" (an offline split must not leak the test period)
    events = [ProfileEvent("purchase", NOW + DAY, "late"), ProfileEvent("view", NOW, "x")]
    # WHEN
    agg = compute_aggregates(events, now=NOW, catalog_categories={})
    # THEN
    assert agg.popularity("late") == 0.0 and agg.popularity("x") == 1.0


def test_trending_is_excess_over_own_baseline() -> None:
    # GIVEN "steady" viewed once a day for 5 weeks; "rising" viewed 0 before, 4 in the last week
    events = [ProfileEvent("view", NOW - d * DAY - 0.5 * DAY, "steady") for d in range(35)]
    events += [ProfileEvent("view", NOW - d * DAY, "rising") for d in (1, 2, 3, 4)]
    # WHEN
    agg = compute_aggregates(events, now=NOW, catalog_categories={})
    # THEN rising: s=4, e=0 → (4-0)/sqrt(0+1) = 4; steady sells at its usual rate → not trending
    assert agg.trending(limit=10) == [("rising", pytest.approx(4.0))]


def test_bought_with_uses_cosine_and_min_support() -> None:
    # GIVEN baskets {a,b}, {a,b}, {a,c}, {a,b,c}, {c,d}
    events = [
        *(purchase(p, "o1") for p in "ab"),
        *(purchase(p, "o2") for p in "ab"),
        *(purchase(p, "o3") for p in "ac"),
        *(purchase(p, "o4") for p in "abc"),
        *(purchase(p, "o5") for p in "cd"),
    ]
    # WHEN
    agg = compute_aggregates(events, now=NOW, catalog_categories={})
    # THEN n_a=4, n_b=3, n_c=3: cos(a,b)=3/sqrt(12), cos(a,c)=2/sqrt(12); (c,d) has support 1 < 2
    got = dict(agg.bought_with("a", limit=10))
    assert got == {"b": pytest.approx(3 / math.sqrt(12)), "c": pytest.approx(2 / math.sqrt(12))}
    assert agg.bought_with("d", limit=10) == []
    assert [p for p, _ in agg.bought_with("a", limit=1)] == ["b"]


def test_baskets_without_order_fall_back_to_owner_and_day() -> None:
    # GIVEN two purchases by the same owner on the same day, twice, with no order id
    events = [
        ProfileEvent("purchase", NOW - 1 * DAY, "x", owner="u#1"),
        ProfileEvent("purchase", NOW - 1 * DAY + 60, "y", owner="u#1"),
        ProfileEvent("purchase", NOW - 3 * DAY, "x", owner="u#2"),
        ProfileEvent("purchase", NOW - 3 * DAY + 60, "y", owner="u#2"),
    ]
    # WHEN
    agg = compute_aggregates(events, now=NOW, catalog_categories={})
    # THEN
    assert agg.bought_with("x", limit=5) == [("y", pytest.approx(1.0))]


def test_anonymous_sessions_baskets_count_only_when_asked() -> None:
    # GIVEN x and y bought together twice by guests and once by a customer, z with x by customers
    events = [
        *(
            ProfileEvent("purchase", NOW - DAY, p, order_id=o, owner="s#g")
            for o in "12"
            for p in "xy"
        ),
        *(ProfileEvent("purchase", NOW - DAY, p, order_id="3", owner="u#1") for p in "xy"),
        *(
            ProfileEvent("purchase", NOW - DAY, p, order_id=o, owner="u#2")
            for o in "45"
            for p in "xz"
        ),
    ]
    # WHEN
    default = compute_aggregates(events, now=NOW, catalog_categories={})
    with_sessions = compute_aggregates(events, now=NOW, catalog_categories={}, session_baskets=True)
    # THEN the guests' baskets only count when asked: (x, y) has support 1 < 2 without them
    assert [p for p, _ in default.bought_with("x", limit=5)] == ["z"]
    assert [p for p, _ in with_sessions.bought_with("x", limit=5)] == ["y", "z"]


def test_repeat_rate_counts_identified_buyers_coming_back_on_another_occasion() -> None:
    # GIVEN tea bought by u#1 in two orders and u#2 on two days (no order id), by u#3 once in
    # one order of two lines, and by a guest session twice; a mug bought once by u#1
    events = [
        ProfileEvent("purchase", NOW - 9 * DAY, "tea", order_id="1", owner="u#1"),
        ProfileEvent("purchase", NOW - 2 * DAY, "tea", order_id="2", owner="u#1"),
        ProfileEvent("purchase", NOW - 5 * DAY, "tea", owner="u#2"),
        ProfileEvent("purchase", NOW - 1 * DAY, "tea", owner="u#2"),
        ProfileEvent("purchase", NOW - 1 * DAY, "tea", order_id="3", owner="u#3"),
        ProfileEvent("purchase", NOW - 1 * DAY + 5, "tea", order_id="3", owner="u#3"),
        *(ProfileEvent("purchase", NOW - d * DAY, "tea", f"g{d}", owner="s#g") for d in (1, 4)),
        ProfileEvent("purchase", NOW - 1 * DAY, "mug", order_id="2", owner="u#1"),
    ]
    # WHEN
    agg = compute_aggregates(events, now=NOW, catalog_categories={})
    # THEN tea has 3 identified buyers, 2 of them repeaters (the guest never counts); the rate
    # is smoothed towards one half, and an unknown product has none
    assert agg.repeat_buyers == {"mug": (1, 0), "tea": (3, 2)}
    assert agg.repeat_rate("tea") == pytest.approx(3 / 5)
    assert agg.repeat_rate("mug") == pytest.approx(1 / 3)
    assert agg.repeat_rate("lamp") is None
    assert Aggregates.from_json(agg.to_json()).repeat_buyers == agg.repeat_buyers


def test_category_filter_matches_any_level() -> None:
    # GIVEN products in a category tree
    events = [ProfileEvent("purchase", NOW, p) for p in ("mug", "mug", "lamp", "tea")]
    cats = {"mug": "Home > Kitchen", "lamp": "Home > Lighting", "tea": "Food"}
    # WHEN
    agg = compute_aggregates(events, now=NOW, catalog_categories=cats)
    # THEN the path prefix, the full path and a bare level name all select
    assert [p for p, _ in agg.popular(limit=5, category="Home")] == ["mug", "lamp"]
    assert [p for p, _ in agg.popular(limit=5, category="Home > Lighting")] == ["lamp"]
    assert [p for p, _ in agg.popular(limit=5, category="Kitchen")] == ["mug"]
    assert agg.popular(limit=5, category="Garden") == []


def test_json_round_trip_keeps_everything() -> None:
    # GIVEN
    events = [purchase("a", "o1"), purchase("b", "o1"), purchase("a", "o2"), purchase("b", "o2")]
    agg = compute_aggregates(events, now=NOW, catalog_categories={"a": "X > Y"})
    agg.item_mean = [0.5, -0.25]
    # WHEN
    back = Aggregates.from_json(agg.to_json())
    # THEN
    assert back.popular(limit=5) == agg.popular(limit=5)
    assert back.bought_with("a", limit=5) == agg.bought_with("a", limit=5)
    assert back.popular(limit=5, category="X") == [("a", pytest.approx(1.0))]
    assert back.item_mean == [0.5, -0.25]


@pytest.mark.integration
def test_save_then_load_through_s3(aws_stack: tuple[Settings, object]) -> None:
    # GIVEN aggregates saved to the catalog bucket on the moto server
    settings, _ = aws_stack
    kept = AggregatesStore(settings)
    assert kept.load().computed_at is None  # nothing saved yet → empty
    agg = compute_aggregates([purchase("a", "o1")], now=NOW, catalog_categories={})
    kept.save(agg)
    # WHEN a fresh process-level read (cache bypassed) loads them
    loaded = AggregatesStore(settings).load(max_age_s=0)
    # THEN
    assert loaded.computed_at == NOW
    assert loaded.popular(limit=3) == [("a", 1.0)]


def test_save_then_load_through_the_data_dir(make_settings: Callable[..., Settings]) -> None:
    # GIVEN the embedded default: no AWS at all, the aggregates kept under the data dir
    settings = make_settings(aggregates_backend="file")
    kept = AggregatesStore(settings)
    assert kept.load(max_age_s=0).computed_at is None  # nothing saved yet → empty
    # WHEN aggregates are saved and read back by a fresh store (cache bypassed)
    kept.save(compute_aggregates([purchase("a", "o1")], now=NOW, catalog_categories={}))
    loaded = AggregatesStore(settings).load(max_age_s=0)
    # THEN they come from the file, written whole (no temporary file left beside it)
    assert loaded.computed_at == NOW
    assert loaded.popular(limit=3) == [("a", 1.0)]
    assert kept.where.endswith("aggregates/latest.json.gz")
    assert [p.name for p in (settings.data_dir / "aggregates").iterdir()] == ["latest.json.gz"]
