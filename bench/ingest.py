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
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._report import machine_line, write_section

ROOT = Path(__file__).resolve().parents[1]
RETAIL = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"


def _pipeline_run(catalog: Path, data_dir: Path, *, background: bool) -> dict[str, float]:
    from recsys.catalog.embed import DirectEmbedQueue, Embedder
    from recsys.catalog.ingest import ingest_numbered
    from recsys.catalog.readers import read_catalog
    from recsys.core.config import Settings
    from recsys.encoder import get_encoder
    from recsys.store import open_store

    settings = Settings(data_dir=data_dir)
    encoder = get_encoder(settings)  # loaded before timing: a process loads it once
    start = time.perf_counter()
    store = open_store(settings)
    embedder = Embedder(encoder=encoder, store=store, settings=settings)  # creates the shard
    open_s = time.perf_counter() - start
    queue = DirectEmbedQueue(embedder, background=background)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        result = ingest_numbered(read_catalog(catalog), store=store, queue=queue, settings=settings)
        ingest_s, ingest_cpu = time.perf_counter() - start, time.process_time() - cpu
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
        "ingest_cpu": ingest_cpu,
        "optimize_s": optimize_s,
        "reingest_s": reingest_s,
    }


def _encoder_run(texts: list[str]) -> tuple[float, float]:
    from recsys.encoder import get_encoder

    encoder = get_encoder()
    start, cpu = time.perf_counter(), time.process_time()
    encoder.encode(texts)
    return time.perf_counter() - start, time.process_time() - cpu


def _best(runs: list[dict[str, float]]) -> dict[str, float]:
    return min(runs, key=lambda r: r["ingest_s"])


def run(*, products: int, repeats: int) -> str:
    """Measure and return the markdown section."""
    from recsys.catalog.schema import validate_rows
    from recsys.datasets.online_retail import load_catalog
    from recsys.encoder import get_encoder

    rows: list[dict[str, Any]] = load_catalog(RETAIL)
    if products:
        rows = rows[:products]
    valid, _ = validate_rows(rows)
    texts = [p.text for p in valid]
    get_encoder().encode(texts[:64])  # warm the session (first-run allocations)
    load_before = os.getloadavg()[0]
    serial: list[dict[str, float]] = []
    overlapped: list[dict[str, float]] = []
    bare: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        catalog = Path(tmp) / "catalog.jsonl"
        catalog.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        for i in range(repeats):
            bare.append(_encoder_run(texts))
            overlapped.append(_pipeline_run(catalog, Path(tmp) / f"o{i}", background=True))
            serial.append(_pipeline_run(catalog, Path(tmp) / f"s{i}", background=False))
    load_after = os.getloadavg()[0]
    n = len(texts)
    enc_wall, enc_cpu = min(w for w, _ in bare), min(c for _, c in bare)
    ovl, ser = _best(overlapped), _best(serial)
    ser_cpu = min(r["ingest_cpu"] for r in serial)
    ovl_cpu = min(r["ingest_cpu"] for r in overlapped)

    # Ratios within each round (encoder, overlapped, serial run back to back), then the median
    # over rounds: load that changes between rounds cancels out, unlike best-of-each.
    def median_ratio(runs: list[dict[str, float]], key: str, which: int) -> float:
        return statistics.median(r[key] / enc[which] for r, enc in zip(runs, bare, strict=True))

    ratio_ser = median_ratio(serial, "ingest_s", 0)
    ratio_ovl = median_ratio(overlapped, "ingest_s", 0)
    ratio_cpu = median_ratio(serial, "ingest_cpu", 1)
    ratio_ovl_cpu = median_ratio(overlapped, "ingest_cpu", 1)

    def times(runs: list[float]) -> str:
        return ", ".join(f"{t:.2f}" for t in runs)

    def row(name: str, wall: float, cpu: str = "—", ratio: str = "—") -> str:
        return f"| {name} | {wall:.2f} s | {cpu} | {n / wall:,.0f} | {ratio} |"

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
        "default) in both. Overlapped = only the encoder on a worker thread while the main "
        "thread reads, validates and writes the other chunks (what `recsys ingest` does); "
        "serial = all on one thread. "
        f"{repeats} rounds of (encoder, overlapped, serial) back to back; times are the best "
        "of each, ratios the median over rounds of the ratio within a round. CPU = process CPU "
        "time (all threads), which other work on the machine disturbs much less than wall time.",
        "",
        "| measure | wall | CPU | products/s (wall) | / bare encoder (wall; CPU) |",
        "| --- | ---: | ---: | ---: | ---: |",
        row("bare encoder", enc_wall, f"{enc_cpu:.2f} s"),
        row(
            "pipeline, file → searchable, overlapped",
            ovl["ingest_s"],
            f"{ovl_cpu:.2f} s",
            f"**{ratio_ovl:.2f}**; {ratio_ovl_cpu:.2f}",
        ),
        row(
            "pipeline, file → searchable, serial",
            ser["ingest_s"],
            f"{ser_cpu:.2f} s",
            f"{ratio_ser:.2f}; {ratio_cpu:.2f}",
        ),
        row("re-ingest, all unchanged (hash skip, no encoding)", ovl["reingest_s"]),
        f"| open store + create collection (once per process) | {ovl['open_s']:.2f} s "
        "| — | — | — |",
        f"| optimize() after the load (the store's call) | {ovl['optimize_s']:.2f} s | — | — | — |",
        "",
        f"Pipeline overhead over the bare encoder in wall time: **{100 * (ratio_ovl - 1):.0f} % "
        f"overlapped** (the CLI's path), {100 * (ratio_ser - 1):.0f} % serial (target ≤ 20 %); "
        f"the work itself costs {100 * (ratio_cpu - 1):.0f} % more CPU than encoding alone "
        "(serial CPU / encoder CPU). Wall runs (s): encoder "
        f"{times([w for w, _ in bare])}; overlapped "
        f"{times([r['ingest_s'] for r in overlapped])}; serial "
        f"{times([r['ingest_s'] for r in serial])}. The machine has 2 cores shared with other "
        f"work (1-min load average {load_before:.1f} before, {load_after:.1f} after the runs), "
        "so wall runs vary by 10-40 %; overlapping pays only while the second core is free. "
        "Outside the encoder the time goes mostly to the store's upsert and to per-row "
        "validation and hashing (profiled at 1,000 products: ≈ 0.2 ms and ≈ 0.1 ms per product).",
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
