"""The local runtime end to end on the fixture stack (tests/fixtures/handlers): HTTP routing
from the template, SQS pollers with partial failure and redrive, S3 routing, the schedule,
and state kept across restarts. The real handlers are covered by tests/e2e."""

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from recsys.local.runtime import LocalRuntime

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "handlers" / "template.yaml"


@pytest.fixture
def clean_env() -> Iterator[None]:
    # The runtime sets handler configuration in os.environ, as Lambda does; undo it.
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    for name in [m for m in sys.modules if m.startswith("recsys_local_fn_") or m == "worker_state"]:
        del sys.modules[name]


def _stack(data_dir: Path) -> LocalRuntime:
    return LocalRuntime(
        data_dir=data_dir,
        port=0,
        template_path=FIXTURE,
        refresh_interval_s=0,
        s3_poll_s=0.2,
        say=lambda _: None,
    )


def _uploads() -> Any:
    return sys.modules["recsys_local_fn_UploadsFunction"]


def test_the_fixture_stack_runs_from_its_template(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the local stack started on the fixture template
    stack = _stack(tmp_path / "data")
    url = stack.start()
    try:
        monkeypatch.setenv("FIXTURE_WORK_QUEUE_URL", stack.provisioned.queue_urls["WorkQueue"])
        http = httpx.Client(base_url=url, timeout=30)
        # THEN declared routes are served by their function and undeclared ones are not
        assert http.get("/health").json() == {"status": "ok"}
        assert http.get("/hidden").status_code == 404
        paths = http.get("/openapi.json").json()["paths"]
        assert {"/health", "/items", "/items/{item_id}"} <= set(paths)
        # (the admin routes are not part of the API's document)
        assert "/hidden" not in paths and not any(p.startswith("/_local") for p in paths)

        # WHEN items go in over HTTP, one of which the worker fails
        reply = http.post("/items", json={"items": [{"id": "a"}, {"id": "b", "fail": True}]})
        assert reply.status_code == 202
        status = http.get("/_local/status", params={"wait_s": 30}).json()
        assert status["idle"] is True
        # (the failed one waits out its 1 s visibility timeout, is retried, then redriven)
        deadline = time.monotonic() + 30
        while status["queues"]["WorkDLQ"]["visible"] == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
            status = http.get("/_local/status").json()
        # THEN the good one is processed, the bad one tried maxReceiveCount times then dead-lettered
        assert http.get("/items/a").json()["done"] is True
        assert http.get("/items/b").json()["done"] is False
        assert sys.modules["worker_state"].ATTEMPTS == {"a": 1, "b": 2}
        assert status["queues"]["WorkDLQ"]["visible"] == 1
        assert max(sys.modules["worker_state"].BATCH_SIZES) <= 3

        # WHEN files land in the bucket, in and outside the notification's prefix
        s3 = boto3.client("s3", endpoint_url=stack.settings.aws_endpoint_url)
        bucket = stack.provisioned.buckets["Uploads"]
        s3.put_object(Bucket=bucket, Key="incoming/shop.csv", Body=b"id\n1\n")
        s3.put_object(Bucket=bucket, Key="other/skip.csv", Body=b"id\n")
        deadline = time.monotonic() + 10
        while not _uploads().KEYS and time.monotonic() < deadline:
            time.sleep(0.1)
        # THEN only the matching one reaches the function
        assert _uploads().KEYS == ["incoming/shop.csv"]

        # WHEN the nightly job is asked for
        assert http.post("/_local/refresh").status_code == 415  # writes take JSON only
        runs = http.post("/_local/refresh", json={}).json()["runs"]
        # THEN the function got a Scheduled Event
        assert runs == [{"rule": "UploadsFunctionNightly", "result": {"scheduled": 1}}]
        assert _uploads().SCHEDULED[0]["detail-type"] == "Scheduled Event"
    finally:
        stack.stop(drain_s=5)

    # WHEN the stack starts again on the same data directory
    again = _stack(tmp_path / "data")
    again.start()
    try:
        s3 = boto3.client("s3", endpoint_url=again.settings.aws_endpoint_url)
        bucket = again.provisioned.buckets["Uploads"]
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        # THEN the bucket came back from the saved state, without notifying the function again
        assert sorted(keys) == ["incoming/shop.csv", "other/skip.csv"]
        time.sleep(0.5)
        assert _uploads().KEYS == ["incoming/shop.csv"]
    finally:
        again.stop(drain_s=5)


def test_a_taken_port_is_reported(tmp_path: Path, clean_env: None) -> None:
    # GIVEN a port somebody listens on
    import socket

    from recsys.core.errors import StackStartError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        stack = LocalRuntime(
            data_dir=tmp_path, port=port, template_path=FIXTURE, say=lambda _: None
        )
        # WHEN the stack starts on it THEN it says so and what to do
        with pytest.raises(StackStartError, match=r"already in use.*--port"):
            stack.start()


def test_the_local_moto_server_queries_one_partition_correctly() -> None:
    # GIVEN the stack's moto server (serialised, partition-indexed queries) and a table with
    # two partitions
    from recsys.local.moto import MotoProcess

    server = MotoProcess()
    server.start()
    try:
        host, port = server.get_host_and_port()
        ddb = boto3.client(
            "dynamodb",
            endpoint_url=f"http://{host}:{port}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        ddb.create_table(
            TableName="t",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for pk in ("u#1", "u#2"):
            for n in (3, 1, 2, 5, 4):
                item = {"pk": {"S": pk}, "sk": {"S": f"{n:03d}"}, "n": {"N": str(n)}}
                ddb.put_item(TableName="t", Item=item)
        # WHEN one partition is queried with a range condition, newest first, limited
        reply = ddb.query(
            TableName="t",
            KeyConditionExpression="pk = :pk AND sk >= :from",
            ExpressionAttributeValues={":pk": {"S": "u#2"}, ":from": {"S": "002"}},
            ScanIndexForward=False,
            Limit=3,
        )
        # THEN only that partition's matching items come back, in order, and paging works
        assert [i["sk"]["S"] for i in reply["Items"]] == ["005", "004", "003"]
        assert {i["pk"]["S"] for i in reply["Items"]} == {"u#2"}
        rest = ddb.query(
            TableName="t",
            KeyConditionExpression="pk = :pk AND sk >= :from",
            ExpressionAttributeValues={":pk": {"S": "u#2"}, ":from": {"S": "002"}},
            ScanIndexForward=False,
            ExclusiveStartKey=reply["LastEvaluatedKey"],
        )
        assert [i["sk"]["S"] for i in rest["Items"]] == ["002"]
        empty = ddb.query(
            TableName="t",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "u#9"}},
        )
        assert empty["Items"] == []
    finally:
        server.stop()


def test_the_local_moto_server_reads_queue_attributes_as_moto_computes_them() -> None:
    # GIVEN moto's own attributes of a FIFO queue with a dead-letter queue and a policy, and of
    # a standard queue holding messages (some in flight, some delayed)
    from moto import mock_aws
    from moto.sqs.models import Queue, SQSBackend

    from recsys.local.moto_server import patch_queue_attributes

    computed, answered = Queue.attributes, SQSBackend.get_queue_attributes
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq = sqs.create_queue(QueueName="dead.fifo", Attributes={"FifoQueue": "true"})
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"])
        redrive = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": 2}
        fifo = sqs.create_queue(
            QueueName="work.fifo",
            Attributes={
                "FifoQueue": "true",
                "ContentBasedDeduplication": "true",
                "RedrivePolicy": json.dumps(redrive),
                "Policy": json.dumps({"Version": "2012-10-17", "Statement": []}),
            },
        )
        plain = sqs.create_queue(QueueName="plain")["QueueUrl"]
        for n in range(12):
            sqs.send_message(QueueUrl=plain, MessageBody=f"m{n}", DelaySeconds=60 * (n % 3 == 0))
        sqs.receive_message(QueueUrl=plain, MaxNumberOfMessages=5)
        queues = sqs.list_queues()["QueueUrls"]
        before = {u: sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["All"]) for u in queues}
        from moto.sqs.models import sqs_backends

        backend = sqs_backends["123456789012"]["us-east-1"]
        expected = {name: computed.fget(q) for name, q in backend.queues.items()}
        # WHEN the attributes are made lazy
        patch_queue_attributes()
        try:
            lazy = {name: dict(q.attributes) for name, q in backend.queues.items()}
            after = {
                u: sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["All"]) for u in queues
            }
            one = sqs.get_queue_attributes(
                QueueUrl=plain, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
            )["Attributes"]
            # AND messages still flow through the FIFO queue's content-based deduplication
            sqs.send_message(QueueUrl=fifo["QueueUrl"], MessageBody="x", MessageGroupId="g")
            sqs.send_message(QueueUrl=fifo["QueueUrl"], MessageBody="x", MessageGroupId="g")
            got = sqs.receive_message(QueueUrl=fifo["QueueUrl"], MaxNumberOfMessages=10)
        finally:
            Queue.attributes = computed  # type: ignore[method-assign]
            SQSBackend.get_queue_attributes = answered  # type: ignore[method-assign]
    # THEN every queue has the same attributes, read in the process and over the API
    assert lazy == expected
    assert [after[u]["Attributes"] for u in queues] == [before[u]["Attributes"] for u in queues]
    assert before[plain]["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "4"
    assert one == {"ApproximateNumberOfMessagesDelayed": "4"}
    assert [m["Body"] for m in got["Messages"]] == ["x"]
