"""The event archive: every change of the event log as rows of one flat table.

On AWS the table's DynamoDB stream feeds it (the log-event function → Kinesis Data Firehose →
Parquet under ``s3://<archive bucket>/events/dt=YYYY-MM-DD/``, a Glue table over it) without
touching the event path: the stream is read from the table's change log after the write has
been acknowledged. Locally the nightly job writes the same table as Parquet files under
``<data_dir>/archive/events/dt=YYYY-MM-DD/`` — a snapshot of the log, replaced whole each run.

Rows are changes, not events: ``op`` is "put" (an event written, or re-written by a retry) or
"delete" (an erasure, or the session half of a login merge), ``version`` orders the changes of
one log item (the stream's sequence number, zero-padded). The log as it stands is the newest
change of each (owner, sk) when that change is a put — the aggregates SQL starts with exactly
that, so an erased user or a merged session is not counted although its earlier rows remain in
files. Expiry by TTL is not a delete: the archive keeps events for its own retention (the
bucket's lifecycle rule) and the log's claim items (``e#…``) never reach it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from recsys.core.aws import client
from recsys.core.config import Settings
from recsys.core.errors import ConfigError, DependencyError
from recsys.events.items import from_item
from recsys.events.models import LoggedEvent

#: The archive table's columns (name, Glue/Hive type), in file order; ``dt`` is the partition.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("owner", "string"),
    ("sk", "string"),
    ("event_id", "string"),
    ("type", "string"),
    ("at_s", "double"),
    ("user_id", "string"),
    ("session_id", "string"),
    ("product_id", "string"),
    ("query", "string"),
    ("order_id", "string"),
    ("quantity", "bigint"),
    ("price", "double"),
    ("context", "string"),
    ("op", "string"),
    ("version", "string"),
)
PARTITION = ("dt", "string")
_DUCKDB_TYPES = {"string": "VARCHAR", "double": "DOUBLE", "bigint": "BIGINT"}
#: Width of ``version``: DynamoDB stream sequence numbers have up to 40 digits.
VERSION_DIGITS = 40
#: Firehose's PutRecordBatch limits: 500 records and 4 MiB a call.
_FIREHOSE_RECORDS = 500
_FIREHOSE_BYTES = 4 * 1024 * 1024


def archive_row(ev: LoggedEvent, *, version: str) -> dict[str, Any]:
    """The archive row of a written event."""
    return {
        "owner": ev.owner,
        "sk": ev.sk,
        "event_id": ev.event_id,
        "type": ev.type,
        "at_s": ev.at,
        "user_id": ev.user_id,
        "session_id": ev.session_id,
        "product_id": ev.product_id,
        "query": ev.query,
        "order_id": ev.order_id,
        "quantity": ev.quantity,
        "price": ev.price,
        "context": json.dumps(dict(ev.context), separators=(",", ":"), default=str)
        if ev.context
        else None,
        "op": "put",
        "version": version,
    }


def tombstone_row(owner: str, sk: str, *, version: str) -> dict[str, Any]:
    """The archive row of a deleted log item (every other column null)."""
    row: dict[str, Any] = dict.fromkeys(name for name, _ in COLUMNS)
    row.update(owner=owner, sk=sk, op="delete", version=version)
    return row


def _is_expiry(record: Mapping[str, Any]) -> bool:
    # TTL deletions are the only ones DynamoDB makes itself (documented userIdentity).
    who = record.get("userIdentity") or {}
    return who.get("type") == "Service" and who.get("principalId") == "dynamodb.amazonaws.com"


def is_stream_event(event: Mapping[str, Any]) -> bool:
    """A DynamoDB stream batch (rather than an API Gateway request)."""
    records: list[Any] = event.get("Records") or []
    return bool(records) and records[0].get("eventSource") == "aws:dynamodb"


def rows_from_stream(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Archive rows of DynamoDB stream records (view type NEW_IMAGE) of the events table.

    Claim items and TTL expiries are skipped; INSERT and MODIFY are puts (a retried write that
    changed only ``expires_at`` is a MODIFY), REMOVE is a delete.
    """
    rows: list[dict[str, Any]] = []
    for rec in records:
        change = rec["dynamodb"]
        pk = change["Keys"]["pk"]["S"]
        if not pk.startswith(("u#", "s#")):
            continue
        version = str(change["SequenceNumber"]).rjust(VERSION_DIGITS, "0")
        if rec["eventName"] in ("INSERT", "MODIFY"):
            rows.append(archive_row(from_item(change["NewImage"]), version=version))
        elif rec["eventName"] == "REMOVE" and not _is_expiry(rec):
            rows.append(tombstone_row(pk, change["Keys"]["sk"]["S"], version=version))
    return rows


class FirehoseSink:
    """Puts archive rows (JSON lines) on the archive's Firehose stream, which writes Parquet."""

    def __init__(self, settings: Settings) -> None:
        # Built at import by the handler, its client at the first batch: the HTTP invocations
        # of the same function never pay for it.
        self.stream = settings.archive_stream
        self.settings = settings
        self._firehose: Any = None

    @property
    def firehose(self) -> Any:
        if self._firehose is None:
            self._firehose = client("firehose", self.settings)
        return self._firehose

    def put(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Deliver ``rows``; retries throttled records, raises ``DependencyError`` if any stay."""
        if not self.stream:
            raise ConfigError("RECSYS_ARCHIVE_STREAM (the Firehose stream name) is not set")
        batch: list[bytes] = []
        size = 0
        for row in rows:
            data = (json.dumps(row, separators=(",", ":")) + "\n").encode()
            if batch and (len(batch) == _FIREHOSE_RECORDS or size + len(data) > _FIREHOSE_BYTES):
                self._put_batch(batch)
                batch, size = [], 0
            batch.append(data)
            size += len(data)
        if batch:
            self._put_batch(batch)
        return len(rows)

    def _put_batch(self, batch: list[bytes]) -> None:
        pending = batch
        for attempt in range(6):
            try:
                reply = self.firehose.put_record_batch(
                    DeliveryStreamName=self.stream, Records=[{"Data": d} for d in pending]
                )
            except Exception as exc:  # boto raises many types; callers need one
                raise DependencyError(f"archive stream {self.stream}: {exc}") from exc
            if not reply.get("FailedPutCount"):
                return
            pending = [
                d
                for d, res in zip(pending, reply["RequestResponses"], strict=True)
                if res.get("ErrorCode")
            ]
            time.sleep(0.1 * 2**attempt)
        raise DependencyError(f"archive stream {self.stream}: {len(pending)} records not accepted")


# --- the local archive (Parquet files under the data dir) ------------------------------------


def local_archive_dir(settings: Settings) -> Path:
    """Where the local archive lives: ``<data_dir>/archive``."""
    return settings.archive_dir or settings.data_dir / "archive"


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError as exc:  # the Lambda layer does not ship it
        raise ConfigError("the local archive needs duckdb (pip install 'recsys[local]')") from exc
    return duckdb


def write_snapshot(events: Iterable[LoggedEvent], root: Path) -> int:
    """Replace the archive under ``root`` by a snapshot of ``events`` (Parquet by event day)."""
    version = str(time.time_ns()).rjust(VERSION_DIGITS, "0")
    return write_rows((archive_row(ev, version=version) for ev in events), root)


def write_rows(rows: Iterable[Mapping[str, Any]], root: Path) -> int:
    """Replace the archive under ``root`` by ``rows``, partitioned by the UTC day of ``at_s``.

    Written to a new folder first and swapped in by renames, so a crash leaves either the old
    archive or the new one (``events.old`` is read when ``events`` is missing).
    """
    duckdb = _duckdb()
    columns: dict[str, list[Any]] = {name: [] for name, _ in (*COLUMNS, PARTITION)}
    today = time.strftime("%Y-%m-%d", time.gmtime())
    for row in rows:
        at = row.get("at_s")
        day = today if at is None else time.strftime("%Y-%m-%d", time.gmtime(at))
        for name, values in columns.items():
            values.append(day if name == "dt" else row.get(name))
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="events.", dir=root))
    count = len(columns["owner"])
    con = duckdb.connect()
    try:
        con.execute(
            "CREATE TABLE snapshot ("
            + ", ".join(f"{n} {_DUCKDB_TYPES[t]}" for n, t in (*COLUMNS, PARTITION))
            + ")"
        )
        if count:
            con.register("incoming", _numpy_columns(columns))
            con.execute("INSERT INTO snapshot SELECT * FROM incoming")
            con.execute(
                f"COPY snapshot TO '{_quoted(staging / 'events')}' "
                "(FORMAT parquet, PARTITION_BY (dt), COMPRESSION zstd)"
            )
    finally:
        con.close()
    target, old = root / "events", root / "events.old"
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    (staging / "events").mkdir(exist_ok=True)
    (staging / "events").rename(target)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
    return count


def _numpy_columns(columns: Mapping[str, list[Any]]) -> Any:
    import numpy as np

    # Object arrays keep None as NULL (a float array would turn a missing price into NaN).
    return {name: np.array(values, dtype=object) for name, values in columns.items()}


def archive_relation(root: Path) -> str:
    """DuckDB SQL for the archive under ``root`` (an empty relation of the same shape if none)."""
    files = sorted((root / "events").glob("*/*.parquet"))
    if not files and (root / "events.old").is_dir():
        root = root / "events.old"
        files = sorted(root.glob("*/*.parquet"))
        pattern = root / "*" / "*.parquet"
    else:
        pattern = root / "events" / "*" / "*.parquet"
    if not files:
        return (
            "SELECT "
            + ", ".join(
                f"CAST(NULL AS {_DUCKDB_TYPES[t]}) AS {n}" for n, t in (*COLUMNS, PARTITION)
            )
            + " WHERE FALSE"
        )
    return f"SELECT * FROM read_parquet('{_quoted(pattern)}', hive_partitioning = true)"


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
