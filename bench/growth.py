"""Growth: what the embedded engine costs as the catalog grows (10k, 100k, 1M products).

Per size, in a fresh process (so memory figures are that size's alone): synthetic products
(``bench.search.make_catalog``: clustered random 384-d unit vectors with shop-like payloads —
the encoder is not what is measured here, its throughput is the encoder section's), 2,000
synthetic profiles, then

- ingest: ``VectorStore.upsert`` of the products in chunks of 1,000 (store only; products/s);
- index build: ``optimize()`` (HNSW + int8 quantization) on the store's indexing threads;
- memory: the process's peak resident set after loading and after the build, and the store's
  size on disk;
- recommend: warm in-process Lambda handler (Mangum + FastAPI, API Gateway v2 events), cache
  off, after the build — personalised, personalised + category & price filter, similar items.

Run: ``python -m bench.growth [--sizes 10000,100000] [--requests 200] [--no-write]``; a size that
does not finish within ``--timeout`` seconds is reported as not run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._report import machine_line, write_section


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def measure(n: int, *, requests: int) -> dict[str, Any]:
    """One size, in this process."""
    import numpy as np

    from bench.recommend import (
        _aggregates,
        _event,
        _serving_handler,
        _time,
        _user_events,
        _users,
    )
    from bench.search import make_catalog
    from recsys.core.config import Settings
    from recsys.store import ensure_collections, open_store

    rng = np.random.default_rng(3)
    now = time.time()
    out: dict[str, Any] = {"n": n, "rss_start_mb": _rss_mb()}
    with tempfile.TemporaryDirectory(prefix="bench-growth-", dir=os.environ.get("TMPDIR")) as tmp:
        settings = Settings(
            data_dir=Path(tmp) / "data",
            cache_ttl_recommend_s=0,
            cache_ttl_similar_s=0,
            cache_ttl_trending_s=0,
        )
        cat = make_catalog(n)
        out["rss_catalog_mb"] = _rss_mb()
        store = open_store(settings)
        ensure_collections(store, settings)
        cpu0, t0 = time.process_time(), time.perf_counter()
        for i in range(0, n, 1000):
            store.upsert(settings.products_collection, cat.points[i : i + 1000])
        out["ingest_s"] = time.perf_counter() - t0
        out["ingest_cpu_s"] = time.process_time() - cpu0
        users = _users(cat, rng, now)
        for i in range(0, len(users), 500):
            store.upsert(settings.users_collection, users[i : i + 500])
        out["rss_loaded_mb"] = _rss_mb()
        out["peak_loaded_mb"] = _peak_mb()
        cpu0, t0 = time.process_time(), time.perf_counter()
        store.optimize()
        out["optimize_s"] = time.perf_counter() - t0
        out["optimize_cpu_s"] = time.process_time() - cpu0
        out["rss_built_mb"] = _rss_mb()
        out["peak_built_mb"] = _peak_mb()
        out["disk_mb"] = _disk_mb(Path(tmp) / "data")
        aggs = _aggregates(cat, users, rng)
        handler, _ = _serving_handler(settings, store, aggs)
        picks = random.Random(5)

        def user_events(extra: dict[str, str]) -> list[dict[str, Any]]:
            return _user_events(picks, len(users), requests, extra)

        similar = [
            _event("apigw_get_similar", f"/products/{cat.keys[picks.randrange(n)]}/similar", {})
            for _ in range(requests)
        ]
        _time(handler, user_events({})[:20])
        cpu0 = time.process_time()
        out["personalised"] = _time(handler, user_events({}))
        out["personalised_cpu_ms"] = (time.process_time() - cpu0) * 1000 / requests
        out["filtered"] = _time(handler, user_events({"category": "Top3", "price_max": "60"}))
        out["similar"] = _time(handler, similar)
        out["peak_end_mb"] = _peak_mb()
        store.close()
    return out


def _row(r: dict[str, Any]) -> str:
    return (
        f"| {r['n']:,} | {r['n'] / r['ingest_s']:,.0f} | {r['optimize_s']:,.1f} s "
        f"({r['optimize_cpu_s']:,.0f} CPU-s) | {r['peak_built_mb']:,.0f} MB "
        f"| {r['rss_built_mb'] - r['rss_catalog_mb'] + r['rss_start_mb']:,.0f} MB "
        f"| {r['disk_mb']:,.0f} MB "
        f"| {r['personalised']['p50']:.1f} / {r['personalised']['p99']:.1f} "
        f"| {r['filtered']['p50']:.1f} / {r['filtered']['p99']:.1f} "
        f"| {r['similar']['p50']:.1f} / {r['similar']['p99']:.1f} "
        f"| {r['personalised_cpu_ms']:.1f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--json", type=Path, help="also save the raw results here")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, requests=args.requests)))
        return 0
    started = time.perf_counter()
    header = machine_line()
    results: list[dict[str, Any]] = []
    missing: list[str] = []
    for size in (int(s) for s in args.sizes.split(",")):
        cmd = [sys.executable, "-m", "bench.growth", "--child", str(size)]
        cmd += ["--requests", str(args.requests)]
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=args.timeout, check=True
            )
        except (subprocess.TimeoutExpired, subprocess.CalledProcessError) as exc:
            missing.append(f"{size:,} ({type(exc).__name__})")
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    lines = [
        "## growth (embedded engine)",
        "",
        f"`bench/growth.py` · {header} · whole run {time.perf_counter() - started:.0f} s · "
        f"load average {os.getloadavg()[0]:.1f} at the end (other work shared the 2 cores).",
        "",
        "Synthetic products (clustered random 384-d unit vectors, shop-like payloads): the "
        "encoder is not measured here (see the encoder section). Ingest = store upserts of "
        "1,000 products; build = `optimize()` (HNSW + int8); memory = the process's peak "
        "resident set after the build and its resident set without the generated catalog; "
        "latencies (ms, p50 / p99) through the warm Lambda handler after the build, cache "
        f"off, {args.requests} requests each; CPU = CPU-ms per personalised request.",
        "",
        "| products | ingest products/s | index build | peak RSS | RSS (store) | on disk "
        "| personalised | + filter | similar | CPU ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(_row(r) for r in results),
    ]
    if missing:
        lines += ["", "Not finished (not run to the end): " + ", ".join(missing) + "."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("growth", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
