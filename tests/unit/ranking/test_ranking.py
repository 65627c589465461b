"""Ranking over in-memory sources: signals, rules, diversity and reasons."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from recsys.aggregates.compute import Aggregates
from recsys.core.config import Settings
from recsys.ranking.config import RankingConfig, Weights
from recsys.ranking.memory import ArrayItems, ArrayUsers
from recsys.ranking.mmr import mmr
from recsys.ranking.personal import rank_for_user
from recsys.ranking.rules import cap_per_category, matches
from recsys.ranking.types import Purchase, UserState
from recsys.store.base import Filters

DAY = 86400.0
NOW = 1_700_000_000.0


def unit(v: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return (v / np.linalg.norm(v)).astype(np.float32)


@pytest.fixture
def catalog() -> ArrayItems:
    # Three "shelves" (directions); products on a shelf are near each other.
    rng = np.random.default_rng(0)
    shelves = {"Kitchen": 0, "Garden": 1, "Toys": 2}
    ids, vecs, payloads = [], [], {}
    for shelf, axis in shelves.items():
        for i in range(8):
            pid = f"{shelf[0]}{i}"
            base = np.zeros(16, dtype=np.float32)
            base[axis] = 1.0
            ids.append(pid)
            vecs.append(unit(base + 0.15 * rng.standard_normal(16).astype(np.float32)))
            payloads[pid] = {
                "product_id": pid,
                "title": f"{shelf} thing {i}",
                "category": f"{shelf} > Sub{i % 2}",
                "price": float(i + 1),
                "in_stock": i != 7,
                "is_active": True,
            }
    return ArrayItems(ids, np.stack(vecs), payloads)


@pytest.fixture
def aggregates() -> Aggregates:
    return Aggregates(
        popularity_scores={"T0": 1.0, "T1": 0.9, "G0": 0.5},
        trending_scores={"G1": 3.0},
        neighbours={"K0": [("G3", 0.9), ("K5", 0.2)], "G3": [("K0", 0.9)]},
        categories={},
    )


def user_who_bought(catalog: ArrayItems, *pids: str) -> UserState:
    vecs = [catalog.vectors[catalog.index[p]] for p in pids]
    return UserState(
        user_id="u1",
        long=unit(np.sum(vecs, axis=0)),
        purchases=[Purchase(p, NOW - (i + 1) * DAY) for i, p in enumerate(pids)],
    )


def rank(catalog: ArrayItems, aggregates: Aggregates, user: UserState, **kw: Any) -> list[Any]:
    config = kw.pop("config", RankingConfig())
    return rank_for_user(
        user,
        now=NOW,
        limit=kw.pop("limit", 5),
        items=catalog,
        users=kw.pop("users", None),
        aggregates=aggregates,
        config=config,
        **kw,
    )


def test_buy_again_puts_repeat_purchases_first_with_a_reason(
    catalog: ArrayItems, aggregates: Aggregates
) -> None:
    # GIVEN a user who bought K0 three times recently
    user = replace(
        user_who_bought(catalog, "K0"),
        purchases=[Purchase("K0", NOW - d * DAY) for d in (1, 5, 9)],
    )
    # WHEN ranked with buy-again on (a repeat-friendly store's setting)
    top = rank(catalog, aggregates, user, config=RankingConfig(buy_again=True))
    # THEN K0 is first, explained as a repeat
    assert top[0].product_id == "K0"
    assert top[0].reason.startswith("buy it again")


def test_buy_again_off_excludes_purchases(catalog: ArrayItems, aggregates: Aggregates) -> None:
    user = user_who_bought(catalog, "K0", "K1")
    top = rank(catalog, aggregates, user, config=RankingConfig(buy_again=False), limit=20)
    assert not {"K0", "K1"} & {s.product_id for s in top}


def test_for_you_leaves_purchases_out_by_default(
    catalog: ArrayItems, aggregates: Aggregates
) -> None:
    # GIVEN a user who bought K0 three times (a strong repeat signal) and the default settings
    user = replace(
        user_who_bought(catalog, "K0"),
        purchases=[Purchase("K0", NOW - d * DAY) for d in (1, 5, 9)],
    )
    config = RankingConfig.from_settings(Settings())
    # WHEN "for you" is ranked
    top = rank(catalog, aggregates, user, config=config, limit=20)
    # THEN K0 is not offered and nothing says "buy it again"
    assert config.buy_again is False
    assert top and "K0" not in {s.product_id for s in top}
    assert not any(s.reason.startswith("buy it again") for s in top)


def test_co_purchase_neighbour_is_explained_by_the_seed(
    catalog: ArrayItems, aggregates: Aggregates
) -> None:
    # GIVEN a user who bought K0, which is often bought with G3 (another shelf)
    user = user_who_bought(catalog, "K0")
    # WHEN ranked without buy-again
    top = rank(catalog, aggregates, user, config=RankingConfig(buy_again=False))
    # THEN G3 is recommended "often bought with" K0's title
    g3 = next(s for s in top if s.product_id == "G3")
    assert g3.reason == "often bought with Kitchen thing 0"


def test_content_candidates_explained_by_nearest_purchase(
    catalog: ArrayItems, aggregates: Aggregates
) -> None:
    # GIVEN only the content signal
    config = RankingConfig(
        buy_again=False,
        weights=Weights(
            content=1, collaborative=0, similar_users=0, popularity=0, trending=0, repeat=0
        ),
    )
    top = rank(catalog, aggregates, user_who_bought(catalog, "G5"), config=config)
    # THEN garden items come first, "because you bought" the garden purchase
    assert top[0].product_id.startswith("G")
    assert top[0].reason == "because you bought Garden thing 5"


CONTENT_ONLY = RankingConfig(
    buy_again=False,
    weights=Weights(
        content=1, collaborative=0, similar_users=0, popularity=0, trending=0, repeat=0
    ),
)


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("viewed", "because you viewed Garden thing 5"),
        ("carted", "because you carted Garden thing 5"),
        ("in_cart", "goes with Garden thing 5 in your cart"),
    ],
)
def test_content_reasons_name_how_the_shopper_met_the_product(
    catalog: ArrayItems, aggregates: Aggregates, how: str, expected: str
) -> None:
    # GIVEN a shopper who only viewed / carted G5, or has G5 in the cart being complemented
    g5 = catalog.vectors[catalog.index["G5"]]
    user = UserState(
        user_id="u1",
        long=g5,
        recent=["G5"],
        carted=["G5"] if how == "carted" else [],
        in_cart=["G5"] if how == "in_cart" else [],
    )
    # WHEN ranked by content, G5 itself excluded as a cart's list excludes the cart
    top = rank(catalog, aggregates, user, config=CONTENT_ONLY, filters=Filters(exclude_keys=["G5"]))
    # THEN the reason names G5 with the right verb, never "bought"
    assert top[0].product_id.startswith("G")
    assert top[0].reason == expected


def test_a_cart_list_names_only_products_in_the_cart(
    catalog: ArrayItems, aggregates: Aggregates
) -> None:
    # GIVEN a cart holding K0 (often bought with G3) while the shopper also viewed G4
    k0 = catalog.vectors[catalog.index["K0"]]
    user = UserState(user_id="u1", long=k0, short=k0, recent=["K0", "G4"], in_cart=["K0"])
    # WHEN the cart's complements are ranked
    top = rank(
        catalog,
        aggregates,
        user,
        config=RankingConfig(buy_again=False),
        filters=Filters(exclude_keys=["K0"]),
        limit=10,
    )
    # THEN every reason naming a product names K0, as in the cart; G4 is never named
    named = [s.reason for s in top if "thing" in s.reason]
    assert named and all("Kitchen thing 0" in r and r.endswith("in your cart") for r in named)
    assert not any("Garden thing 4" in s.reason for s in top)
    g3 = next(s for s in top if s.product_id == "G3")
    assert g3.reason == "often bought with Kitchen thing 0 in your cart"


def test_filters_apply_to_every_candidate_source(
    catalog: ArrayItems, aggregates: Aggregates
) -> None:
    # GIVEN a category, price and stock filter
    filters = Filters(categories=["Garden"], price_max=5.0, in_stock=True)
    user = user_who_bought(catalog, "K0", "T0")
    # WHEN ranked (co-purchase, ANN, trending, popular all propose candidates)
    top = rank(catalog, aggregates, user, filters=filters, limit=10)
    # THEN only in-stock garden products up to 5 come back
    assert top
    for s in top:
        assert matches(s.payload, filters)
        assert s.payload["category"].startswith("Garden") and s.payload["price"] <= 5


def test_out_of_stock_filter_keeps_only_out_of_stock(
    catalog: ArrayItems, aggregates: Aggregates
) -> None:
    # GIVEN the catalog's out-of-stock products (every shelf's 7) and a user
    out = {p for p, pl in catalog.payloads.items() if not pl["in_stock"]}
    user = user_who_bought(catalog, "K0", "T0")
    # WHEN ranked with in_stock false, then with no stock condition
    only_out = rank(catalog, aggregates, user, filters=Filters(in_stock=False), limit=10)
    anything = rank(catalog, aggregates, user, filters=Filters(), limit=24)
    # THEN the first list is exactly out-of-stock products; the second mixes both
    assert only_out and {s.product_id for s in only_out} <= out
    ids = {s.product_id for s in anything}
    assert ids & out and ids - out


def test_similar_users_contribute_their_items(catalog: ArrayItems, aggregates: Aggregates) -> None:
    # GIVEN a neighbour user with the same taste who bought T5
    user = user_who_bought(catalog, "K1")
    assert user.long is not None
    others = ArrayUsers(["u2"], np.stack([user.long]), {"u2": ["T5"]})
    config = RankingConfig(
        buy_again=False,
        weights=Weights(
            content=0, collaborative=0, similar_users=1, popularity=0, trending=0, repeat=0
        ),
    )
    # WHEN ranked
    top = rank(catalog, aggregates, user, users=others, config=config)
    # THEN T5 leads, explained by similar customers
    assert top[0].product_id == "T5"
    assert top[0].reason == "customers with similar taste bought this"


def test_new_user_gets_popular_and_trending(catalog: ArrayItems, aggregates: Aggregates) -> None:
    top = rank(catalog, aggregates, UserState(), limit=3)
    assert {s.product_id for s in top} <= {"T0", "T1", "G0", "G1"}
    assert top[0].product_id == "T0" and top[0].reason == "popular right now"


def test_cap_per_category_keeps_order() -> None:
    payloads = {p: {"category": c} for p, c in [("a", "X"), ("b", "X"), ("c", "Y"), ("d", "X")]}
    assert cap_per_category(["a", "b", "c", "d"], payloads, cap=1) == ["a", "c"]
    assert cap_per_category(["a", "b", "c", "d"], payloads, cap=0) == ["a", "b", "c", "d"]


def test_mmr_trades_relevance_for_variety() -> None:
    # GIVEN two near-duplicates ranked first and a different item third
    v = {
        "a": unit(np.array([1.0, 0.0])),
        "b": unit(np.array([1.0, 0.01])),
        "c": unit(np.array([0.0, 1.0])),
    }
    scores = {"a": 1.0, "b": 0.99, "c": 0.5}
    # WHEN two are picked without and with diversity
    # THEN diversity replaces the duplicate with the different item
    assert mmr(["a", "b", "c"], scores, v, k=2, diversity=0.0) == ["a", "b"]
    assert mmr(["a", "b", "c"], scores, v, k=2, diversity=0.7) == ["a", "c"]


def test_settings_override_weights() -> None:
    from recsys.core.config import Settings

    config = RankingConfig.from_settings(Settings(ranking_w_content=0.9, ranking_buy_again=False))
    assert config.weights.content == 0.9
    assert config.buy_again is False
