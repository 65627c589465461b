"""SQS → function, as Lambda's event source mapping does it.

A poller long-polls one queue, gathers up to ``BatchSize`` messages within the batching window,
invokes the handler with a real SQS-shaped event, and deletes only what succeeded: with
ReportBatchItemFailures, everything but the reported ``itemIdentifier``s; without it, the whole
batch or nothing. What is not deleted becomes visible again after the queue's visibility
timeout, and the queue's own redrive policy moves it to the DLQ at ``maxReceiveCount``
(SQS — here moto — does that, exactly as on AWS).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from recsys.local.foreground import ForegroundGate

log = logging.getLogger(__name__)

#: SQS hands out at most 10 messages per ReceiveMessage call.
_SQS_MAX_RECEIVE = 10


@dataclass
class PollerStats:
    """What a poller has done so far."""

    batches: int = 0
    received: int = 0
    succeeded: int = 0
    failed: int = 0
    handler_errors: int = 0
    yielded_s: float = 0.0  # waited for API requests in flight before batches (foreground)


def _message_attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    # ReceiveMessage answers with PascalCase keys; Lambda's event uses camelCase.
    out: dict[str, Any] = {}
    for name, value in attrs.items():
        out[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value["DataType"],
        }
    return out


def sqs_record(message: dict[str, Any], *, queue_arn: str, region: str) -> dict[str, Any]:
    """One record of a Lambda SQS event, built from a ReceiveMessage message."""
    attributes = message.get("Attributes", {})
    body = message["Body"]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
            "SenderId": attributes.get("SenderId", "AIDAIENQZJOLO23YVJ4VO"),
            "ApproximateFirstReceiveTimestamp": attributes.get(
                "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
            ),
        },
        "messageAttributes": _message_attributes(message.get("MessageAttributes", {})),
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def sqs_event(
    messages: list[dict[str, Any]], *, queue_arn: str, region: str = "us-east-1"
) -> dict[str, Any]:
    """The Lambda SQS event for ReceiveMessage messages, as the event source mapping builds it."""
    return {"Records": [sqs_record(m, queue_arn=queue_arn, region=region) for m in messages]}


def failed_ids(response: Any, records: list[dict[str, Any]]) -> set[str]:
    """Message ids to keep on the queue, read from a ReportBatchItemFailures response.

    As on AWS, a malformed response or an unknown/empty ``itemIdentifier`` fails the whole batch.
    """
    all_ids = {r["messageId"] for r in records}
    if response is None:
        return set()
    if not isinstance(response, dict):
        return all_ids
    failures = response.get("batchItemFailures", [])
    if not isinstance(failures, list):
        return all_ids
    out: set[str] = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in all_ids:
            return all_ids
        out.add(str(ident))
    return out


class SqsPoller:
    """Feeds one queue to one handler, on a thread or one batch at a time (``poll_once``)."""

    def __init__(
        self,
        *,
        sqs: Any,
        queue_url: str,
        handler: Callable[[dict[str, Any]], Any],
        batch_size: int,
        window_s: float,
        report_failures: bool,
        region: str = "us-east-1",
        wait_s: int = 1,
        name: str = "poller",
        foreground: ForegroundGate | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.handler = handler
        self.batch_size = batch_size
        self.window_s = window_s
        self.report_failures = report_failures
        self.region = region
        self.wait_s = wait_s
        self.name = name
        self.foreground = foreground
        self.stats = PollerStats()
        self.queue_arn: str = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = threading.Event()
        #: How long the last batch took (the foreground wait scales by it; None: no batch yet,
        #: the wait is the gate's cap).
        self._last_run_s: float | None = None

    # --- one batch ---------------------------------------------------------------------------
    def _receive(self, max_messages: int, wait_s: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return messages

    def gather(self, first: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``first`` plus more messages until ``batch_size`` or the batching window closes."""
        batch = list(first)
        deadline = time.monotonic() + self.window_s
        while len(batch) < self.batch_size and time.monotonic() < deadline:
            more = self._receive(min(_SQS_MAX_RECEIVE, self.batch_size - len(batch)), 0)
            if not more:
                # Short pause rather than a busy loop while the window is still open.
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
                continue
            batch.extend(more)
        return batch

    def process(self, messages: list[dict[str, Any]]) -> tuple[int, int]:
        """Invoke the handler on ``messages``; delete the successes; return (ok, failed)."""
        event = sqs_event(messages, queue_arn=self.queue_arn, region=self.region)
        records = event["Records"]
        try:
            response = self.handler(event)
        except Exception:
            # An invocation error fails the whole batch: every message comes back later.
            log.exception(
                "%s: handler raised; %d messages stay on the queue", self.name, len(records)
            )
            self.stats.handler_errors += 1
            keep = {r["messageId"] for r in records}
        else:
            keep = failed_ids(response, records) if self.report_failures else set()
        done = [r for r in records if r["messageId"] not in keep]
        for start in range(0, len(done), _SQS_MAX_RECEIVE):
            chunk = done[start : start + _SQS_MAX_RECEIVE]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)
                ],
            )
        self.stats.batches += 1
        self.stats.received += len(records)
        self.stats.succeeded += len(done)
        self.stats.failed += len(keep)
        return len(done), len(keep)

    def poll_once(self) -> tuple[int, int]:
        """Gather one batch and process it; (0, 0) when the queue had nothing."""
        first = self._receive(min(_SQS_MAX_RECEIVE, self.batch_size), self.wait_s)
        if not first:
            return (0, 0)
        # Busy from the first message on: while a batch is being gathered or processed, its
        # messages are in flight and the queue is not idle.
        self._busy.set()
        try:
            batch = self.gather(first)
            if self.foreground is not None:
                # Locally API requests share this interpreter (on AWS they run elsewhere):
                # let the ones in flight finish first, for a time bounded by the last batch's.
                self.stats.yielded_s += self.foreground.wait_idle(self._last_run_s)
            start = time.monotonic()
            try:
                return self.process(batch)
            finally:
                self._last_run_s = time.monotonic() - start
        finally:
            self._busy.clear()

    # --- on a thread -------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                # The emulator going away at shutdown, or a transient error: retry after a pause.
                if not self._stop.is_set():
                    log.exception("%s: polling failed; retrying", self.name)
                    self._stop.wait(1.0)

    def start(self) -> None:
        """Poll on a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the batch in hand (its messages are finished or left to reappear)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def busy(self) -> bool:
        """Whether a batch is being gathered or processed right now."""
        return self._busy.is_set()


class _RecordFailures(logging.Filter):
    """Passes only Powertools' per-record failure messages (it logs them at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage().startswith("Record processing exception")


def surface_batch_failures() -> None:
    """Print why a record failed in an SQS batch handler (on Lambda: CloudWatch shows it).

    Powertools' batch processor reports failed records to SQS and logs the exception at DEBUG;
    locally that is where a developer looks for the reason, so it is shown as a warning.
    """
    batch_log = logging.getLogger("aws_lambda_powertools.utilities.batch.base")
    if any(isinstance(f, _RecordFailures) for h in batch_log.handlers for f in h.filters):
        return
    handler = logging.StreamHandler()
    handler.addFilter(_RecordFailures())
    handler.setFormatter(logging.Formatter("WARNING sqs batch: %(message)s"))
    batch_log.addHandler(handler)
    batch_log.setLevel(logging.DEBUG)
    batch_log.propagate = False
