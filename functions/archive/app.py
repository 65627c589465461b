"""Archive Lambda: the event table's DynamoDB stream → archive rows → Firehose (Parquet in S3).

It runs after the event path has answered (the stream is read from the table's change log), so
archiving never adds latency to POST /events. A batch that cannot be delivered raises: the
event source retries it, halving it on errors, and parks what still fails in the archive DLQ.
"""

from typing import Any

from recsys.core.config import get_settings
from recsys.events.archive import FirehoseSink, rows_from_stream

sink = FirehoseSink(get_settings())


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    """Lambda entry point."""
    return {"archived": sink.put(rows_from_stream(event.get("Records", [])))}
