"""Catalog ingest throughput, file to searchable, against the bare encoder on the same texts.

    .venv/bin/python -m bench.ingest [--products 0] [--repeats 2]

Writes the "ingest" section of docs/BENCHMARKS.md. The catalog is the Online Retail products
(≈3.8k, written once as a JSON Lines file); the pipeline path is what ``recsys ingest`` does
without a queue URL: stream the file, validate, hash, look up stored hashes, embed in-process
(``DirectEmbedQueue``), upsert into a fresh qdrant-edge store. The bare encoder encodes the
same ``product_text`` strings in one call. Runs alternate (encoder, pipeline, encoder, …) so
both see the same machine load; the best run of each is compared. ``optimize()`` (HNSW build)
is timed separately: exact search works before it, so products are searchable without it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._report import machine_line, write_section

ROOT = Path(__file__).resolve().parents[1]
RETAIL = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"


def _pipeline_run(catalog: Path, data_dir: Path, *, background: bool) -> dict[str, float]:
    from recsys.catalog import read_catalog
    from recsys.config import Settings
    from recsys.encoder import get_encoder
    from recsys.pipeline.embed import Embedder
    from recsys.pipeline.ingest import ingest_numbered
    from recsys.pipeline.queue import DirectEmbedQueue
    from recsys.store import open_store

    settings = Settings(data_dir=data_dir)
    encoder = get_encoder(settings)  # loaded before timing: a process loads it once
    start = time.perf_counter()
    store = open_store(settings)
    embedder = Embedder(encoder=encoder, store=store, settings=settings)  # creates the shard
    open_s = time.perf_counter() - start
    queue = DirectEmbedQueue(embedder, background=background)
    try:
        start = time.perf_counter()
        result = ingest_numbered(read_catalog(catalog), store=store, queue=queue, settings=settings)
        ingest_s = time.perf_counter() - start
        count = store.count(settings.products_collection)
        start = time.perf_counter()
        store.optimize()
        optimize_s = time.perf_counter() - start
        # Unchanged re-ingest: the hash skip path, no encoder involved.
        start = time.perf_counter()
        again = ingest_numbered(read_catalog(catalog), store=store, queue=queue, settings=settings)
        reingest_s = time.perf_counter() - start
    finally:
        queue.close()
        store.close()
    assert result.accepted == count and again.unchanged == count, (result, again, count)
    return {
        "n": count,
        "open_s": open_s,
        "ingest_s": ingest_s,
        "optimize_s": optimize_s,
        "reingest_s": reingest_s,
    }


def _encoder_run(texts: list[str]) -> float:
    from recsys.encoder import get_encoder

    encoder = get_encoder()
    start = time.perf_counter()
    encoder.encode(texts)
    return time.perf_counter() - start


def _best(runs: list[dict[str, float]]) -> dict[str, float]:
    return min(runs, key=lambda r: r["ingest_s"])


def run(*, products: int, repeats: int) -> str:
    """Measure and return the markdown section."""
    from recsys.catalog import validate_rows
    from recsys.datasets.online_retail import load_catalog
    from recsys.encoder import get_encoder

    rows: list[dict[str, Any]] = load_catalog(RETAIL)
    if products:
        rows = rows[:products]
    valid, _ = validate_rows(rows)
    texts = [p.text for p in valid]
    get_encoder().encode(texts[:64])  # warm the session (first-run allocations)
    serial: list[dict[str, float]] = []
    overlapped: list[dict[str, float]] = []
    bare: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        catalog = Path(tmp) / "catalog.jsonl"
        catalog.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        for i in range(repeats):
            bare.append(_encoder_run(texts))
            overlapped.append(_pipeline_run(catalog, Path(tmp) / f"o{i}", background=True))
            serial.append(_pipeline_run(catalog, Path(tmp) / f"s{i}", background=False))
    n = len(texts)
    enc = min(bare)
    ovl, ser = _best(overlapped), _best(serial)
    ratio_ovl, ratio_ser = ovl["ingest_s"] / enc, ser["ingest_s"] / enc

    def times(runs: list[float]) -> str:
        return ", ".join(f"{t:.2f}" for t in runs)

    def row(name: str, seconds: float, ratio: str = "—") -> str:
        return f"| {name} | {seconds:.2f} s | {n / seconds:,.0f} | {ratio} |"

    lines = [
        "## ingest",
        "",
        f"{machine_line()} · `python -m bench.ingest --repeats {repeats}`",
        "",
        f"Online Retail catalog: {n} products (titles of ≈ 30 characters) written as JSON Lines. "
        "Pipeline = stream the file → validate → content hash → look up stored hashes in the "
        "store → embed in-process → upsert into a fresh qdrant-edge store: the `recsys ingest` "
        "path without a queue URL. Products are searchable (exact search) when it returns. "
        "Bare encoder = `TextEncoder.encode` on the same texts in one call, 1 ONNX thread (the "
        "default) in both. Overlapped = embedding on one worker thread while the main thread "
        "reads and validates the next chunk (what `recsys ingest` does); serial = one thread. "
        f"Best of {repeats} alternating runs each.",
        "",
        "| measure | time | products/s | / bare encoder |",
        "| --- | ---: | ---: | ---: |",
        row("bare encoder", enc),
        row("pipeline, file → searchable, overlapped", ovl["ingest_s"], f"**{ratio_ovl:.2f}**"),
        row("pipeline, file → searchable, serial", ser["ingest_s"], f"{ratio_ser:.2f}"),
        row("re-ingest, all unchanged (hash skip, no encoding)", ovl["reingest_s"]),
        f"| open store + create collection (once per process) | {ovl['open_s']:.2f} s | — | — |",
        f"| optimize() after the load (the store's call) | {ovl['optimize_s']:.2f} s | — | — |",
        "",
        f"Pipeline overhead over the bare encoder: **{100 * (ratio_ovl - 1):.0f} %** overlapped, "
        f"{100 * (ratio_ser - 1):.0f} % serial (target ≤ 20 %). Runs (s): encoder "
        f"{times(bare)}; overlapped {times([r['ingest_s'] for r in overlapped])}; serial "
        f"{times([r['ingest_s'] for r in serial])}. The machine has 2 cores shared with other "
        "work, so runs vary by 10-30 %; the overlapped path needs the second core to hide "
        "validation and upserts behind encoding. The serial overhead is mostly the store's "
        "upsert and per-row validation (≈ 0.6 ms per product, profiled).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=0, help="first N products (0 = all)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    section = run(products=args.products, repeats=args.repeats)
    write_section("ingest", section)
    print(section)


if __name__ == "__main__":
    main()
