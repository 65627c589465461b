"""Catalog in through the ingest Lambda (S3 upload or HTTP), out as vectors through the embed queue.

Everything is real except AWS, which is the moto server: the handlers are loaded from
functions/<name>/app.py by file path as Lambda loads them, the embed queue is read with
receive_message and turned into SQS Lambda events, products are embedded by the int8 encoder
into an embedded qdrant-edge store under the test's tmp dir, and a poison message ends in the DLQ.
"""

from __future__ import annotations

import copy
import gzip
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote_plus

import pytest
from fastapi.testclient import TestClient

from recsys.core.aws import client
from recsys.core.config import Settings, get_settings
from recsys.encoder import get_encoder
from recsys.local.invoke import import_file
from recsys.local.poller import sqs_event
from recsys.local.provision import Provisioned
from recsys.store import VectorStore

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]

CATALOG = [
    {"product_id": "85123A", "title": "WHITE HANGING HEART T-LIGHT HOLDER",
     "category": "Home > Candles & Holders", "price": 2.95, "currency": "GBP"},
    {"product_id": "85099B", "title": "JUMBO BAG RED RETROSPOT", "category": "Bags & Purses",
     "price": 2.08, "tags": ["bag", "red"]},
    {"product_id": "22423", "title": "REGENCY CAKESTAND 3 TIER",
     "category": "Kitchen & Dining > Baking", "price": 12.75, "in_stock": "no"},
    {"product_id": "BAD-1", "title": "Broken", "price": -2},
    {"product_id": "84879", "title": "ASSORTED COLOUR BIRD ORNAMENT",
     "category": "Home > Decorations", "price": 1.69, "season": "spring"},
    {"product_id": "BAD-2", "title": ""},
]  # fmt: skip
GOOD = ["85123A", "85099B", "22423", "84879"]


def load_handler(name: str) -> ModuleType:
    """functions/<name>/app.py imported under a unique name, as a fresh Lambda container."""
    return import_file(
        ROOT / "functions" / name / "app.py", f"lambda_{name}_{uuid.uuid4().hex[:6]}"
    )


@dataclass
class Stack:
    settings: Settings
    prov: Provisioned
    ingest: ModuleType
    embed: ModuleType
    sqs: Any
    s3: Any

    @property
    def queue_url(self) -> str:
        return self.prov.queue_urls["EmbedQueue"]

    @property
    def bucket(self) -> str:
        return self.prov.buckets["CatalogBucket"]

    @property
    def store(self) -> VectorStore:
        store: VectorStore = self.embed.services.store
        return store

    def receive(self, *, wait_s: int = 1) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
        ).get("Messages", [])
        return got

    def sqs_event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """What the SQS event source mapping hands to Lambda for received messages."""
        return sqs_event(messages, queue_arn=self.prov.queue_arns["EmbedQueue"])

    def drain(self) -> list[set[str]]:
        """Deliver the embed queue to the embed handler until it is empty; successes deleted."""
        failures: list[set[str]] = []
        idle = 0
        while idle < 2:
            got = self.receive()
            if not got:
                idle += 1
                continue
            idle = 0
            reply = self.embed.handler(self.sqs_event(got), None)
            failed = {f["itemIdentifier"] for f in reply["batchItemFailures"]}
            failures.append(failed)
            self.delete([m for m in got if m["MessageId"] not in failed])
        return failures

    def delete(self, messages: list[dict[str, Any]]) -> None:
        if messages:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )

    def upload(self, key: str, body: bytes, load_event: Callable[[str], dict[str, Any]]) -> Any:
        """Put an object and invoke the ingest handler with its ObjectCreated notification."""
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        event = copy.deepcopy(load_event("s3_object_created"))
        record = event["Records"][0]["s3"]
        record["bucket"]["name"] = self.bucket
        record["object"]["key"] = quote_plus(key, safe="/")  # as S3 notifications encode keys
        record["object"]["size"] = len(body)
        return self.ingest.handler(event, None)


@pytest.fixture
def stack(
    aws_stack: tuple[Settings, Provisioned], stack_env: Callable[..., Settings]
) -> Iterator[Stack]:
    _, prov = aws_stack
    # The handlers read their settings from the environment, as template.yaml sets it.
    settings = stack_env(RECSYS_VECTOR_BACKEND="edge")
    try:
        yield Stack(
            settings=settings,
            prov=prov,
            ingest=load_handler("ingest"),
            embed=load_handler("embed"),
            sqs=client("sqs", settings),
            s3=client("s3", settings),
        )
    finally:
        get_settings.cache_clear()


def _jsonl_gz(rows: list[dict[str, Any]]) -> bytes:
    return gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode("utf-8"))


def _nearest(store: VectorStore, text: str) -> list[str]:
    (vector,) = get_encoder().encode([text])
    return [r.key for r in store.search("products", vector, using="text", limit=3)]


def test_s3_upload_becomes_searchable_products_with_rejects_reported(
    stack: Stack, load_event: Callable[[str], dict[str, Any]]
) -> None:
    # GIVEN a gzip JSON Lines catalog with two bad rows, uploaded under catalog/ (key with a space)
    # WHEN the ingest handler gets the S3 notification and the embed queue is drained
    reply = stack.upload("catalog/2026/spring drop.jsonl.gz", _jsonl_gz(CATALOG), load_event)
    failures = stack.drain()
    # THEN the good rows were queued, the bad ones reported with line, field and reason
    (report,) = reply["files"]
    assert (report["accepted"], report["unchanged"], report["rejected_count"]) == (4, 0, 2)
    assert [(r["row"], r["field"]) for r in report["rejected"]] == [(4, "price"), (6, "title")]
    rejects = stack.s3.get_object(Bucket=stack.bucket, Key=report["rejects_key"])["Body"].read()
    assert [json.loads(line)["product_id"] for line in rejects.splitlines()] == ["BAD-1", "BAD-2"]
    # AND every message was embedded without failure, the products are searchable by meaning
    assert failures and all(not f for f in failures)
    store = stack.store
    assert store.count("products") == 4
    assert _nearest(store, "red shopping bag")[0] == "85099B"
    assert _nearest(store, "three tier cake stand")[0] == "22423"
    (bird,) = store.retrieve("products", ["84879"])
    assert bird.payload["season"] == "spring"  # unknown column kept
    assert bird.payload["category_levels"] == ["Home", "Home > Decorations"]
    (cake,) = store.retrieve("products", ["22423"])
    assert cake.payload["in_stock"] is False


def test_reupload_counts_unchanged_rows_and_sends_nothing(
    stack: Stack, load_event: Callable[[str], dict[str, Any]]
) -> None:
    # GIVEN the catalog ingested and embedded once
    stack.upload("catalog/a.jsonl.gz", _jsonl_gz(CATALOG), load_event)
    stack.drain()
    # WHEN it is uploaded again as CSV, with one price changed
    header = "product_id,title,category,price,currency,tags,in_stock,season\n"
    csv_rows = (
        "85123A,WHITE HANGING HEART T-LIGHT HOLDER,Home > Candles & Holders,2.5,GBP,,,\n"
        "85099B,JUMBO BAG RED RETROSPOT,Bags & Purses,2.08,,bag;red,,\n"
        "22423,REGENCY CAKESTAND 3 TIER,Kitchen & Dining > Baking,12.75,,,no,\n"
        "84879,ASSORTED COLOUR BIRD ORNAMENT,Home > Decorations,1.69,,,,spring\n"
    )
    reply = stack.upload("catalog/b.csv", (header + csv_rows).encode(), load_event)
    # THEN all four are unchanged, nothing is queued, and the new price is stored
    (report,) = reply["files"]
    assert (report["accepted"], report["unchanged"], report["rejected_count"]) == (0, 4, 0)
    assert stack.receive(wait_s=0) == []
    (heart,) = stack.store.retrieve("products", ["85123A"])
    assert heart.payload["price"] == 2.5


def test_uploads_outside_the_catalog_prefix_are_left_alone(
    stack: Stack, load_event: Callable[[str], dict[str, Any]]
) -> None:
    reply = stack.upload("aggregates/latest.json.gz", _jsonl_gz(CATALOG), load_event)
    assert reply["files"][0]["skipped"] == "outside 'catalog/'"
    assert stack.receive(wait_s=0) == []


def test_redelivered_batch_does_not_duplicate_points(
    stack: Stack, load_event: Callable[[str], dict[str, Any]]
) -> None:
    # GIVEN queued products received once and handled
    stack.upload("catalog/a.jsonl.gz", _jsonl_gz(CATALOG), load_event)
    messages = stack.receive()
    assert messages
    event = stack.sqs_event(messages)
    first = stack.embed.handler(event, None)
    count = stack.store.count("products")
    # WHEN the very same batch is delivered again (e.g. the delete was lost)
    second = stack.embed.handler(event, None)
    # THEN both succeed and the store holds the same number of points
    assert first == second == {"batchItemFailures": []}
    assert stack.store.count("products") == count == 4


def test_poison_message_is_reported_alone_and_lands_in_the_dlq(stack: Stack) -> None:
    # GIVEN a short visibility timeout and, on the queue, a good message and a malformed one
    stack.sqs.set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"VisibilityTimeout": "1"})
    good = json.dumps(
        {"version": 1, "products": [{"product_id": "p1", "payload": {"title": "Blue mug"}}]}
    )
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=good)
    poison_id = stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody="{not json")[
        "MessageId"
    ]
    redrive = json.loads(
        stack.sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["RedrivePolicy"])[
            "Attributes"
        ]["RedrivePolicy"]
    )
    # WHEN the queue is delivered to the embed handler until the poison message is gone
    reported: list[set[str]] = []
    dlq_url = stack.prov.queue_urls["EmbedDLQ"]
    dead: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while not dead and time.monotonic() < deadline:
        got = stack.receive()
        if got:
            reply = stack.embed.handler(stack.sqs_event(got), None)
            failed = {f["itemIdentifier"] for f in reply["batchItemFailures"]}
            reported.append(failed)
            stack.delete([m for m in got if m["MessageId"] not in failed])
        dead = stack.sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=0).get("Messages", [])
    # THEN only the poison message was ever reported, maxReceiveCount times, then dead-lettered
    assert reported[0] == {poison_id}
    assert all(f == {poison_id} for f in reported)
    assert len(reported) == int(redrive["maxReceiveCount"])
    assert [m["Body"] for m in dead] == ["{not json"]
    assert [r.key for r in stack.store.retrieve("products", ["p1"])] == ["p1"]


def _http(stack: Stack, event: dict[str, Any]) -> tuple[int, Any]:
    reply = stack.ingest.handler(event, None)
    return reply["statusCode"], json.loads(reply["body"])


def test_post_and_delete_through_api_gateway_events(
    stack: Stack, load_event: Callable[[str], dict[str, Any]]
) -> None:
    # GIVEN the canonical API Gateway HTTP API v2 POST /products event (one bad row)
    # WHEN it is handled and the queue drained
    status, body = _http(stack, load_event("apigw_post_products"))
    stack.drain()
    # THEN the good rows are accepted and embedded, the bad row is named
    assert status == 202
    assert (body["accepted"], body["unchanged"]) == (2, 0)
    assert body["rejected"] == [
        {"index": 2, "field": "price", "reason": "must be ≥ 0, got -3", "product_id": "BAD-1"}
    ]
    assert sorted(r.key for r in stack.store.retrieve("products", ["85123A", "22423"])) == [
        "22423",
        "85123A",
    ]
    # AND the same POST again is all unchanged
    assert _http(stack, load_event("apigw_post_products"))[1]["unchanged"] == 2
    # WHEN the canonical DELETE /products/22423 event comes, twice
    first = _http(stack, load_event("apigw_delete_product"))
    second = _http(stack, load_event("apigw_delete_product"))
    # THEN the product is gone and the second call is a 404
    assert first == (200, {"product_id": "22423", "deleted": True})
    assert second[0] == 404 and "22423" in second[1]["detail"]
    assert stack.store.retrieve("products", ["22423"]) == []


def test_products_routes_through_the_fastapi_test_client(stack: Stack) -> None:
    client_ = TestClient(stack.ingest.app)
    # a valid batch → 202 with counts
    ok = client_.post("/products", json={"products": CATALOG[:3]})
    assert ok.status_code == 202 and ok.json()["accepted"] == 3
    # over the batch limit → 413 naming the limit
    limit = stack.settings.max_post_products
    too_many = [{"product_id": str(i), "title": "t"} for i in range(limit + 1)]
    big = client_.post("/products", json={"products": too_many})
    assert big.status_code == 413
    assert big.json()["detail"][0]["limit"] == limit
    # not a list of rows → 422 from the body model; a row that is not an object → rejected alone
    bad = client_.post("/products", json={"products": "nope"})
    assert bad.status_code == 422
    mixed = client_.post("/products", json={"products": ["nope", CATALOG[0]]})
    assert mixed.status_code == 202
    assert mixed.json()["rejected"][0]["index"] == 0
    assert mixed.json()["rejected"][0]["field"] == "row"
    # unknown product → 404
    assert client_.delete("/products/does-not-exist").status_code == 404
