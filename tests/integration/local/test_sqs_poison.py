"""Poison messages: each fails alone, is retried, and reaches its DLQ; the good ones of the same
batches are processed. The real embed and update-profile handlers, fed by the local poller from
queues built from template.yaml (redrive maxReceiveCount 3), visibility shortened to 1 s."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from recsys.catalog.messages import EmbedItem, EmbedMessage
from recsys.catalog.schema import validate_rows
from recsys.core.aws import client
from recsys.core.config import Settings, get_settings
from recsys.local.invoke import LocalContext, import_file
from recsys.local.poller import SqsPoller
from recsys.local.provision import Provisioned

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def handlers(
    aws_stack: tuple[Settings, Provisioned], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Settings, Provisioned, dict[str, Any]]]:
    settings, prov = aws_stack
    env = {
        "RECSYS_DATA_DIR": str(settings.data_dir),
        "RECSYS_AWS_ENDPOINT_URL": str(settings.aws_endpoint_url),
        "RECSYS_EMBED_QUEUE_URL": prov.queue_urls["EmbedQueue"],
        "RECSYS_PROFILE_QUEUE_URL": prov.queue_urls["ProfileQueue"],
        "RECSYS_EVENTS_TABLE": prov.tables["EventsTable"],
        "RECSYS_CATALOG_BUCKET": prov.buckets["CatalogBucket"],
        "RECSYS_REDIS_URL": "",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    sqs = client("sqs", settings)
    for name in ("EmbedQueue", "ProfileQueue"):
        sqs.set_queue_attributes(
            QueueUrl=prov.queue_urls[name], Attributes={"VisibilityTimeout": "1"}
        )
    tag = uuid.uuid4().hex[:8]
    modules = {
        name: import_file(ROOT / "functions" / name / "app.py", f"t_poison_{name}_{tag}")
        for name in ("embed", "update_profile")
    }
    try:
        yield get_settings(), prov, modules
    finally:
        for module in modules.values():
            services = getattr(module, "services", None) or getattr(
                getattr(module, "worker", None), "services", None
            )
            if services is not None:
                services.close()
        get_settings.cache_clear()


def _depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def _poller(sqs: Any, url: str, module: Any, name: str) -> SqsPoller:
    def invoke(event: dict[str, Any]) -> Any:
        return module.handler(event, LocalContext(function_name=name, timeout_s=60))

    return SqsPoller(
        sqs=sqs,
        queue_url=url,
        handler=invoke,
        batch_size=10,
        window_s=0.3,
        report_failures=True,
        wait_s=1,
        name=name,
    )


def _drain(
    sqs: Any, pollers: list[SqsPoller], done: Callable[[], bool], timeout_s: float = 60
) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, [vars(p.stats) for p in pollers]
        for poller in pollers:
            poller.poll_once()


def test_poison_messages_reach_the_dlq_and_the_good_ones_are_processed(
    handlers: tuple[Settings, Provisioned, dict[str, Any]],
) -> None:
    settings, prov, modules = handlers
    sqs = client("sqs", settings)
    q = prov.queue_urls
    # GIVEN one batch per queue mixing good messages and poison ones
    products, rejected = validate_rows(
        [
            {"product_id": "good-1", "title": "Warm white fairy lights"},
            {"product_id": "good-2", "title": "Enamel coffee mug"},
        ]
    )
    assert not rejected
    good_embed = EmbedMessage(
        products=[EmbedItem(product_id=p.product_id, payload=p.payload) for p in products]
    ).model_dump_json()
    embed_bodies = [good_embed, "not json at all", json.dumps({"version": 1, "products": []})]
    profile_bodies = [
        json.dumps({"key": "u#good-user", "rebuild": True}),
        json.dumps({"key": "s#good-session"}),
        "{{{",
        json.dumps({"key": "no-owner-prefix"}),
    ]
    for url, bodies in ((q["EmbedQueue"], embed_bodies), (q["ProfileQueue"], profile_bodies)):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)],
        )
    pollers = [
        _poller(sqs, q["EmbedQueue"], modules["embed"], "EmbedFunction"),
        _poller(sqs, q["ProfileQueue"], modules["update_profile"], "UpdateProfileFunction"),
    ]

    # WHEN the pollers run until both queues are empty (retries after the 1 s visibility)
    def drained() -> bool:
        return _depth(sqs, q["EmbedQueue"]) == 0 and _depth(sqs, q["ProfileQueue"]) == 0

    _drain(sqs, pollers, drained)
    # THEN each poison message sits in its DLQ, received maxReceiveCount (3) times
    embed_dlq = sqs.receive_message(
        QueueUrl=q["EmbedDLQ"], MaxNumberOfMessages=10, AttributeNames=["All"]
    ).get("Messages", [])
    profile_dlq = sqs.receive_message(
        QueueUrl=q["ProfileDLQ"], MaxNumberOfMessages=10, AttributeNames=["All"]
    ).get("Messages", [])
    assert sorted(m["Body"] for m in embed_dlq) == sorted(embed_bodies[1:])
    assert sorted(m["Body"] for m in profile_dlq) == sorted(profile_bodies[2:])
    # AND the good ones were processed once: the products are in the store
    embed_stats, profile_stats = (vars(p.stats) for p in pollers)
    # (two poison messages per queue, received three times each before the redrive)
    assert (embed_stats["failed"], profile_stats["failed"]) == (6, 6)
    assert (embed_stats["succeeded"], profile_stats["succeeded"]) == (1, 2)
    store = modules["embed"].services.store
    found = store.retrieve(settings.products_collection, ["good-1", "good-2"])
    assert sorted(r.key for r in found) == ["good-1", "good-2"]
