"""The nightly aggregates: the Python path against the SQL on DuckDB, and what events cost.

Full Online Retail (536k events). Each engine runs in a fresh process so its peak memory is its
own: *python* holds every event in memory (what ``nightly_refresh`` does after scanning the log)
and runs ``compute_aggregates``; *duckdb* runs ``aggregates.sql`` over the local Parquet archive.
Also measured, per event: the DynamoDB item and archive sizes, the CPU to turn stream records
into archive rows and JSON (the archive function's work) and to write the local archive.

Run: ``python -m bench.aggregates [--events FILE] [--no-write]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._report import machine_line, write_section

ONLINE_RETAIL = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "online_retail"
    / "online_retail.csv.gz"
)


def _events(path: Path) -> list[Any]:
    from recsys.datasets.retail_events import read_retail_events
    from recsys.events.models import validate_events

    logged, _ = validate_events(list(read_retail_events(path)), now=2e9)
    return logged


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(engine: str, path: Path, archive: Path) -> dict[str, Any]:
    from recsys.aggregates.compute import compute_aggregates
    from recsys.aggregates.sql import SqlParams, run_duckdb, to_result
    from recsys.profiles.point import to_profile_event

    base = _peak_mb()
    if engine == "python":
        events = [to_profile_event(e) for e in _events(path)]
        cpu0, t0 = time.process_time(), time.perf_counter()
        agg = compute_aggregates(events, now=max(e.at for e in events), catalog_categories={})
    else:
        cpu0, t0 = time.process_time(), time.perf_counter()
        agg = to_result(run_duckdb(archive, SqlParams(wall=2e9)), catalog_categories={}).aggregates
    return {
        "engine": engine,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - cpu0,
        "peak_mb": _peak_mb(),
        "base_mb": base,
        "products": len(agg.popularity_scores),
        "neighbours": len(agg.neighbours),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, default=ONLINE_RETAIL)
    parser.add_argument("--child", default="")
    parser.add_argument("--archive", type=Path)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.events, args.archive)))
        return 0

    from recsys.events.archive import rows_from_stream, write_snapshot
    from recsys.events.items import to_item

    started = time.perf_counter()
    header = machine_line()
    events = _events(args.events)
    n = len(events)
    items = [to_item(ev, expires_at=2_000_000_000) for ev in events]
    # DynamoDB's item size: attribute names plus values (numbers ~ their digits / 2 + 1).
    item_bytes = sum(
        len(k) + sum(len(str(v)) for v in attr.values()) for it in items for k, attr in it.items()
    )
    records = [
        {
            "eventName": "INSERT",
            "dynamodb": {
                "Keys": {"pk": it["pk"], "sk": it["sk"]},
                "SequenceNumber": str(i),
                "NewImage": it,
            },
        }
        for i, it in enumerate(items)
    ]
    cpu0 = time.process_time()
    rows = rows_from_stream(records)
    payload = sum(len(json.dumps(r, separators=(",", ":"))) + 1 for r in rows)
    stream_cpu = time.process_time() - cpu0
    del records, rows
    out: dict[str, Any] = {"events": n, "item_bytes": item_bytes / n, "json_bytes": payload / n}
    with tempfile.TemporaryDirectory(prefix="bench-agg-") as tmp:
        archive = Path(tmp)
        cpu0, t0 = time.process_time(), time.perf_counter()
        write_snapshot(events, archive)
        out["snapshot_s"], out["snapshot_cpu_s"] = (
            time.perf_counter() - t0,
            time.process_time() - cpu0,
        )
        parquet = sum(f.stat().st_size for f in (archive / "events").rglob("*.parquet"))
        out["parquet_bytes"] = parquet / n
        del events, items
        runs = []
        for engine in ("python", "duckdb", "python", "duckdb"):
            cmd = [sys.executable, "-m", "bench.aggregates", "--child", engine]
            cmd += ["--events", str(args.events), "--archive", str(archive)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(runs[-1]), flush=True)
    out["stream_cpu_s_per_m"] = stream_cpu / n * 1e6
    best = {
        e: min((r for r in runs if r["engine"] == e), key=lambda r: r["wall_s"])
        for e in ("python", "duckdb")
    }
    out["runs"] = runs
    print(json.dumps(out))
    per_m = 1e6 / n
    lines = [
        "## nightly aggregates: Python vs. DuckDB SQL, and the cost of an event",
        "",
        f"`bench/aggregates.py` · {header} · whole run {time.perf_counter() - started:.0f} s · "
        f"load average {os.getloadavg()[0]:.1f} at the end (other work shared the 2 cores).",
        "",
        f"Full Online Retail: {n:,} events, {best['python']['products']:,} products, "
        f"{best['python']['neighbours']:,} with co-purchase neighbours. Each engine in a fresh "
        "process, best of 2; *python* = `compute_aggregates` over the events held in memory (its "
        "peak includes holding them, as the nightly Lambda does after scanning the log); "
        "*duckdb* = `aggregates.sql` over the local Parquet archive (all threads).",
        "",
        "| engine | wall | CPU | peak RSS | per million events: CPU | peak RSS |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for e, r in best.items():
        lines.append(
            f"| {e} | {r['wall_s']:.1f} s | {r['cpu_s']:.1f} s | {r['peak_mb']:,.0f} MB "
            f"| {r['cpu_s'] * per_m:.1f} CPU-s | {r['peak_mb'] * per_m:,.0f} MB |"
        )
    lines += [
        "",
        "Per event (measured on the same events):",
        "",
        f"- DynamoDB item (names + values, what on-demand writes are billed on): "
        f"{out['item_bytes']:.0f} B → 1 write unit per event (≤ 1 KB);",
        f"- archive row as JSON (what Firehose ingests): {out['json_bytes']:.0f} B; in Parquet "
        f"(zstd, by day): {out['parquet_bytes']:.1f} B;",
        f"- stream record → archive row → JSON (the archive function's work): "
        f"{out['stream_cpu_s_per_m']:.1f} CPU-s per million events;",
        f"- writing the local archive (snapshot of all events): {out['snapshot_s']:.1f} s "
        f"({out['snapshot_cpu_s'] * per_m:.1f} CPU-s per million events).",
        "",
        "Runs: "
        + "; ".join(f"{r['engine']} {r['wall_s']:.1f} s / {r['peak_mb']:,.0f} MB" for r in runs)
        + ".",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("aggregates", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
