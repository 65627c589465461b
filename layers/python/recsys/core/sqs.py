"""The one SQS batch sender: size limits, sender faults and backoff, for every queue we send to.

A body over the SQS limit is refused before anything is sent; ``send_message_batch`` entries
that fail are retried with exponential backoff unless SQS blames the sender (a retry would fail
the same way); what still fails raises :class:`~recsys.core.errors.DependencyError`, so a
caller never loses a message silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from recsys.core.errors import DependencyError

__all__ = ["MAX_BATCH_ENTRIES", "MAX_MESSAGE_BYTES", "SqsBatchSender", "entry_batches"]

#: SQS limit for one message and for the sum of a send_message_batch (both 256 KiB); kept with
#: headroom for the batch envelope and message attributes.
MAX_MESSAGE_BYTES = 250_000
#: SQS allows at most 10 entries per send_message_batch.
MAX_BATCH_ENTRIES = 10


def entry_batches(bodies: Sequence[str]) -> Iterator[list[dict[str, str]]]:
    """``send_message_batch`` entry lists: ≤ 10 entries and ≤ ``MAX_MESSAGE_BYTES`` each."""
    entries: list[dict[str, str]] = []
    size = 0
    for body in bodies:
        length = len(body.encode("utf-8"))
        if entries and (len(entries) >= MAX_BATCH_ENTRIES or size + length > MAX_MESSAGE_BYTES):
            yield entries
            entries, size = [], 0
        entries.append({"Id": str(len(entries)), "MessageBody": body})
        size += length
    if entries:
        yield entries


class SqsBatchSender:
    """Sends message bodies to one queue in batches; raises once retries cannot help.

    ``describe`` names what the failed entries held in the error (e.g. "5 products").
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        *,
        name: str,
        retries: int = 3,
        backoff_s: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        describe: Callable[[Sequence[str]], str] | None = None,
    ) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self.name = name
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._describe = describe
        #: Messages sent since creation (for summaries and tests).
        self.messages_sent = 0

    def send(self, bodies: Sequence[str]) -> None:
        """Send every body; a DependencyError names what could not be sent and why."""
        for body in bodies:
            size = len(body.encode("utf-8"))
            if size > MAX_MESSAGE_BYTES:
                raise DependencyError(
                    f"a {self.name} message of {size} bytes is over the SQS limit "
                    f"({MAX_MESSAGE_BYTES})"
                )
        for entries in entry_batches(bodies):
            self._send_batch(entries)

    def _send_batch(self, entries: list[dict[str, str]]) -> None:
        pending = entries
        failed_reason = ""
        for attempt in range(self.retries + 1):
            try:
                reply = self._sqs.send_message_batch(QueueUrl=self.queue_url, Entries=pending)
            except Exception as exc:  # botocore raises many types; all mean "not sent"
                failed_reason = f"{type(exc).__name__}: {exc}"
                failed_ids = {e["Id"] for e in pending}
                sender_fault = False
            else:
                failures = reply.get("Failed", [])
                failed_ids = {f["Id"] for f in failures}
                self.messages_sent += len(pending) - len(failed_ids)
                if not failed_ids:
                    return
                failed_reason = "; ".join(
                    f"{f.get('Code')}: {f.get('Message', '')}".strip() for f in failures
                )
                # A sender fault (e.g. too large, bad body) will fail the same way again.
                sender_fault = any(f.get("SenderFault") for f in failures)
            pending = [e for e in pending if e["Id"] in failed_ids]
            if sender_fault or attempt == self.retries:
                break
            self._sleep(self.backoff_s * (2**attempt))
        held = f" ({self._describe([e['MessageBody'] for e in pending])})" if self._describe else ""
        raise DependencyError(
            f"{len(pending)} {self.name} message(s){held} could not be sent to "
            f"{self.queue_url}: {failed_reason}"
        )
