"""The profile service on the real store and encoder: incremental == rebuild, erasure."""

from __future__ import annotations

from collections.abc import Iterator
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


def _log(log: EventLog, user: str, rows: list[tuple[str, str, float]]) -> list[Any]:
    raw = [
        {"user_id": user, "type": kind, "product_id": pid, "timestamp": T0 + dt}
        for kind, pid, dt in rows
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
    for key in ("counts", "recent_product_ids", "recent_purchases", "price_band"):
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
