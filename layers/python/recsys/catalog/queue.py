"""The embed queue on SQS: products packed into messages (several each, ≤ 256 KB) for the embed
Lambda, sent by the shared :class:`~recsys.core.sqs.SqsBatchSender`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from recsys.catalog.messages import EmbedItem, pack_messages
from recsys.core.sqs import SqsBatchSender

__all__ = ["SqsEmbedQueue"]


def _products(bodies: Sequence[str]) -> str:
    return f"{sum(len(json.loads(b)['products']) for b in bodies)} products"


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
        self.queue_url = queue_url
        self.per_message = per_message
        self._sender = SqsBatchSender(
            sqs,
            queue_url,
            name="embed",
            retries=retries,
            backoff_s=backoff_s,
            sleep=sleep,
            describe=_products,
        )

    @property
    def messages_sent(self) -> int:
        """Messages sent since creation (for summaries and tests)."""
        return self._sender.messages_sent

    def send(self, items: Sequence[EmbedItem]) -> None:
        """Send ``items``; entries that fail are retried, then a DependencyError is raised."""
        self._sender.send(list(pack_messages(items, per_message=self.per_message)))

    def flush(self) -> None:
        """Nothing to wait for: :meth:`send` returns once SQS has every message."""
