""" "Buy again": the shopper's own purchases by frequency, recency and the item's repeat rate."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from recsys.aggregates.compute import Aggregates
from recsys.profiles.schema import ProfilePayload
from recsys.ranking.buy_again import rank_buy_again, repeat_scores
from recsys.ranking.memory import ArrayItems
from recsys.ranking.state import purchases
from recsys.ranking.types import Purchase, UserState
from recsys.store.base import Filters

DAY = 86400.0
NOW = 1_700_000_000.0


@pytest.fixture
def items() -> ArrayItems:
    ids = ["cups", "clock", "tea", "vase", "gone"]
    payloads: dict[str, dict[str, Any]] = {
        p: {"product_id": p, "title": p.title(), "in_stock": p != "vase", "is_active": True}
        for p in ids[:4]
    }
    vectors = np.eye(len(ids), 8, dtype=np.float32)
    # "gone" was bought but is no longer in the catalog
    return ArrayItems(ids[:4], vectors[:4], payloads)


def bought(*lines: tuple[str, float]) -> UserState:
    return UserState(user_id="u1", purchases=[Purchase(p, NOW - d * DAY) for p, d in lines])


def test_frequency_and_recency_order_the_list(items: ArrayItems) -> None:
    # GIVEN cups bought 3 times, tea once lately, the clock once long ago
    user = bought(("cups", 30), ("cups", 60), ("cups", 90), ("tea", 2), ("clock", 300))
    # WHEN ranked without item statistics
    top = rank_buy_again(user, now=NOW, limit=10, items=items)
    # THEN the frequent product leads, then the recent one; reasons count the purchases
    assert [s.product_id for s in top] == ["cups", "tea", "clock"]
    assert top[0].reason == "buy it again: you bought this 3 times"
    assert top[1].reason == "buy it again: you bought this before"
    f = sum(math.exp(-d / 365) for d in (30, 60, 90))
    assert top[0].score == pytest.approx(f * (0.5 + 0.5), rel=1e-5)


def test_the_items_repeat_rate_breaks_an_equal_personal_signal(items: ArrayItems) -> None:
    # GIVEN cups and a clock each bought once on the same day; many buyers re-buy cups
    user = bought(("cups", 10), ("clock", 10))
    aggs = Aggregates(repeat_buyers={"cups": (40, 30), "clock": (40, 1)})
    # WHEN ranked with the aggregates' repeat rates
    top = rank_buy_again(user, now=NOW, limit=10, items=items, repeat_rate=aggs.repeat_rate)
    # THEN cups come first, scored by (½ + smoothed rate)
    assert [s.product_id for s in top] == ["cups", "clock"]
    decay = math.exp(-10 / 365)
    assert top[0].score == pytest.approx(decay * (0.5 + 31 / 42), rel=1e-5)
    assert top[1].score == pytest.approx(decay * (0.5 + 2 / 42), rel=1e-5)


def test_filters_hold_and_delisted_products_drop_out(items: ArrayItems) -> None:
    # GIVEN purchases of an out-of-stock vase and a product no longer listed
    user = bought(("vase", 1), ("gone", 1), ("tea", 5))
    # WHEN ranked with in_stock true, false, and no stock condition
    in_stock = rank_buy_again(user, now=NOW, limit=10, items=items, filters=Filters(in_stock=True))
    out = rank_buy_again(user, now=NOW, limit=10, items=items, filters=Filters(in_stock=False))
    anything = rank_buy_again(user, now=NOW, limit=10, items=items, filters=Filters())
    # THEN each means what it says, and the delisted product never shows
    assert [s.product_id for s in in_stock] == ["tea"]
    assert [s.product_id for s in out] == ["vase"]
    assert [s.product_id for s in anything] == ["vase", "tea"]


def test_nothing_bought_means_an_empty_list(items: ArrayItems) -> None:
    assert rank_buy_again(UserState(user_id="u1"), now=NOW, limit=5, items=items) == []
    assert repeat_scores(UserState(), now=NOW) == {}


def test_limit_cuts_the_list(items: ArrayItems) -> None:
    user = bought(("cups", 1), ("tea", 2), ("clock", 3))
    assert [s.product_id for s in rank_buy_again(user, now=NOW, limit=2, items=items)] == [
        "cups",
        "tea",
    ]


def test_stored_purchase_figures_become_order_lines() -> None:
    # GIVEN a profile payload with occasions, first and last time per recent purchase, and one
    # product from before those figures were kept
    payload = {
        "recent_purchases": ["tea", "cups", "old"],
        "purchase_stats": {
            "tea": [1, NOW - DAY, NOW - DAY, "o#9"],
            "cups": [3, NOW - 20 * DAY, NOW - 2 * DAY, "o#8"],
        },
        "last_event_ts": NOW - DAY,
    }
    # WHEN read as purchases
    lines = purchases(ProfilePayload.read(payload), now=NOW)
    # THEN cups get 3 lines spread from first to last, tea 1, the old one one line an hour
    # apart from the newest event; newest first
    at = {p: sorted(x.at for x in lines if x.product_id == p) for p in ("tea", "cups", "old")}
    assert at["cups"] == pytest.approx([NOW - 20 * DAY, NOW - 11 * DAY, NOW - 2 * DAY])
    assert at["tea"] == [NOW - DAY]
    assert at["old"] == [NOW - DAY - 2 * 3600.0]
    assert [x.at for x in lines] == sorted((x.at for x in lines), reverse=True)
