"""``recsys ingest FILE``: a catalog file through ingest, embedded here or queued."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from recsys.catalog.ingest import IngestResult, ingest_numbered
from recsys.catalog.messages import EmbedQueue
from recsys.catalog.readers import read_catalog
from recsys.catalog.schema import NumberedRow, Rejection
from recsys.core.config import Settings
from recsys.core.errors import ValidationError
from recsys.store import ensure_collections
from recsys.store.base import VectorStore


def _numbered_source(path: Path, fmt: str) -> tuple[Iterable[NumberedRow], int | None]:
    if fmt == "online-retail":
        from recsys.datasets.online_retail import load_catalog

        try:
            rows = load_catalog(path)
        except KeyError as exc:
            raise ValidationError(
                f"{path}: not the Online Retail table (no column {exc}); a catalog file is "
                "JSON Lines or CSV with the catalog columns (--format jsonl|csv)"
            ) from exc
        return enumerate(rows, start=1), len(rows)
    return read_catalog(path, fmt=None if fmt == "auto" else fmt), None  # type: ignore[arg-type]


def ingest_file(
    path: Path,
    *,
    fmt: str = "auto",
    store: VectorStore,
    queue: EmbedQueue,
    settings: Settings,
    progress: bool = True,
) -> IngestResult:
    """Ingest a catalog file (``fmt``: auto | jsonl | csv | online-retail) with a progress bar."""
    from tqdm import tqdm

    rows, total = _numbered_source(path, fmt)
    ensure_collections(store, settings)
    with tqdm(
        total=total, unit="rows", desc=f"ingest {path.name}", file=sys.stderr, disable=not progress
    ) as bar:
        return ingest_numbered(
            rows, store=store, queue=queue, settings=settings, progress=bar.update
        )


def _write_rejects(path: Path, rejected: Sequence[Rejection]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for r in rejected:
            fh.write(json.dumps(r.as_dict(position="row"), ensure_ascii=False) + "\n")


#: Rows per request to a running stack, and the body size kept under its 4 MB cap.
_STACK_ROWS = 500
_STACK_BODY_BYTES = 3_500_000


def _send_to_stack(args: argparse.Namespace) -> int:
    """POST the file's rows to a running stack's ``/products`` in batches under its body cap
    (the stack validates them again and queues the changed ones for embedding)."""
    from tqdm import tqdm

    from recsys.cli._console import post_batches

    rows, total = _numbered_source(args.file, args.format)
    unreadable = 0

    def readable() -> Iterator[tuple[int, Mapping[str, Any]]]:
        nonlocal unreadable
        for number, row in rows:
            if isinstance(row, Rejection):  # unreadable before validation (bad CSV line)
                unreadable += 1
                print(f"  row {number}: {row.field}: {row.reason}")
            else:
                yield number, row

    with tqdm(total=total, unit="rows", desc=f"ingest {args.file.name}", file=sys.stderr) as bar:
        counts = post_batches(
            args.api_url.rstrip("/") + "/products",
            "products",
            readable(),
            counted=("accepted", "unchanged"),
            max_items=_STACK_ROWS,
            max_bytes=_STACK_BODY_BYTES,
            progress=bar.update,
        )
    print(
        f"{args.file.name}: {counts['accepted']} accepted (queued by {args.api_url}), "
        f"{counts['unchanged']} unchanged, {counts['rejected'] + unreadable} rejected"
    )
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``recsys ingest`` options."""
    parser.add_argument("file", type=Path, help="JSON Lines or CSV with a header (.gz too)")
    parser.add_argument(
        "--format", choices=["auto", "jsonl", "csv", "online-retail"], default="auto"
    )
    parser.add_argument("--rejects", type=Path, default=None, help="write rejected rows here")


def cli_ingest(args: argparse.Namespace) -> int:
    """``recsys ingest FILE [--format auto|jsonl|csv|online-retail] [--rejects PATH]``.

    Without ``RECSYS_EMBED_QUEUE_URL`` products are embedded in this process (the encoder on a
    worker thread, overlapping reading, validation and writes) and the store is searchable
    when the command returns; with it they are sent to the embed
    queue for the embed function (or the local runtime) to pick up. Rejected rows go to
    ``--rejects`` (default ``<data_dir>/rejects/<file>.rejects.jsonl``), one JSON object per row
    with row, field and reason. The store is closed (flushed) at the end: this is a
    whole-process command.
    """
    from recsys.cli._console import target

    path: Path = args.file
    if not path.is_file():
        raise FileNotFoundError(2, "no such file", str(path))
    if target(args) == "api":
        return _send_to_stack(args)
    from recsys.catalog.embed import DirectEmbedQueue, Embedder
    from recsys.services import Services

    services = Services()
    settings = services.settings
    store = services.store
    queue: EmbedQueue
    if settings.embed_queue_url:
        queue = services.embed_queue
        where = f"queued on {settings.embed_queue_url}"
    else:
        # Encoder on a worker thread, everything else here (docs/BENCHMARKS.md, "ingest").
        queue = DirectEmbedQueue(Embedder.from_services(services), background=True)
        where = f"embedded into {settings.data_dir}"
    try:
        result = ingest_file(path, fmt=args.format, store=store, queue=queue, settings=settings)
        if result.accepted and isinstance(queue, DirectEmbedQueue):
            # The store decides whether the load is big enough to build its ANN index now.
            store.optimize()
    except ValidationError as exc:
        print(f"recsys ingest: {exc}", file=sys.stderr)
        return 2
    finally:
        if isinstance(queue, DirectEmbedQueue):
            queue.close()
        services.close()
    print(
        f"{path.name}: {result.accepted} accepted ({where}), {result.unchanged} unchanged, "
        f"{len(result.rejected)} rejected"
    )
    if result.rejected:
        rejects: Path = args.rejects or settings.data_dir / "rejects" / f"{path.name}.rejects.jsonl"
        _write_rejects(rejects, result.rejected)
        for r in result.rejected[:5]:
            print(f"  row {r.row}: {r.field}: {r.reason}")
        print(f"rejected rows with reasons: {rejects}")
    return 0
