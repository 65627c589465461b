"""Embed messages: what one holds, how products are packed into them, where they may go.

Ingest decides *what* needs embedding; an :class:`EmbedQueue` decides *where* that work runs:
:class:`recsys.catalog.queue.SqsEmbedQueue` (the embed Lambda behind SQS) or
:class:`recsys.catalog.embed.DirectEmbedQueue` (in this process: the CLI and benchmarks).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import BaseModel, ConfigDict, Field, Json, PrivateAttr

from recsys.core.errors import DependencyError
from recsys.core.sqs import MAX_MESSAGE_BYTES

__all__ = [
    "MAX_MESSAGE_BYTES",
    "EmbedItem",
    "EmbedMessage",
    "EmbedQueue",
    "EmbedRecord",
    "pack_messages",
]


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
