"""Events in through the log-event Lambda, out as a profile through the queue and update-profile.

Everything is real except AWS, which is the moto server: the handlers are loaded from
functions/<name>/app.py by file path as Lambda loads them, the profile queue is read with
receive_message and turned into SQS Lambda events, products carry vectors from the int8
encoder in an embedded qdrant-edge store, and a poison message goes to the DLQ.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from recsys.aggregates.store import AggregatesStore
from recsys.core.aws import client
from recsys.core.config import Settings, get_settings
from recsys.encoder import get_encoder
from recsys.local.invoke import import_file
from recsys.local.poller import sqs_event
from recsys.local.provision import Provisioned
from recsys.store import PointIn, open_store_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

#: A few real Online Retail products (StockCode, description, category).
PRODUCTS = {
    "85123A": ("WHITE HANGING HEART T-LIGHT HOLDER", "Home > Candles & Holders"),
    "71053": ("WHITE METAL LANTERN", "Home > Candles & Holders"),
    "22423": ("REGENCY CAKESTAND 3 TIER", "Kitchen & Dining > Baking"),
    "22720": ("SET OF 3 CAKE TINS PANTRY DESIGN", "Kitchen & Dining > Baking"),
    "84879": ("ASSORTED COLOUR BIRD ORNAMENT", "Home > Decorations"),
    "23084": ("RABBIT NIGHT LIGHT", "Home > Lighting"),
    "21731": ("RED TOADSTOOL LED NIGHT LIGHT", "Home > Lighting"),
    "22386": ("JUMBO BAG PINK POLKADOT", "Bags & Purses"),
}


def load_handler(name: str) -> ModuleType:
    """functions/<name>/app.py imported under a unique name, as a fresh Lambda container."""
    return import_file(
        ROOT / "functions" / name / "app.py", f"lambda_{name}_{uuid.uuid4().hex[:6]}"
    )


def drain(
    sqs: Any, url: str, arn: str, handler: Callable[[dict[str, Any], Any], Any]
) -> list[set[str]]:
    """Deliver the queue to ``handler`` like the event source mapping until nothing is left:
    successes are deleted, reported failures return after the visibility timeout."""
    failures: list[set[str]] = []
    deadline = time.monotonic() + 60
    idle = 0
    while time.monotonic() < deadline and idle < 3:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
        if not got:
            idle += 1
            continue
        idle = 0
        result = handler(sqs_event(got, queue_arn=arn), None)
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        failures.append(failed)
        done = [m for m in got if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
    return failures


def http(handler: ModuleType, event: dict[str, Any]) -> tuple[int, Any]:
    reply = handler.handler(event, None)
    return reply["statusCode"], json.loads(reply["body"])


@pytest.fixture
def stack(
    aws_stack: tuple[Settings, Provisioned],
    stack_env: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Settings, Provisioned]:
    settings, prov = aws_stack
    # What template.yaml sets for the functions, pointed at the emulator and a tmp data dir.
    stack_env(RECSYS_VECTOR_BACKEND="edge")
    # Short visibility so a failed record returns within the test; 3 receives → DLQ.
    client("sqs", settings).set_queue_attributes(
        QueueUrl=prov.queue_urls["ProfileQueue"], Attributes={"VisibilityTimeout": "1"}
    )
    store = open_store_ready(get_settings())
    vectors = get_encoder(settings).encode([title for title, _ in PRODUCTS.values()])
    store.upsert(
        settings.products_collection,
        [
            PointIn(
                pid,
                {"text": vec},
                {
                    "product_id": pid,
                    "title": t,
                    "category": c,
                    "price": 2.5,
                    "in_stock": True,
                    "is_active": True,
                },
            )
            for (pid, (t, c)), vec in zip(PRODUCTS.items(), vectors, strict=True)
        ],
    )
    yield get_settings(), prov


def post_events_event(
    load_event: Callable[[str], dict[str, Any]], events: list[dict[str, Any]]
) -> dict[str, Any]:
    event = copy.deepcopy(load_event("apigw_post_events"))
    event["body"] = json.dumps({"events": events})
    return event


def test_events_flow_into_a_profile_through_the_queue(
    stack: tuple[Settings, Provisioned], load_event: Callable[[str], dict[str, Any]]
) -> None:
    settings, prov = stack
    sqs = client("sqs", settings)
    queue_url, dlq_url = prov.queue_urls["ProfileQueue"], prov.queue_urls["ProfileDLQ"]
    log_event, update_profile = load_handler("log_event"), load_handler("update_profile")
    t0 = 1_322_730_000  # 2011-12-01, the data's own time
    events = [
        {
            "event_id": "e1",
            "user_id": "12347",
            "type": "view",
            "product_id": "23084",
            "timestamp": t0,
        },
        {
            "event_id": "e2",
            "user_id": "12347",
            "type": "add_to_cart",
            "product_id": "21731",
            "timestamp": t0 + 60,
        },
        {
            "event_id": "e3",
            "user_id": "12347",
            "type": "purchase",
            "product_id": "21731",
            "order_id": "o1",
            "price": 1.25,
            "timestamp": t0 + 120,
        },
        {
            "event_id": "e4",
            "user_id": "12347",
            "type": "purchase",
            "product_id": "23084",
            "order_id": "o1",
            "price": 1.95,
            "timestamp": t0 + 120,
        },
        {
            "event_id": "e5",
            "session_id": "anon-1",
            "type": "search",
            "query": "cake tins",
            "timestamp": t0 + 30,
        },
        {"event_id": "e6", "user_id": "12347", "type": "teleport", "product_id": "x"},
    ]

    # GIVEN events posted through the log-event Lambda, then the same request retried
    status, reply = http(log_event, post_events_event(load_event, events))
    status_again, reply_again = http(log_event, post_events_event(load_event, events[:5]))
    # THEN the first call logs five, rejects the bad one by index and field; the retry is
    # counted as duplicates only
    assert status == 202
    assert reply["accepted"] == 5 and reply["duplicates"] == 0
    assert reply["rejected"] == [
        {"index": 5, "field": "type", "reason": reply["rejected"][0]["reason"]}
    ]
    assert (status_again, reply_again["accepted"], reply_again["duplicates"]) == (202, 0, 5)

    # WHEN a poison message sits in the queue next to the real ones and the queue is delivered
    sqs.send_message(QueueUrl=queue_url, MessageBody="{not json")
    failures = drain(sqs, queue_url, prov.queue_arns["ProfileQueue"], update_profile.handler)

    # THEN only the poison record was ever reported failed, and it ended in the DLQ
    reported = set().union(*failures)
    assert len(reported) == 1
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in dead] == ["{not json"]

    # AND the user's profile is in the users collection, each event counted once
    store = open_store_ready(settings)
    (user,) = store.retrieve(settings.users_collection, ["12347"], with_vectors=True)
    assert user.payload["kind"] == "user"
    assert user.payload["counts"] == {"view": 1, "add_to_cart": 1, "purchase": 2}
    # newest first; the two purchases share a time, so the sort key (event id) orders them
    assert user.payload["recent_purchases"] == ["23084", "21731"]
    assert user.payload["price_band"]["median"] == pytest.approx(1.6)
    assert user.payload["top_categories"] == ["Home > Lighting"]
    # its long vector points at night lights: the two nearest products are the ones it bought
    nearest = store.search(
        settings.products_collection, user.vectors["long"], using="text", limit=2
    )
    assert {r.key for r in nearest} == {"23084", "21731"}
    assert np.linalg.norm(user.vectors["short"]) == pytest.approx(1.0, abs=1e-3)
    # the anonymous session has a profile from its search embedding
    (session,) = store.retrieve(settings.users_collection, ["session:anon-1"], with_vectors=True)
    assert session.payload["kind"] == "session"
    top = store.search(settings.products_collection, session.vectors["long"], using="text", limit=1)
    assert top[0].key == "22720"

    # WHEN the session logs in (an event with both ids) and the queue is delivered again
    version_before = user.payload["profile_version"]
    login = [
        {
            "event_id": "e7",
            "user_id": "12347",
            "session_id": "anon-1",
            "type": "click",
            "product_id": "22720",
            "timestamp": t0 + 300,
        }
    ]
    assert http(log_event, post_events_event(load_event, login))[1]["accepted"] == 1
    drain(sqs, queue_url, prov.queue_arns["ProfileQueue"], update_profile.handler)
    # THEN the session merged into the user (its search now counts there) and is gone
    (user,) = store.retrieve(settings.users_collection, ["12347"])
    assert user.payload["counts"]["search"] == 1 and user.payload["counts"]["click"] == 1
    assert user.payload["profile_version"] > version_before
    assert store.retrieve(settings.users_collection, ["session:anon-1"]) == []

    # WHEN the nightly schedule fires
    report = update_profile.handler(load_event("eventbridge_scheduled"), None)
    # THEN aggregates were recomputed from the log and saved; the user's rebuild was queued
    assert report["events"] == 6
    agg = AggregatesStore(settings).load(max_age_s=0)
    # as of the newest event (the data's 2011 clock), 21731 (cart 2 + purchase 3) on top
    assert agg.computed_at == t0 + 300
    assert agg.popular(limit=1) == [("21731", 1.0)]
    assert agg.item_mean is not None and len(agg.item_mean) == settings.vector_size
    assert report["profiles_queued"] >= 1

    # WHEN the user is erased
    delete = copy.deepcopy(load_event("apigw_delete_user"))
    status, erased = http(log_event, delete)
    # THEN events and profile are gone
    assert status == 200
    assert erased == {"user_id": "12347", "events_deleted": 6, "profile_deleted": True}
    assert store.retrieve(settings.users_collection, ["12347"]) == []


def test_size_limits_and_malformed_bodies(
    stack: tuple[Settings, Provisioned],
    load_event: Callable[[str], dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a log-event container limited to 3 events per request
    monkeypatch.setenv("RECSYS_EVENTS_MAX_BATCH", "3")
    get_settings.cache_clear()
    log_event = load_handler("log_event")
    one = {"user_id": "u", "type": "view", "product_id": "22423"}
    # WHEN / THEN too many events → 413 naming the limit
    status, body = http(log_event, post_events_event(load_event, [one] * 4))
    assert status == 413 and body["detail"][0]["limit"] == 3
    # a body that is not {"events": [...]} → 422
    bad = post_events_event(load_event, [])
    bad["body"] = json.dumps({"evnts": []})
    assert http(log_event, bad)[0] == 422
    # only invalid events → 422 with the per-event reasons
    status, body = http(log_event, post_events_event(load_event, [{"type": "view"}]))
    assert status == 422 and body["rejected"][0]["field"] == "user_id"
