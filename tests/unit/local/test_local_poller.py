"""SQS poller semantics against moto: batches, partial failures, visibility, redrive."""

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from recsys.local.poller import SqsPoller, failed_ids, sqs_record


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def _queue(sqs: Any, *, visibility: int = 30, max_receive: int = 3) -> tuple[str, str]:
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName="work",
        Attributes={
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}
            ),
        },
    )["QueueUrl"]
    return url, dlq


def _send(sqs: Any, url: str, bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))


def _depth(sqs: Any, url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


class Recorder:
    """A handler that fails the records whose body says so, reporting them as Lambda would."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        records = event["Records"]
        self.batches.append(records)
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in records if json.loads(r["body"])["fail"]
            ]
        }


def _poller(
    sqs: Any, url: str, handler: Any, *, batch_size: int = 10, report: bool = True
) -> SqsPoller:
    return SqsPoller(
        sqs=sqs,
        queue_url=url,
        handler=handler,
        batch_size=batch_size,
        window_s=0.2,
        report_failures=report,
        wait_s=0,
    )


def test_partial_failure_deletes_only_the_successes(sqs: Any) -> None:
    # GIVEN five messages, two of which the handler fails
    url, _ = _queue(sqs)
    _send(sqs, url, [{"n": i, "fail": i in (1, 3)} for i in range(5)])
    handler = Recorder()
    # WHEN one batch is processed
    ok, failed = _poller(sqs, url, handler).poll_once()
    # THEN three are deleted and the two failures are still on the queue (in flight)
    assert (ok, failed) == (3, 2)
    assert _depth(sqs, url) == (0, 2)
    # AND the handler saw real SQS-shaped records
    record = handler.batches[0][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":work")
    assert record["attributes"]["ApproximateReceiveCount"] == "1"


def test_batch_size_is_honoured_across_receives(sqs: Any) -> None:
    # GIVEN 25 messages and a batch size above SQS's 10-per-receive limit
    url, _ = _queue(sqs)
    _send(sqs, url, [{"n": i, "fail": False} for i in range(25)])
    handler = Recorder()
    poller = _poller(sqs, url, handler, batch_size=12)
    # WHEN batches are processed until the queue is empty
    while poller.poll_once() != (0, 0):
        pass
    # THEN no batch exceeded 12 and every message was handled once
    sizes = [len(b) for b in handler.batches]
    assert max(sizes) == 12
    assert sum(sizes) == 25
    assert _depth(sqs, url) == (0, 0)


def test_failed_messages_come_back_then_go_to_the_dlq(sqs: Any) -> None:
    # GIVEN a queue with a 1 s visibility timeout and maxReceiveCount 2
    url, dlq = _queue(sqs, visibility=1, max_receive=2)
    _send(sqs, url, [{"n": "bad", "fail": True}, {"n": "good", "fail": False}])
    handler = Recorder()
    poller = _poller(sqs, url, handler)
    # WHEN the poller runs, then runs again after the visibility timeout
    poller.poll_once()
    time.sleep(1.2)
    poller.poll_once()
    time.sleep(1.2)
    poller.poll_once()
    # THEN the failing message was delivered twice (receive count 1 then 2) ...
    seen = [json.loads(r["body"])["n"] for batch in handler.batches for r in batch]
    assert seen.count("bad") == 2
    assert seen.count("good") == 1
    counts = [
        r["attributes"]["ApproximateReceiveCount"]
        for batch in handler.batches
        for r in batch
        if json.loads(r["body"])["n"] == "bad"
    ]
    assert counts == ["1", "2"]
    # ... and then moved to the DLQ by the queue's redrive policy
    assert _depth(sqs, url) == (0, 0)
    moved = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["n"] for m in moved] == ["bad"]


def test_a_raising_handler_leaves_the_whole_batch(sqs: Any) -> None:
    # GIVEN a handler that raises
    url, _ = _queue(sqs)
    _send(sqs, url, [{"n": i, "fail": False} for i in range(3)])

    def boom(event: dict[str, Any]) -> None:
        raise RuntimeError("invocation error")

    poller = _poller(sqs, url, boom)
    # WHEN a batch is processed
    result = poller.poll_once()
    # THEN nothing is deleted
    assert result == (0, 3)
    assert poller.stats.handler_errors == 1
    assert _depth(sqs, url) == (0, 3)


def test_without_report_batch_item_failures_a_reply_is_ignored(sqs: Any) -> None:
    # GIVEN a mapping without ReportBatchItemFailures
    url, _ = _queue(sqs)
    _send(sqs, url, [{"n": 1, "fail": True}])
    # WHEN the handler returns failures anyway THEN Lambda would ignore them: all deleted
    assert _poller(sqs, url, Recorder(), report=False).poll_once() == (1, 0)


def test_malformed_failure_reports_fail_the_whole_batch() -> None:
    # GIVEN two records
    records = [{"messageId": "a"}, {"messageId": "b"}]
    # THEN a good report keeps only what it names; bad ones keep everything
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, records) == {"b"}
    assert failed_ids({"batchItemFailures": []}, records) == set()
    assert failed_ids(None, records) == set()
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, records) == {"a", "b"}
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "zz"}]}, records) == {"a", "b"}
    assert failed_ids("oops", records) == {"a", "b"}


def test_records_carry_message_attributes_in_lambda_case() -> None:
    # GIVEN a ReceiveMessage message with an attribute
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "r1",
        "Body": "{}",
        "MessageAttributes": {"kind": {"StringValue": "x", "DataType": "String"}},
    }
    # WHEN turned into a Lambda record
    record = sqs_record(message, queue_arn="arn:aws:sqs:us-east-1:1:q", region="us-east-1")
    # THEN attribute keys are camelCase, as Powertools' SQS models expect
    assert record["messageAttributes"]["kind"]["stringValue"] == "x"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    assert record["md5OfBody"] == "99914b932bd37a50b983c5e7c90ae93b"
