"""Embed Lambda: SQS batches of products → vectors in the store, partial failures reported.

A record whose body does not parse, or whose products cannot be embedded, fails alone: it is
listed in ``batchItemFailures`` and SQS redelivers it (then moves it to the DLQ).
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch import process_partial_response as process

from recsys.catalog.embed import Embedder
from recsys.catalog.messages import EmbedRecord
from recsys.core.observability import instrument
from recsys.services import Services

services = Services()
# A batch where every record failed is reported like any other (all ids listed), not raised.
processor = BatchProcessor(EventType.SQS, model=EmbedRecord, raise_on_entire_batch_failure=False)
embedder = Embedder.from_services(services)


def record_handler(record: EmbedRecord) -> None:
    """Embed one message's products (upserts: safe to redeliver)."""
    embedder(record.body.products)


@instrument  # metrics (EMF), Lambda context and correlation id in logs, tracing
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    return process(event=event, record_handler=record_handler, processor=processor, context=context)
