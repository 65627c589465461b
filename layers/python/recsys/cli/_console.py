"""What the CLI shows a person: where logs go, which stores a command uses, and one line per
mistake instead of a traceback."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

__all__ = ["configure_logging", "data_dir", "fail", "post_batches", "say", "target"]

_LOG_STREAMS: list[IO[str]] = []


def data_dir() -> Path:
    """The data directory the settings will use (the flag has set the environment already)."""
    return Path(os.environ.get("RECSYS_DATA_DIR") or ".recsys-data")


def say(command: str, message: str) -> None:
    """One line of human progress on stderr (stdout stays for results)."""
    print(f"recsys {command}: {message}", file=sys.stderr, flush=True)


def target(args: argparse.Namespace) -> str:
    """Say which stores a bulk command uses, and return ``"api"`` or ``"embedded"``."""
    if getattr(args, "api_url", None):
        say(args.command, f"sending to the running stack at {args.api_url}")
        return "api"
    say(args.command, f"embedded stores in {data_dir()} (no running stack; --api-url URL for one)")
    return "embedded"


def configure_logging(args: argparse.Namespace) -> None:
    """JSON log lines (Powertools) to ``<data-dir>/recsys.log``, or to stderr with
    ``--log-format json``; warnings of other libraries as plain lines on stderr."""
    from aws_lambda_powertools import Logger

    if args.log_format == "json":
        stream: IO[str] = sys.stderr
    else:
        path = data_dir() / "recsys.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        stream = path.open("a", encoding="utf-8")
        _LOG_STREAMS.append(stream)
    service = os.environ.get("POWERTOOLS_SERVICE_NAME", "recsys")
    std = logging.getLogger(service)
    if getattr(std, "init", False):
        # A module built its Logger first: point its handler at the chosen stream.
        for handler in std.handlers:
            if type(handler) is logging.StreamHandler:
                handler.setStream(stream)
    else:
        Logger(service=service, logger_handler=logging.StreamHandler(stream))
    std.propagate = False  # the JSON lines only; the terminal keeps the human progress
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _describe(exc: BaseException) -> str:
    from pydantic import ValidationError as PydanticValidationError

    from recsys.core.errors import RecsysError

    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename or exc}: no such file"
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename}: is a folder, give a file"
    if isinstance(exc, PermissionError):
        return f"{exc.filename}: permission denied"
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"the input is not UTF-8 text (byte {exc.object[exc.start : exc.start + 1]!r} at "
            f"offset {exc.start}): save it as UTF-8"
        )
    if isinstance(exc, PydanticValidationError):
        parts = []
        for err in exc.errors()[:3]:
            name = "_".join(str(p) for p in err["loc"]) or exc.title
            parts.append(f"RECSYS_{name.upper()}: {err['msg']}")
        return "bad setting: " + "; ".join(parts)
    text = str(exc)
    if "WouldBlock" in text or "Can't init WAL" in text:
        return (
            f"the data dir {data_dir()} is in use by another process (a running `recsys up`?): "
            "stop it, use another --data-dir, or send to it with --api-url URL"
        )
    if type(exc).__name__ in ("NoCredentialsError", "NoRegionError"):
        return (
            f"{text}: this command was pointed at AWS (RECSYS_AWS_* / queue settings); unset "
            "them to use the embedded stores, or pass --api-url URL for a running stack"
        )
    if isinstance(exc, RecsysError | ValueError | OSError):
        return text
    return f"unexpected {type(exc).__name__}: {text} (rerun with --debug for the traceback)"


def fail(command: str, exc: BaseException) -> int:
    """Print one line for ``exc``; 2 for a usage/input mistake, 1 for anything else."""
    from recsys.core.errors import RecsysError

    say(command, _describe(exc))
    known = isinstance(exc, RecsysError | OSError | ValueError)
    return 2 if known else 1


def close_logs() -> None:
    """Close the log file (tests running several commands in one process)."""
    for stream in _LOG_STREAMS:
        stream.close()
    _LOG_STREAMS.clear()


def http_json(method: str, url: str, body: Any = None, *, timeout_s: float = 60.0) -> Any:
    """One JSON request to a running stack (X-Api-Key from RECSYS_API_KEY when set)."""
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    key = os.environ.get("RECSYS_API_KEY")
    if key:
        req.add_header("X-Api-Key", key)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:300]
        raise ConnectionError(f"{method} {url}: HTTP {exc.code}: {detail}") from exc
    except urllib.error.URLError as exc:
        raise ConnectionError(
            f"no stack answers at {url} ({exc.reason}): start one with `recsys up`, or drop "
            "--api-url to use the embedded stores"
        ) from exc


def post_batches(
    url: str,
    key: str,
    items: Iterable[tuple[int, Any]],
    *,
    counted: tuple[str, ...],
    max_items: int,
    max_bytes: int,
    progress: Callable[[int], object],
) -> dict[str, int]:
    """POST ``(row, item)`` pairs to ``url`` as ``{key: [...]}`` batches under the stack's item
    and body caps; sums the reply's ``counted`` fields and ``rejected`` (printing the first
    five with their row numbers)."""
    totals = dict.fromkeys((*counted, "rejected"), 0)
    batch: list[Any] = []
    rows: list[int] = []
    size = 0

    def flush() -> None:
        reply = http_json("POST", url, {key: batch}, timeout_s=300)
        for name in counted:
            totals[name] += reply[name]
        for rej in reply["rejected"]:
            totals["rejected"] += 1
            if totals["rejected"] <= 5:
                print(f"  row {rows[rej['index']]}: {rej['field']}: {rej['reason']}")
        progress(len(batch))
        batch.clear()
        rows.clear()

    for row, item in items:
        item_bytes = len(json.dumps(item, default=str)) + 2
        if batch and (len(batch) >= max_items or size + item_bytes > max_bytes):
            flush()
            size = 0
        batch.append(item)
        rows.append(row)
        size += item_bytes
    if batch:
        flush()
    return totals
