"""The nightly job's tuning step on the whole Online Retail history: time and memory.

Every Online Retail event (2010-12-01 … 2011-12-09) and every product, as the store holds
them the night after the last sale: ``recsys.ranking.tuner.tune`` as of one second after the
last event (what ``nightly_tuning`` calls, with the settings' ranking configuration and
profile decay), the catalog's text vectors embedded beforehand (the store keeps them; read
from the evaluation's embedding cache when present), one BLAS thread (set before numpy
loads), Python allocations traced with tracemalloc.

Reports wall and CPU time, the traced peak, the process RSS before and at its peak, the
tuner's own seconds per part and objective, and what it kept. Run:
``python -m bench.tuning_cost [--no-write]``; prints JSON and writes the "nightly tuning"
section of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bench._report import machine_line, write_section  # noqa: E402
from recsys.core.config import get_settings  # noqa: E402
from recsys.evaluation.data import load_events, load_products  # noqa: E402
from recsys.evaluation.embeddings import embed_texts  # noqa: E402
from recsys.ranking.config import RankingConfig  # noqa: E402
from recsys.ranking.tuner import Catalog, tune  # noqa: E402


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def run() -> dict[str, Any]:
    settings = get_settings()
    t0 = time.perf_counter()
    products = load_products(settings.demo_data)
    events = sorted(load_events(settings.demo_data), key=lambda e: e.at)
    events = [e for e in events if e.product_id is None or e.product_id in products]
    ids = sorted(products)
    vectors = embed_texts([products[p].text for p in ids], settings=settings)
    payloads = {p: dict(products[p].payload) for p in ids}
    load_s = time.perf_counter() - t0
    as_of = events[-1].at + 1.0
    rss_before = _current_rss_mib()
    tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    fitted = tune(
        events,
        Catalog(ids, vectors, payloads),
        as_of=as_of,
        config=RankingConfig.from_settings(settings),
        profile_tau_days=settings.profile_tau_long_days,
        say=lambda _msg: None,
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    report = fitted.report
    modes = {
        mode: {
            "chosen": e.get("chosen"),
            "seconds": e.get("seconds", {}),
            "check": {k: round(v["recall"], 4) for k, v in e.get("check", {}).items()},
            "gain": {k: round(v, 3) for k, v in e.get("gain", {}).items()},
        }
        for mode, e in report.get("modes", {}).items()
    }
    return {
        "events": len(events),
        "products": len(ids),
        "first": events[0].at,
        "as_of": as_of,
        "load_s": round(load_s, 1),
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "traced_peak_mib": round(traced_peak / 2**20, 1),
        "rss_before_mib": round(rss_before, 1),
        "rss_peak_mib": round(_rss_mib(), 1),
        "status": fitted.status,
        "window_days": report.get("window_days"),
        "users": report.get("users"),
        "modes": modes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-write", action="store_true", help="only print")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    result = run()
    result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(result))
    if args.no_write:
        return 0
    lines = [
        "| objective | kept | search / learned fit / check / refit s | check-window Recall@10 |",
        "|---|---|---:|---|",
    ]
    for mode, m in result["modes"].items():
        s = m["seconds"]
        parts = " / ".join(
            f"{s.get(k, 0):.0f}" for k in ("weighted_search", "learned_fit", "check", "refit")
        )
        check = ", ".join(f"{k} {v:.4f}" for k, v in m["check"].items())
        lines.append(f"| {mode} | {m['chosen']} | {parts} | {check} |")
    write_section(
        "nightly tuning",
        f"`python -m bench.tuning_cost` · {machine_line()} · load average "
        f"{result['load_average'][0]:.1f} before, {result['load_average'][1]:.1f} after (the 2 "
        "cores are shared with other work: wall time is not a quiet machine's, CPU time "
        "about is).\n\n"
        f"The nightly tuning step (`tune()`, as `nightly_tuning` calls it) over every Online "
        f"Retail event ({result['events']:,}) and product ({result['products']:,}), as of the "
        f"last event; windows of {result['window_days']} days; one BLAS thread; tracemalloc on. "
        f"Status {result['status']}. Wall {result['wall_s']:.0f} s, CPU {result['cpu_s']:.0f} s; "
        f"Python allocations at the peak {result['traced_peak_mib']:,.0f} MiB; process RSS "
        f"{result['rss_before_mib']:,.0f} MiB before, {result['rss_peak_mib']:,.0f} MiB at the "
        "peak (with tracemalloc's own bookkeeping).\n\n" + "\n".join(lines),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
