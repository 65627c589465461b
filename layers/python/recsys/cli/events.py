"""``recsys events FILE``: log a file of events, then update the affected profiles in-process."""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from recsys.core.errors import RecsysError
from recsys.events.intake import IntakeResult, log_events, profile_updates
from recsys.events.models import LoggedEvent, ProfileUpdate, Reject, Unparsable


def _open_text(path: Path) -> IO[str]:
    raw = path.open("rb")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8", newline="")
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")


def _detect_format(path: Path) -> str:
    with _open_text(path) as fh:
        head = fh.readline()
    if head.lstrip().startswith("{"):
        return "jsonl"
    if "InvoiceNo" in head and "StockCode" in head:
        return "online-retail"
    raise RecsysError(f"{path}: cannot tell the format (use --format jsonl|online-retail)")


def _jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    with _open_text(path) as fh:
        for line_no, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    yield line_no, json.loads(line)
                except json.JSONDecodeError as exc:
                    yield line_no, Unparsable(f"line {line_no}: not JSON ({exc.msg})")


def read_event_file(path: Path, *, fmt: str = "auto") -> Iterator[tuple[int, Any]]:
    """(row number, raw event) pairs from a JSON Lines file or the Online Retail CSV."""
    fmt = _detect_format(path) if fmt == "auto" else fmt
    if fmt == "jsonl":
        return _jsonl(path)
    from recsys.datasets.retail_events import read_retail_events

    return ((i, ev) for i, ev in enumerate(read_retail_events(path), start=1))


def _in_window(raw: Any, since: float | None, until: float | None) -> bool:
    if (since is None and until is None) or not isinstance(raw, Mapping):
        return True
    from recsys.events.models import _parse_timestamp

    try:
        ts = _parse_timestamp(raw.get("timestamp"))
    except ValueError:
        return True  # let validation report it
    return (since is None or ts >= since) and (until is None or ts < until)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``recsys events`` options."""
    parser.add_argument("file", type=Path, help="JSON Lines events, or the Online Retail table")
    parser.add_argument("--format", choices=["auto", "jsonl", "online-retail"], default="auto")
    parser.add_argument(
        "--since", default=None, type=_time_option, help="only events at or after this ISO time"
    )
    parser.add_argument(
        "--until", default=None, type=_time_option, help="only events before this ISO time"
    )
    parser.add_argument("--rejects", type=Path, default=None, help="write rejected events here")


def _time_option(text: str) -> float:
    """``--since`` / ``--until``: an ISO time or epoch seconds, checked when parsing options."""
    from recsys.events.models import _parse_timestamp

    try:
        return _parse_timestamp(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (give an ISO time like 2011-11-01 or 2011-11-01T08:00:00Z, "
            "or epoch seconds)"
        ) from None


def _windowed(args: argparse.Namespace) -> Iterator[tuple[int, Any]]:
    path: Path = args.file
    if not path.is_file():
        raise FileNotFoundError(2, "no such file", str(path))
    try:
        for row, raw in read_event_file(path, fmt=args.format):
            if _in_window(raw, args.since, args.until):
                yield row, raw
    except UnicodeDecodeError as exc:
        raise RecsysError(
            f"{path}: not UTF-8 text (byte offset {exc.start}): save it as UTF-8"
        ) from exc
    except KeyError as exc:
        raise RecsysError(
            f"{path}: not the Online Retail table (no column {exc}); a file of events is "
            "JSON Lines (--format jsonl)"
        ) from exc


def _send_to_stack(args: argparse.Namespace) -> int:
    """POST the file to a running stack's ``/events`` in batches under its body cap."""
    from tqdm import tqdm

    from recsys.cli._console import post_batches

    with tqdm(desc="events", unit="ev", file=sys.stderr) as bar:
        totals = post_batches(
            args.api_url.rstrip("/") + "/events",
            "events",
            _windowed(args),
            counted=("accepted", "duplicates"),
            max_items=_STACK_BATCH,
            max_bytes=_STACK_BODY_BYTES,
            progress=bar.update,
        )
    print(json.dumps(totals))
    return 0


#: Batches sent to a running stack: its default event batch and body caps, with room to spare.
_STACK_BATCH = 500
_STACK_BODY_BYTES = 60_000


def cli_events(args: argparse.Namespace) -> int:
    """``recsys events FILE``: log a file of events, then update the affected profiles.

    Against a running stack (``--api-url``) the file goes through ``POST /events`` and the
    profile queue, as a storefront's events do. On the embedded stores the profiles are
    updated in-process right after logging, a fast replay: each profile is built once (not
    once per request's queue message), and a first profile is built from the events just
    logged instead of reading them back.
    """
    from recsys.cli._console import target

    if target(args) == "api":
        return _send_to_stack(args)
    from tqdm import tqdm

    from recsys.profiles.service import catalog_mean, update_profiles
    from recsys.services import Services

    services = Services()
    settings = services.settings
    log = services.event_log
    totals = IntakeResult()
    owners: dict[str, ProfileUpdate] = {}
    history: dict[str, list[LoggedEvent]] = {}
    rejects_out = args.rejects.open("w", encoding="utf-8") if args.rejects else None
    started = time.perf_counter()
    batch: list[Any] = []
    rows: list[int] = []

    def flush() -> None:
        res = log_events(batch, log=log, queue=None, settings=settings)
        totals.accepted += res.accepted
        totals.duplicates += res.duplicates
        for rej in res.rejected:
            row_rej = Reject(rows[rej.index], rej.field, rej.reason)
            totals.rejected.append(row_rej)
            if rejects_out:
                rejects_out.write(json.dumps({"row": row_rej.index, **row_rej.as_dict()}) + "\n")
        for ev in res.written:
            history.setdefault(ev.owner, []).append(ev)
        for upd in profile_updates(res.written):
            prev = owners.get(upd.key)
            owners[upd.key] = (
                upd
                if prev is None
                else prev.model_copy(
                    update={"merge_from": sorted({*prev.merge_from, *upd.merge_from})}
                )
            )
        bar.update(len(batch))
        batch.clear()
        rows.clear()

    try:
        with tqdm(desc="events", unit="ev", file=sys.stderr) as bar:
            for row, raw in _windowed(args):
                batch.append(raw)
                rows.append(row)
                if len(batch) >= settings.events_max_batch:
                    flush()
            if batch:
                flush()
        logged_s = time.perf_counter() - started
        # The encoder of the store's space, which may not be the configured one yet.
        store, encoder = services.store, services.encoder
        center = catalog_mean(store, settings) if settings.profile_center_items else None
        updates = [u.model_copy(update={"rebuild": True}) for u in owners.values()]
        with tqdm(total=len(updates), desc="profiles", unit="profile", file=sys.stderr) as bar:
            for i in range(0, len(updates), 64):
                chunk = updates[i : i + 64]
                update_profiles(
                    chunk,
                    store=store,
                    log=log,
                    encoder=encoder,
                    settings=settings,
                    history=history,
                    center=center,
                )
                bar.update(len(chunk))
    finally:
        if rejects_out:
            rejects_out.close()
        services.close()
    print(
        json.dumps(
            {
                "accepted": totals.accepted,
                "duplicates": totals.duplicates,
                "rejected": len(totals.rejected),
                "profiles": len(owners),
                "log_seconds": round(logged_s, 1),
                "total_seconds": round(time.perf_counter() - started, 1),
            }
        )
    )
    return 0
