"""Embed Lambda: SQS batches of products → vectors in the store, partial failures reported.

A record whose body does not parse, or whose products cannot be embedded, fails alone: it is
listed in ``batchItemFailures`` and SQS redelivers it (then moves it to the DLQ).
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

from recsys.catalog.embed import Embedder
from recsys.catalog.messages import EmbedRecord
from recsys.core.config import get_settings

# A batch where every record failed is reported like any other (all ids listed) rather than
# raised, so SQS redelivers exactly the failed messages either way.
processor = BatchProcessor(
    event_type=EventType.SQS, model=EmbedRecord, raise_on_entire_batch_failure=False
)
embedder = Embedder.from_settings(get_settings())


def record_handler(record: EmbedRecord) -> None:
    """Embed one message's products (upserts: safe to redeliver)."""
    embedder(record.body.products)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
