"""Update-profile Lambda: profile-queue batches → user vectors; the nightly schedule → refresh.

A record that does not parse or cannot be applied fails alone (``batchItemFailures``); SQS
redelivers it and, after maxReceiveCount, moves it to the DLQ.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch import process_partial_response as process

from recsys.core.observability import instrument
from recsys.profiles.worker import ProfileRecord, ProfileWorker, is_scheduled_event
from recsys.services import Services

# A batch whose every record failed is reported like any other, not raised as one error.
processor = BatchProcessor(EventType.SQS, model=ProfileRecord, raise_on_entire_batch_failure=False)
worker = ProfileWorker(Services())


def record_handler(record: ProfileRecord) -> None:
    """Bring one owner's profile up to date (safe to redeliver: reads the log, never adds)."""
    worker.update(record.body)


@instrument  # metrics (EMF), Lambda context and correlation id in logs, tracing
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    if is_scheduled_event(event):
        return worker.nightly()
    return process(event=event, record_handler=record_handler, processor=processor, context=context)
