"""Embed-queue messages: packing under SQS limits, retries of partial batch failures."""

from __future__ import annotations

import json
from typing import Any

import pytest

from recsys.catalog.messages import (
    MAX_MESSAGE_BYTES,
    EmbedItem,
    EmbedMessage,
    EmbedRecord,
    pack_messages,
)
from recsys.catalog.queue import SqsEmbedQueue
from recsys.core.errors import DependencyError


def _items(n: int, *, description: str = "") -> list[EmbedItem]:
    return [
        EmbedItem(product_id=f"p{i}", payload={"title": f"t{i}", "description": description})
        for i in range(n)
    ]


def test_packing_respects_products_per_message_and_keeps_order() -> None:
    bodies = list(pack_messages(_items(60), per_message=25))
    sizes = [len(EmbedMessage.model_validate_json(b).products) for b in bodies]
    assert sizes == [25, 25, 10]
    ids = [p.product_id for b in bodies for p in EmbedMessage.model_validate_json(b).products]
    assert ids == [f"p{i}" for i in range(60)]


def test_packing_splits_by_bytes_before_the_sqs_limit() -> None:
    # GIVEN products of ~30 KB each
    items = _items(20, description="x" * 30_000)
    # WHEN packed with a generous per-message count
    bodies = list(pack_messages(items, per_message=100))
    # THEN every message stays under the limit and nothing is lost
    assert all(len(b.encode()) <= MAX_MESSAGE_BYTES for b in bodies)
    assert sum(len(json.loads(b)["products"]) for b in bodies) == 20
    assert len(bodies) == 3


def test_a_single_product_too_big_for_a_message_is_refused_by_name() -> None:
    with pytest.raises(DependencyError, match=r"product 'p0' is .* bytes"):
        list(pack_messages(_items(1, description="x" * 300_000), per_message=10))


class _FlakySqs:
    """Stands in for boto3's SQS client: fails the entries it is told to, a number of times."""

    def __init__(self, fail_ids: set[str], times: int, *, sender_fault: bool = False) -> None:
        self.fail_ids, self.times, self.sender_fault = fail_ids, times, sender_fault
        self.calls: list[list[dict[str, str]]] = []
        self.delivered: list[str] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, str]]) -> Any:
        self.calls.append(Entries)
        failing = self.fail_ids if self.times > 0 else set()
        self.times -= 1
        failed = [
            {"Id": e["Id"], "Code": "InternalError", "SenderFault": self.sender_fault}
            for e in Entries
            if e["Id"] in failing
        ]
        self.delivered += [e["MessageBody"] for e in Entries if e["Id"] not in failing]
        return {"Successful": [], "Failed": failed}


def test_partial_batch_failures_are_retried_until_sent() -> None:
    # GIVEN SQS failing two entries of the first batch once
    sqs = _FlakySqs({"1", "3"}, times=1)
    queue = SqsEmbedQueue(sqs, "q", per_message=2, sleep=lambda _: None)
    # WHEN 30 products (15 messages) are sent
    queue.send(_items(30))
    # THEN the failed entries were sent again, alone, and every product arrived once
    assert [len(c) for c in sqs.calls] == [10, 2, 5]
    got = [p["product_id"] for b in sqs.delivered for p in json.loads(b)["products"]]
    assert sorted(got) == sorted(f"p{i}" for i in range(30))
    assert queue.messages_sent == 15


def test_persistent_failures_raise_naming_what_was_not_sent() -> None:
    sqs = _FlakySqs({"0"}, times=99)
    queue = SqsEmbedQueue(sqs, "q", per_message=5, retries=2, sleep=lambda _: None)
    with pytest.raises(DependencyError, match=r"1 embed message\(s\) \(5 products\)"):
        queue.send(_items(5))
    assert len(sqs.calls) == 3  # first try + 2 retries


def test_sender_faults_are_not_retried() -> None:
    sqs = _FlakySqs({"0"}, times=99, sender_fault=True)
    queue = SqsEmbedQueue(sqs, "q", per_message=5, sleep=lambda _: None)
    with pytest.raises(DependencyError):
        queue.send(_items(5))
    assert len(sqs.calls) == 1


def test_sqs_record_body_is_parsed_into_the_message_model(
    load_event: Any,
) -> None:
    # GIVEN the canonical SQS sample event for the embed queue
    event = load_event("sqs_embed")
    # WHEN its first record is parsed as the embed handler's batch processor does
    record = EmbedRecord.model_validate(event["Records"][0])
    # THEN the body is a typed EmbedMessage
    assert record.body.products[0].product_id
    assert "content_hash" in record.body.products[0].payload


def test_text_built_at_ingest_stays_in_process() -> None:
    # GIVEN an item carrying the embedding text built at ingest
    item = EmbedItem.built("p1", {"title": "Blue mug"}, "Blue mug")
    # WHEN it is packed into a queue message and read back
    (body,) = pack_messages([item], per_message=10)
    back = EmbedMessage.model_validate_json(body).products[0]
    # THEN the message holds only the payload; the receiver re-derives the text
    assert item.text == "Blue mug"
    assert json.loads(body)["products"] == [{"product_id": "p1", "payload": {"title": "Blue mug"}}]
    assert back.text is None
