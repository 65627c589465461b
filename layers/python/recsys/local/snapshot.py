"""Keep the emulated event log and bucket across runs of the local stack.

moto keeps everything in memory, so on shutdown the event table and the catalog bucket are
written under ``<data_dir>/local-aws/`` and loaded back into the fresh emulator at the next
start. Queues are not kept: the stack drains them before it saves (see runtime).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

_BATCH = 25  # BatchWriteItem's limit


def save_table(ddb: Any, table: str, path: Path) -> int:
    """Write every item of ``table`` (DynamoDB JSON, one per line) to ``path``; returns count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    count = 0
    with gzip.open(tmp, "wt", encoding="utf-8") as fh:
        for page in ddb.get_paginator("scan").paginate(TableName=table):
            for item in page.get("Items", []):
                fh.write(json.dumps(item, separators=(",", ":")) + "\n")
                count += 1
    tmp.replace(path)
    return count


def load_table(
    ddb: Any, table: str, path: Path, *, progress: Callable[[int], None] | None = None
) -> int:
    """Put back what :func:`save_table` wrote; returns the number of items."""
    if not path.is_file():
        return 0
    count = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        request: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in batch]}
        while request:
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        if progress is not None:
            progress(len(batch))
        batch.clear()

    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            batch.append(json.loads(line))
            count += 1
            if len(batch) == _BATCH:
                flush()
    if batch:
        flush()
    return count


def save_bucket(s3: Any, bucket: str, folder: Path) -> int:
    """Copy every object of ``bucket`` under ``folder`` (keys become relative paths)."""
    count = 0
    keep: set[Path] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            target = folder / obj["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            keep.add(target)
            count += 1
    if folder.is_dir():
        for stale in folder.rglob("*"):
            if stale.is_file() and stale not in keep:
                stale.unlink()
    return count


def load_bucket(s3: Any, bucket: str, folder: Path) -> int:
    """Upload what :func:`save_bucket` wrote back into ``bucket``."""
    if not folder.is_dir():
        return 0
    count = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            s3.put_object(
                Bucket=bucket, Key=path.relative_to(folder).as_posix(), Body=path.read_bytes()
            )
            count += 1
    return count


def restore_snapshots(
    ddb: Any, s3: Any, *, tables: Mapping[str, str], buckets: Mapping[str, str], folder: Path
) -> tuple[int, int]:
    """Load the saved tables (logical id → table name) and buckets back; (items, objects).

    A table snapshot is used once: it is set aside after loading, so that if this run's save
    fails, the next start cannot restore this older state (it may hold what was erased since).
    """
    items = objects = 0
    for logical_id, table in tables.items():
        saved = folder / f"{logical_id}.jsonl.gz"
        if not saved.is_file():
            continue
        items += load_table(ddb, table, saved)
        saved.replace(saved.with_name(saved.name + ".restored"))
    for logical_id, bucket in buckets.items():
        objects += load_bucket(s3, bucket, folder / logical_id)
    return items, objects


def save_snapshots(
    ddb: Any, s3: Any, *, tables: Mapping[str, str], buckets: Mapping[str, str], folder: Path
) -> tuple[int, int]:
    """Save the tables and buckets under ``folder``; (items, objects)."""
    items = sum(save_table(ddb, t, folder / f"{lid}.jsonl.gz") for lid, t in tables.items())
    objects = sum(save_bucket(s3, b, folder / lid) for lid, b in buckets.items())
    return items, objects
