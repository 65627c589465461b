"""Catalog ingest throughput, file to searchable, against the bare encoder on the same texts.

    .venv/bin/python -m bench.ingest [--products 0] [--repeats 2]

Writes the "ingest" section of docs/BENCHMARKS.md. The catalog is the Online Retail products
(≈3.8k, written once as a JSON Lines file); the pipeline path is what ``recsys ingest`` does
without a queue URL: stream the file, validate, hash, look up stored hashes, embed in-process
(``DirectEmbedQueue``), upsert into a fresh qdrant-edge store. The bare encoder encodes the
same ``product_text`` strings in one call. Products carry a second encoder's vector by default
(``RECSYS_SECOND_ENCODER=auto``, when its model is installed): the pipeline runs once with the
primary encoder alone (``none``) and once with both, each against the bare encoder(s) it runs —
with both, the bare time is the primary over the product texts plus the second over the text
its vector embeds (the titles, for the multilingual one). Runs alternate within a round so all
see the same machine load. ``optimize()`` (HNSW build) is timed separately: exact search works
before it, so products are searchable without it.
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
#: The overhead target: the pipeline within 20 % of the bare encoder(s), wall time.
TARGET = 1.20


def _pipeline_run(
    catalog: Path, data_dir: Path, *, background: bool, second: str
) -> dict[str, float]:
    from recsys.catalog.embed import DirectEmbedQueue, Embedder
    from recsys.catalog.ingest import ingest_numbered
    from recsys.catalog.readers import read_catalog
    from recsys.core.config import Settings
    from recsys.encoder import get_encoder
    from recsys.store import open_store

    settings = Settings(data_dir=data_dir, second_encoder=second)
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


def _encoder_run(jobs: list[tuple[Any, list[str]]]) -> tuple[float, float]:
    """Wall and CPU seconds of each (encoder, texts) job's one ``encode`` call, one after
    the other."""
    start, cpu = time.perf_counter(), time.process_time()
    for encoder, texts in jobs:
        encoder.encode(texts)
    return time.perf_counter() - start, time.process_time() - cpu


def _second_encoder(products: list[Any]) -> tuple[str, Any, list[str]] | None:
    """The second encoder products carry by default (``RECSYS_SECOND_ENCODER=auto``): its
    space id, encoder and the texts it embeds (the text its space id names); None when its
    model is not installed here."""
    from recsys.catalog.text import vector_text
    from recsys.core.config import Settings
    from recsys.encoder import get_encoder
    from recsys.store.space_ids import second_space, space_text
    from recsys.store.spaces import installed, second_model_for

    settings = Settings(second_encoder="auto")
    model = second_model_for(settings)
    folder = installed(model) if model else None
    if model is None or folder is None:
        return None
    space = second_space(model)
    encoder = get_encoder(settings.model_copy(update={"model_dir": folder}))
    return space, encoder, [vector_text(space_text(space), p.payload) for p in products]


def _best(runs: list[dict[str, float]]) -> dict[str, float]:
    return min(runs, key=lambda r: r["ingest_s"])


#: RECSYS_SECOND_ENCODER of the pipeline runs: the primary encoder alone, or both.
SECOND_SETTING = {"primary": "none", "both": "auto"}


def _rounds(
    rows: list[dict[str, Any]], jobs: dict[str, list[tuple[Any, list[str]]]], repeats: int
) -> tuple[
    dict[str, list[tuple[float, float]]],
    dict[str, list[dict[str, float]]],
    dict[str, list[dict[str, float]]],
]:
    """``repeats`` rounds of (bare, overlapped, serial) per configuration of ``jobs``."""
    bare: dict[str, list[tuple[float, float]]] = {k: [] for k in jobs}
    overlapped: dict[str, list[dict[str, float]]] = {k: [] for k in jobs}
    serial: dict[str, list[dict[str, float]]] = {k: [] for k in jobs}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        catalog = Path(tmp) / "catalog.jsonl"
        catalog.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        for i in range(repeats):
            for kind in jobs:
                bare[kind].append(_encoder_run(jobs[kind]))
                for runs, tag, background in ((overlapped, "o", True), (serial, "s", False)):
                    runs[kind].append(
                        _pipeline_run(
                            catalog,
                            Path(tmp) / f"{kind}-{tag}{i}",
                            background=background,
                            second=SECOND_SETTING[kind],
                        )
                    )
    return bare, overlapped, serial


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
    primary = get_encoder()
    second = _second_encoder(valid)
    jobs = {"primary": [(primary, texts)]}
    if second is not None:
        jobs["both"] = [(primary, texts), (second[1], second[2])]
    for job in jobs["both" if second is not None else "primary"]:
        job[0].encode(job[1][:64])  # warm the sessions (first-run allocations)
    load_before = os.getloadavg()[0]
    bare, overlapped, serial = _rounds(rows, jobs, repeats)
    load_after = os.getloadavg()[0]
    n = len(texts)

    # Ratios within each round (encoder, overlapped, serial run back to back), then the median
    # over rounds: load that changes between rounds cancels out, unlike best-of-each.
    def median_ratio(kind: str, runs: list[dict[str, float]], key: str, which: int) -> float:
        return statistics.median(
            r[key] / enc[which] for r, enc in zip(runs, bare[kind], strict=True)
        )

    def times(runs: list[float]) -> str:
        return ", ".join(f"{t:.2f}" for t in runs)

    def row(name: str, wall: float, cpu: str = "—", ratio: str = "—") -> str:
        return f"| {name} | {wall:.2f} s | {cpu} | {n / wall:,.0f} | {ratio} |"

    label = {"primary": "primary encoder alone", "both": "both encoders"}
    table: list[str] = []
    overhead: list[str] = []
    runs_line: list[str] = []
    spread = 0.0
    for kind in jobs:
        enc_wall = min(w for w, _ in bare[kind])
        enc_cpu = min(c for _, c in bare[kind])
        ovl, ser = _best(overlapped[kind]), _best(serial[kind])
        ovl_cpu = min(r["ingest_cpu"] for r in overlapped[kind])
        ser_cpu = min(r["ingest_cpu"] for r in serial[kind])
        ratio_ovl = median_ratio(kind, overlapped[kind], "ingest_s", 0)
        ratio_ser = median_ratio(kind, serial[kind], "ingest_s", 0)
        ratio_ovl_cpu = median_ratio(kind, overlapped[kind], "ingest_cpu", 1)
        ratio_cpu = median_ratio(kind, serial[kind], "ingest_cpu", 1)
        bare_name = "bare encoder" if kind == "primary" else "bare encoders (primary + second)"
        table += [
            row(f"{bare_name}", enc_wall, f"{enc_cpu:.2f} s"),
            row(
                f"pipeline, {label[kind]}, overlapped",
                ovl["ingest_s"],
                f"{ovl_cpu:.2f} s",
                f"**{ratio_ovl:.2f}**; {ratio_ovl_cpu:.2f}",
            ),
            row(
                f"pipeline, {label[kind]}, serial",
                ser["ingest_s"],
                f"{ser_cpu:.2f} s",
                f"{ratio_ser:.2f}; {ratio_cpu:.2f}",
            ),
        ]
        verdict = "met" if ratio_ovl <= TARGET else "not met"
        overhead.append(
            f"{label[kind]}: **{100 * (ratio_ovl - 1):.0f} % overlapped** ({verdict}), "
            f"{100 * (ratio_ser - 1):.0f} % serial, "
            f"{100 * (ratio_cpu - 1):.0f} % more CPU than the bare encoder(s) (serial)"
        )
        for series in (
            [w for w, _ in bare[kind]],
            [r["ingest_s"] for r in overlapped[kind]],
            [r["ingest_s"] for r in serial[kind]],
        ):
            spread = max(spread, max(series) / min(series) - 1)
        runs_line.append(
            f"{label[kind]}: bare {times([w for w, _ in bare[kind]])}; overlapped "
            f"{times([r['ingest_s'] for r in overlapped[kind]])}; serial "
            f"{times([r['ingest_s'] for r in serial[kind]])}"
        )
    last = "both" if second is not None else "primary"
    ovl = _best(overlapped[last])
    if second is not None:
        carried = (
            f"Products carry a second encoder's vector by default (`RECSYS_SECOND_ENCODER=auto`, "
            f"`text__{second[0]}`: the multilingual encoder over the titles alone, beside "
            "MiniLM's over title + category), so the pipeline is measured with the primary "
            "encoder alone (`RECSYS_SECOND_ENCODER=none`) and with both (the default); each is "
            "compared with the bare encoder(s) it runs: with both, the primary's `encode` on the "
            "product texts followed by the second's on the titles. "
        )
        speed = (
            f"Both encoders cost {n / min(w for w, _ in bare['both']):,.0f} products/s bare "
            f"against {n / min(w for w, _ in bare['primary']):,.0f} with the primary alone, "
            f"the pipeline {n / _best(overlapped['both'])['ingest_s']:,.0f} against "
            f"{n / _best(overlapped['primary'])['ingest_s']:,.0f} (overlapped). "
        )
    else:
        carried = "The second encoder's model is not installed here: the primary encoder only. "
        speed = ""
    lines = [
        "## ingest",
        "",
        f"{machine_line()} · `python -m bench.ingest --repeats {repeats}`",
        "",
        f"Online Retail catalog: {n} products (product texts — title and category — of "
        f"≈ {statistics.mean(len(t) for t in texts):.0f} characters) written as JSON Lines. "
        "Pipeline = stream the file → validate → content hash → look up stored hashes in the "
        "store → embed in-process → upsert into a fresh qdrant-edge store: the `recsys ingest` "
        "path without a queue URL. Products are searchable (exact search) when it returns. "
        f"{carried}"
        "Bare encoder = `TextEncoder.encode` on the same texts in one call, 1 ONNX thread (the "
        "default) in both. Overlapped = only the encoder(s) on a worker thread while the main "
        "thread reads, validates and writes the other chunks (what `recsys ingest` does); "
        "serial = all on one thread. "
        f"{repeats} rounds of (bare, overlapped, serial) per configuration back to back; times "
        "are the best of each, ratios the median over rounds of the ratio within a round. "
        "CPU = process CPU time (all threads), which other work on the machine disturbs much "
        "less than wall time.",
        "",
        "| measure | wall | CPU | products/s (wall) | / bare encoder(s) (wall; CPU) |",
        "| --- | ---: | ---: | ---: | ---: |",
        *table,
        row("re-ingest, all unchanged (hash skip, no encoding)", ovl["reingest_s"]),
        f"| open store + create collection (once per process) | {ovl['open_s']:.2f} s "
        "| — | — | — |",
        f"| optimize() after the load (the store's call) | {ovl['optimize_s']:.2f} s | — | — | — |",
        "",
        "Pipeline overhead over the bare encoder(s) in wall time (target ≤ 20 %; overlapped is "
        f"the CLI's path): {'; '.join(overhead)}. {speed}"
        f"Wall runs (s): {'; '.join(runs_line)}. The machine has 2 cores shared with other "
        f"work (1-min load average {load_before:.1f} before, {load_after:.1f} after the runs), "
        f"so wall runs of the same measure differ by up to {100 * spread:.0f} % here; "
        "overlapping pays only while the second core is free. Products/s are this machine's "
        "under its load: compare the ratios, not the rates, with other runs. Outside the "
        "encoder the time goes mostly to the store's upsert and to per-row validation and "
        "hashing (profiled on 2026-11-23 at 1,000 products: ≈ 0.2 ms and ≈ 0.1 ms per "
        "product).",
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
