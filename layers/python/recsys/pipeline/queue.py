"""The embed queue: what a message holds and how products are put on it.

Ingest decides *what* needs embedding; the queue decides *where* that work runs:

- :class:`SqsEmbedQueue` sends SQS messages (several products each, ≤ 256 KB) for the embed
  Lambda; partial ``send_message_batch`` failures are retried and, if they persist, raised so
  nothing is silently lost;
- :class:`DirectEmbedQueue` embeds in the calling process — the local CLI and benchmarks use it
  when no queue URL is configured.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import BaseModel, ConfigDict, Field, Json, PrivateAttr

from recsys.errors import DependencyError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from recsys.pipeline.embed import Embedder
    from recsys.store.base import PointIn

__all__ = [
    "MAX_MESSAGE_BYTES",
    "DirectEmbedQueue",
    "EmbedItem",
    "EmbedMessage",
    "EmbedQueue",
    "EmbedRecord",
    "SqsEmbedQueue",
]

#: SQS limit for one message and for the sum of a send_message_batch (both 256 KiB); kept with
#: headroom for the batch envelope and message attributes.
MAX_MESSAGE_BYTES = 250_000
#: SQS allows at most 10 entries per send_message_batch.
MAX_BATCH_ENTRIES = 10


class EmbedItem(BaseModel):
    """One product to embed: its key and the payload built at ingest (with ``content_hash``)."""

    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(min_length=1)
    payload: dict[str, Any]
    # The embedding text when the sender already built it: in-process only, never serialised,
    # so a queued message is always re-derived from its payload.
    _text: str | None = PrivateAttr(default=None)

    @classmethod
    def built(cls, product_id: str, payload: dict[str, Any], text: str) -> EmbedItem:
        """An item from an already validated product, carrying its embedding text."""
        item = cls.model_construct(product_id=product_id, payload=payload)
        item._text = text
        return item

    @property
    def text(self) -> str | None:
        """The embedding text built at ingest, if this item came from the same process."""
        return self._text


class EmbedMessage(BaseModel):
    """Body of an embed-queue message."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(default=1, ge=1, le=1)
    products: list[EmbedItem] = Field(min_length=1)


class EmbedRecord(SqsRecordModel):
    """An SQS record whose body is an :class:`EmbedMessage` (parsed by the batch processor)."""

    body: Json[EmbedMessage]


class EmbedQueue(Protocol):
    """Somewhere to send products that need (re-)embedding."""

    def send(self, items: Sequence[EmbedItem]) -> None:
        """Accept ``items`` for embedding; raise if any could not be accepted."""

    def flush(self) -> None:
        """Return once everything sent so far is accepted (or raise what went wrong)."""


_ENVELOPE = '{"version":1,"products":[]}'


def _body(items: Sequence[EmbedItem]) -> str:
    return EmbedMessage(products=list(items)).model_dump_json()


def pack_messages(items: Sequence[EmbedItem], *, per_message: int) -> Iterator[str]:
    """Message bodies of at most ``per_message`` products and ``MAX_MESSAGE_BYTES`` each."""
    envelope = len(_ENVELOPE)
    batch: list[EmbedItem] = []
    size = envelope
    for item in items:
        item_size = len(item.model_dump_json().encode("utf-8")) + 1  # + the separating comma
        if item_size + envelope > MAX_MESSAGE_BYTES:
            raise DependencyError(
                f"product {item.product_id!r} is {item_size} bytes as a message; the embed "
                f"queue takes at most {MAX_MESSAGE_BYTES} (shorten its description or extras)"
            )
        if batch and (len(batch) >= per_message or size + item_size > MAX_MESSAGE_BYTES):
            yield _body(batch)
            batch, size = [], envelope
        batch.append(item)
        size += item_size
    if batch:
        yield _body(batch)


def _entry_batches(bodies: Sequence[str]) -> Iterator[list[dict[str, str]]]:
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


class SqsEmbedQueue:
    """Sends products to the embed SQS queue, several per message, batches of ≤ 10 messages."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        *,
        per_message: int = 25,
        retries: int = 3,
        backoff_s: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self.per_message = per_message
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        #: Messages sent since creation (for summaries and tests).
        self.messages_sent = 0

    def send(self, items: Sequence[EmbedItem]) -> None:
        """Send ``items``; entries that fail are retried, then a DependencyError is raised."""
        bodies = list(pack_messages(items, per_message=self.per_message))
        for entries in _entry_batches(bodies):
            self._send_batch(entries)

    def flush(self) -> None:
        """Nothing to wait for: :meth:`send` returns once SQS has every message."""

    def _send_batch(self, entries: list[dict[str, str]]) -> None:
        pending = entries
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
        products = sum(len(json.loads(e["MessageBody"])["products"]) for e in pending)
        raise DependencyError(
            f"{len(pending)} embed message(s) ({products} products) could not be sent to "
            f"{self.queue_url}: {failed_reason}"
        )


class DirectEmbedQueue:
    """Embeds in this process, no queue in between: ``embedder`` gets each chunk.

    With ``background=True`` only the encoder runs on a worker thread (ONNX Runtime and the
    tokenizer release the GIL); this thread keeps reading, validating and writing earlier
    chunks meanwhile, at most ``max_pending`` chunks behind. :meth:`flush` writes what is left
    and re-raises the first failure. Writes keep the order chunks were sent in.
    """

    def __init__(
        self, embedder: Embedder, *, background: bool = False, max_pending: int = 2
    ) -> None:
        self._embedder = embedder
        self._max_pending = max_pending
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="encode") if background else None
        self._pending: deque[tuple[list[PointIn], Future[npt.NDArray[np.float32]]]] = deque()
        #: Products embedded since creation.
        self.embedded = 0

    def send(self, items: Sequence[EmbedItem]) -> None:
        """Embed ``items`` now, or start encoding them on the worker."""
        if not items:
            return
        if self._pool is None:
            self.embedded += self._embedder(items)
            return
        points, texts = self._embedder.prepare(items)
        if not points:
            return
        while len(self._pending) >= self._max_pending:
            self._write_oldest()
        self._pending.append((points, self._pool.submit(self._embedder.encoder.encode, texts)))

    def _write_oldest(self) -> None:
        points, vectors = self._pending.popleft()
        self.embedded += self._embedder.write(points, vectors.result())

    def flush(self) -> None:
        """Write every chunk still being encoded; re-raise the first failure."""
        while self._pending:
            self._write_oldest()

    def close(self) -> None:
        """Flush, then stop the worker."""
        try:
            self.flush()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
