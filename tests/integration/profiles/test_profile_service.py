"""The profile service on the real store and encoder: incremental == rebuild, erasure."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from recsys.core.config import Settings
from recsys.encoder import TextEncoder, get_encoder
from recsys.events.log import EventLog
from recsys.events.models import ProfileUpdate, validate_events
from recsys.local.provision import Provisioned
from recsys.profiles.service import catalog_mean, erase_user, get_profile, update_profiles
from recsys.store import PointIn, VectorStore, open_store
from recsys.store.base import products_spec, users_spec

pytestmark = pytest.mark.integration

TITLES = {
    "p1": ("WHITE HANGING HEART T-LIGHT HOLDER", "Home > Candles & Holders", 2.55),
    "p2": ("REGENCY CAKESTAND 3 TIER", "Kitchen & Dining > Baking", 12.75),
    "p3": ("JUMBO BAG PINK POLKADOT", "Bags & Purses", 1.95),
    "p4": ("RABBIT NIGHT LIGHT", "Home > Lighting", 1.79),
}
T0 = 1_300_000_000.0


@pytest.fixture
def parts(
    aws_stack: tuple[Settings, Provisioned],
) -> Iterator[tuple[Settings, VectorStore, EventLog, TextEncoder]]:
    settings, _ = aws_stack
    store = open_store(settings)
    store.ensure_collection(products_spec(settings.products_collection))
    store.ensure_collection(users_spec(settings.users_collection))
    encoder = get_encoder(settings)
    vecs = encoder.encode([t for t, _, _ in TITLES.values()])
    store.upsert(
        settings.products_collection,
        [
            PointIn(k, {"text": v}, {"product_id": k, "title": t, "category": c, "price": p})
            for (k, (t, c, p)), v in zip(TITLES.items(), vecs, strict=True)
        ],
    )
    log = EventLog(settings, threads=4)
    yield settings, store, log, encoder
    log.close()
    store.close()


def _log(log: EventLog, user: str, rows: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Log ``(type, product, seconds after T0[, order id])`` rows for ``user``."""
    raw = [
        {
            "user_id": user,
            "type": row[0],
            "product_id": row[1],
            "timestamp": T0 + row[2],
            **({"order_id": row[3]} if len(row) > 3 else {}),
        }
        for row in rows
    ]
    good, rejects = validate_events(raw, now=T0 + 10**6)
    assert not rejects
    return log.write(good).written


HISTORY = [
    ("view", "p1", 0.0),
    ("purchase", "p1", 60.0),
    ("view", "p2", 86400.0),
    ("add_to_cart", "p2", 2 * 86400.0),
    ("remove_from_cart", "p2", 2 * 86400.0 + 30),
    ("purchase", "p3", 20 * 86400.0),
]


def test_incremental_updates_equal_a_full_rebuild(
    parts: tuple[Settings, VectorStore, EventLog, TextEncoder],
) -> None:
    settings, store, log, encoder = parts
    kw: dict[str, Any] = {"store": store, "log": log, "encoder": encoder, "settings": settings}
    # GIVEN user a updated after every event, user b once at the end, same history
    for row in HISTORY:
        written = _log(log, "a", [row])
        stats = update_profiles([ProfileUpdate(key="u#a", oldest_sk=written[0].sk)], **kw)
    _log(log, "b", HISTORY)
    update_profiles(["u#b"], **kw)
    # WHEN both are read
    a, b = get_profile(store, settings, user_id="a"), get_profile(store, settings, user_id="b")
    assert a is not None and b is not None
    # THEN the last step was incremental, and the two profiles agree
    assert stats.incremental == 1 and stats.rebuilt == 0
    np.testing.assert_allclose(a.vectors["long"], b.vectors["long"], atol=1e-5)
    np.testing.assert_allclose(a.vectors["short"], b.vectors["short"], atol=1e-5)
    assert a.payload["long_norm"] == pytest.approx(b.payload["long_norm"], rel=1e-5)
    for key in (
        "counts",
        "recent_product_ids",
        "recent_purchases",
        "price_band",
        "purchase_stats",
        "recent_carted",
    ):
        assert a.payload[key] == b.payload[key], key
    # same time; the event ids differ (they are derived from the user too)
    assert a.payload["last_sk"].split("#")[0] == b.payload["last_sk"].split("#")[0]
    assert a.payload["counts"] == {
        "view": 2,
        "purchase": 2,
        "add_to_cart": 1,
        "remove_from_cart": 1,
    }
    assert a.payload["recent_product_ids"] == ["p3", "p2", "p1"]
    assert a.payload["price_band"]["median"] == pytest.approx((2.55 + 1.95) / 2)
    for cat, score in a.payload["category_scores"].items():
        assert b.payload["category_scores"][cat] == pytest.approx(score, rel=1e-5)


DAY = 86400.0
#: Repeat purchases (two lines of one order; two lines of one day without an order id), a
#: product carted and kept, one carted then removed.
REPEATS = [
    ("purchase", "p1", 0.0, "o1"),
    ("purchase", "p2", 10.0, "o1"),
    ("add_to_cart", "p3", DAY),
    ("purchase", "p1", 5 * DAY, "o2"),
    ("purchase", "p1", 5 * DAY + 5, "o2"),
    ("add_to_cart", "p4", 6 * DAY),
    ("remove_from_cart", "p4", 6 * DAY + 30),
    ("purchase", "p1", 9 * DAY),
    ("purchase", "p1", 9 * DAY + 60),
]


def test_repeat_purchases_and_the_cart_are_kept_alike_incrementally_and_rebuilt(
    parts: tuple[Settings, VectorStore, EventLog, TextEncoder],
) -> None:
    settings, store, log, encoder = parts
    kw: dict[str, Any] = {"store": store, "log": log, "encoder": encoder, "settings": settings}
    # GIVEN user g updated after every event, user h once at the end, same history
    for row in REPEATS:
        written = _log(log, "g", [row])
        update_profiles([ProfileUpdate(key="u#g", oldest_sk=written[0].sk)], **kw)
    _log(log, "h", REPEATS)
    update_profiles(["u#h"], **kw)
    g, h = get_profile(store, settings, user_id="g"), get_profile(store, settings, user_id="h")
    assert g is not None and h is not None
    # THEN p1 was bought on 3 occasions (two orders and a day), p2 on one; p3 is still carted,
    # p4 was taken out again — the same whether kept up event by event or rebuilt
    day9 = int((T0 + 9 * DAY) // DAY)
    assert h.payload["purchase_stats"] == {
        "p1": [3, T0, T0 + 9 * DAY + 60, f"d#{day9}"],
        "p2": [1, T0 + 10, T0 + 10, "o#o1"],
    }
    assert h.payload["recent_carted"] == ["p3"]
    assert h.payload["recent_purchases"] == ["p1", "p2"]
    for key in ("purchase_stats", "recent_carted", "recent_purchases"):
        assert g.payload[key] == h.payload[key], key


def test_a_late_event_triggers_a_rebuild_and_is_counted(
    parts: tuple[Settings, VectorStore, EventLog, TextEncoder],
) -> None:
    settings, store, log, encoder = parts
    kw: dict[str, Any] = {"store": store, "log": log, "encoder": encoder, "settings": settings}
    # GIVEN a profile built from the history
    _log(log, "c", HISTORY)
    update_profiles(["u#c"], **kw)
    # WHEN an event older than the profile's last one arrives
    late = _log(log, "c", [("wishlist", "p4", 5 * 86400.0)])
    stats = update_profiles([ProfileUpdate(key="u#c", oldest_sk=late[0].sk)], **kw)
    # THEN the profile is rebuilt and includes it
    profile = get_profile(store, settings, user_id="c")
    assert profile is not None
    assert stats.rebuilt == 1
    assert profile.payload["counts"]["wishlist"] == 1
    # AND a redelivered message changes nothing but is harmless
    again = update_profiles([ProfileUpdate(key="u#c")], **kw)
    assert again.unchanged == 1


def test_erase_user_removes_events_and_profile(
    parts: tuple[Settings, VectorStore, EventLog, TextEncoder],
) -> None:
    settings, store, log, encoder = parts
    # GIVEN a user with a profile
    _log(log, "d", HISTORY)
    update_profiles(["u#d"], store=store, log=log, encoder=encoder, settings=settings)
    # WHEN erased
    done = erase_user("d", store=store, log=log, settings=settings)
    # THEN
    assert done == {"events_deleted": len(HISTORY), "profile_deleted": 1}
    assert get_profile(store, settings, user_id="d") is None
    assert log.query("u#d") == []


def test_centering_subtracts_the_catalog_mean(
    parts: tuple[Settings, VectorStore, EventLog, TextEncoder],
) -> None:
    settings, store, log, encoder = parts
    # GIVEN a user who viewed two products, and the catalog's mean vector
    _log(log, "e", [("view", "p1", 0.0), ("view", "p2", 0.0)])
    mean = catalog_mean(store, settings)
    assert mean is not None
    # WHEN the profile is built with centering
    update_profiles(["u#e"], store=store, log=log, encoder=encoder, settings=settings, center=mean)
    # THEN it is the normalised sum of the centred item vectors
    profile = get_profile(store, settings, user_id="e")
    items = {
        r.key: r.vectors["text"]
        for r in store.retrieve(
            settings.products_collection, ["p1", "p2", "p3", "p4"], with_vectors=True
        )
    }
    expected = (items["p1"] - mean) + (items["p2"] - mean)
    assert profile is not None
    np.testing.assert_allclose(
        profile.vectors["long"], expected / np.linalg.norm(expected), atol=1e-5
    )
    np.testing.assert_allclose(mean, np.mean(list(items.values()), axis=0), atol=1e-6)
