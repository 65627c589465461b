"""Streaming catalog readers: JSON Lines and CSV (optionally gzip-compressed), from files or S3
bodies, one line at a time, so a catalog of any size is processed in constant memory. Each row
comes numbered (line number) or as the :class:`Rejection` saying why it could not be parsed."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal, cast

from recsys.catalog.schema import NumberedRow, Rejection
from recsys.core.errors import ValidationError

__all__ = [
    "CatalogFormat",
    "detect_format",
    "iter_csv",
    "iter_jsonl",
    "iter_s3_body",
    "open_text",
    "read_catalog",
]

CatalogFormat = Literal["jsonl", "csv"]


def iter_jsonl(lines: Iterable[str]) -> Iterator[NumberedRow]:
    """Rows of a JSON Lines stream, numbered by line (1-based); blank lines skipped."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, Rejection(row=number, field="row", reason=f"invalid JSON: {exc.msg}")
            continue
        if not isinstance(data, dict):
            yield (
                number,
                Rejection(
                    row=number,
                    field="row",
                    reason=f"expected a JSON object, got {type(data).__name__}",
                ),
            )
            continue
        yield number, data


def iter_csv(lines: Iterable[str]) -> Iterator[NumberedRow]:
    """Rows of a CSV stream with a header, numbered by line (header is line 1)."""
    reader = csv.DictReader(lines)
    for data in reader:
        number = reader.line_num
        overflow = data.pop(None, None)
        if overflow:
            yield (
                number,
                Rejection(
                    row=number,
                    field="row",
                    reason=f"{len(overflow)} more value(s) than the header has columns",
                    product_id=data.get("product_id") or None,
                ),
            )
            continue
        yield number, data


def detect_format(name: str) -> CatalogFormat:
    """``jsonl`` or ``csv`` from a file name (``.gz`` allowed), else a ValidationError."""
    lower = name.lower().removesuffix(".gz")
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lower.endswith(".csv"):
        return "csv"
    raise ValidationError(
        f"cannot tell the format of {name!r}: expected .jsonl, .ndjson, .json or .csv "
        "(optionally .gz)",
        field="format",
    )


def _rows(text: Iterable[str], fmt: CatalogFormat) -> Iterator[NumberedRow]:
    return iter_jsonl(text) if fmt == "jsonl" else iter_csv(text)


def open_text(path: Path) -> IO[str]:
    """A text stream over ``path``, gunzipped on the fly for ``.gz`` (caller closes it).

    ``utf-8-sig``: spreadsheets often prepend a BOM, which would corrupt the first header name.
    """
    gz = path.suffix == ".gz"
    raw = cast(IO[bytes], gzip.open(path, "rb")) if gz else path.open("rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def read_catalog(path: Path, *, fmt: CatalogFormat | None = None) -> Iterator[NumberedRow]:
    """Stream the rows of a catalog file (JSON Lines or CSV, gzip by ``.gz`` suffix)."""
    fmt = fmt or detect_format(path.name)
    with open_text(path) as text:
        yield from _rows(text, fmt)


def iter_s3_body(body: Any, *, key: str, fmt: CatalogFormat | None = None) -> Iterator[NumberedRow]:
    """Stream rows from an S3 ``StreamingBody`` (``.gz`` keys are decompressed on the fly)."""
    fmt = fmt or detect_format(key)
    if key.lower().endswith(".gz"):
        with (
            gzip.GzipFile(fileobj=body, mode="rb") as gz,
            io.TextIOWrapper(gz, encoding="utf-8-sig", newline="") as text,
        ):
            yield from _rows(text, fmt)
        return
    # iter_lines strips line ends; the CSV reader needs them back for quoted multi-line cells.
    decoded = codecs.iterdecode(body.iter_lines(), "utf-8-sig")
    yield from _rows((f"{line}\n" for line in decoded), fmt)
