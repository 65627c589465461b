"""How long ``recsys eval`` takes, per phase, on the two catalog sizes of issues 12 and 15.

- Online Retail, split 2011-11-01: 3,738 products, 426,808 training events;
- the Ta-Feng sample (``ta-feng-sample``): 22,542 products, 49,741 training events — the
  "20k-product, 50k-event store".

Each run is ``recsys eval --dataset NAME --models all`` in-process, every row (system, four
baselines, and the self-tuned and learned rows, the tuner included in the self-tuned cell),
with the parsed split and the embeddings already cached (a first run also parses the raw table
and encodes the texts: see the section's notes). Wall time and this process's CPU time are both
recorded: the machine is shared, and CPU seconds are what the work itself costs.

The "before" rows are the harness as it was at commit 2a46133 (per-user scoring of every
baseline), measured once on this machine and kept in :data:`BEFORE`; re-measuring them needs
that checkout (``git archive 2a46133 layers/python/recsys``) on ``PYTHONPATH``.

Run: ``python -m bench.eval_time [--no-write] [--from-json RUNS.json ...]`` (``--from-json``
formats the runs of earlier ``recsys eval --out`` files instead of measuring again;
``--before-json RUNS.json [--before-label TEXT]`` adds those runs as rows above, e.g. the same
harness before a ranking change).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from bench._report import machine_line, write_section
from recsys.evaluation.cli import run_dataset

DATASETS = ("online-retail", "ta-feng-sample")
#: Measured with the pre-change harness (see the module docstring); wall under a load average
#: of 5-15 from other work, CPU = user + system of the process.
BEFORE: dict[str, dict[str, str]] = {
    # 2026-12-01, load average ≈ 15; the product texts were encoded in this run (22 s wall).
    "online-retail": {
        "row": "| online-retail | before (2a46133) | 52.2 | 36.1 / — | 47.0 / — | 922.8 / — "
        "| 5.8 / — | 1.5 / — | 6.7 / — | — | — | **1081 / 311** |"
    },
    # 2026-12-01, load average ≈ 20. Item-kNN: fit measured (157 s wall / 14 s CPU), scoring
    # timed on the first 8 customers (55 s CPU: 6.9 s per customer, a 2 GB copy each) and
    # extrapolated to the 2,749 scorings; popularity timed on 150 customers per protocol;
    # the other rows were not timed with the old harness.
    "ta-feng-sample": {
        "row": "| ta-feng-sample | before (2a46133) | — | — | — | ≈ 19,000 CPU s (extrapolated) "
        "| — | 0.6 CPU s | — | — | — | **≥ 5 h CPU (extrapolated)** |"
    },
}

NOTES = """Cells are wall / CPU seconds (fit + both protocols per model). What changed:

- **item-kNN**: the old harness scored one customer at a time as a sparse row times the dense
  item × item similarity matrix; that matrix was Fortran-ordered (built from a CSC product),
  and scipy's sparse × dense product flattens its operand in C order, so every customer's
  score copied the whole matrix (55 MB on Online Retail, 2 GB on Ta-Feng). Now a block of 512
  customers is one product, the matrix is C-ordered, and above 8,000 products it stays sparse
  (only pairs bought together), so a 22.5k-product shop never allocates 22.5k².
- **ALS, content, popularity**: one matrix product per block of customers, top-k by a
  partition over the block (same tie-break by popularity).
- **recsys**: still `rank_for_user` per customer (it is the system under test), but the nearest
  products and similar users of a block of customers come from one matrix product (exact;
  similarities accumulated in float64, ties to the lower row, so the answers are those of the
  one-by-one search).
- **prepare**: each distinct product text is encoded once (Ta-Feng: 2,012 texts for 22,542
  products); parsed splits are cached in `<data_dir>/eval-cache` (Online Retail: 10 s CPU → 1 s).

Cached vs first run: the "after" rows read the parsed split and the embeddings from
`<data_dir>/eval-cache`. A first run also parses the raw table (Online Retail: ≈ 34 s CPU,
twice through the CSV for catalog and events; Ta-Feng ≈ 25 s) and encodes the texts (3,738
Online Retail titles ≈ 17 s CPU; Ta-Feng's 2,012 distinct subclass texts ≈ 10 s), so Online
Retail's very first run costs ≈ 75 s CPU and every later one ≈ 24 s.

Same figures: on Online Retail 2011-11-01 every Recall/NDCG/HitRate/coverage of every row is
identical before and after (content-only computes its similarities in float64 rounded to
float32, so identical texts still tie exactly and popularity breaks the tie, as in the per-user
float32 product). On the sparse variant, where every product of a category has the same text,
the baselines are identical except content-only's coverage (5.99 → 5.94 %, NDCG@10 *new*
0.0653 → 0.0652) and the system moves by ≤ 0.0001 (coverage *new* 27.5 → 27.2 %): among products
with identical texts the nearest-neighbour lists now take the lower row, where the one-by-one
search took whatever its partition left first. Goals: ≤ 60 s for Online Retail (the system
and the four baselines) and ≤ 180 s for the 20k-product, 50k-event shop with every row, the
tuner included, on an idle machine. The eval runs single-threaded, so on an idle machine wall ≈
CPU: the CPU seconds are the figures to hold against the goals; wall times here are those of a
machine shared with other work.
"""


def _row(name: str, run: dict[str, Any], label: str = "after") -> str:
    t, c = run["timings"], run.get("cpu_timings", {})

    def cpu(key: str) -> str:
        return f"{c[key]:.1f}" if key in c else "—"

    def phase(model: str) -> str:
        wall = t.get(f"fit_{model}_s", 0) + t.get(f"all_{model}_s", 0) + t.get(f"new_{model}_s", 0)
        return f"{wall:.1f} / {cpu(f'{model}_s')}"

    prep = t["embed_s"] + t["aggregates_s"] + t["profiles_s"] + t["matrix_s"]
    return (
        f"| {name} | {label} | {t.get('load_s', 0):.1f} | {prep:.1f} / {cpu('prepare_s')} "
        f"| {phase('recsys')} | {phase('item_knn')} | {phase('als')} | {phase('popularity')} "
        f"| {phase('content')} | {phase('self_tuned')} | {phase('learned')} "
        f"| **{run['wall_s']:.0f} / {run['cpu_s']:.0f}** |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-write", action="store_true", help="print, do not write the doc")
    parser.add_argument("--from-json", type=Path, nargs="*", default=None)
    parser.add_argument(
        "--before-json", type=Path, default=None, help="runs of an earlier harness, shown above"
    )
    parser.add_argument("--before-label", default="before", help="their row label")
    args = parser.parse_args(argv)
    earlier: dict[str, dict[str, Any]] = {}
    if args.before_json:
        loaded = json.loads(args.before_json.read_text(encoding="utf-8"))
        earlier = {r.get("dataset", ""): r for r in loaded.get("runs", [loaded])}
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    if args.from_json:
        found: dict[str, dict[str, Any]] = {}
        for path in args.from_json:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            for run in loaded.get("runs", [loaded]):
                key = run.get("dataset", "")
                if key in DATASETS and key not in found:
                    found[key] = run
        runs = {name: found[name] for name in DATASETS if name in found}
        how = f"runs from {', '.join(p.name for p in args.from_json)}"
    else:
        import recsys.evaluation.tuned  # noqa: F401  (registers the rows self_tuned, learned)
        from recsys.evaluation.harness import REGISTRY

        runs = {name: run_dataset(name, models=list(REGISTRY)) for name in DATASETS}
        how = "`python -m bench.eval_time`"
    wall = (
        time.perf_counter() - t0 if not args.from_json else sum(r["wall_s"] for r in runs.values())
    )
    load_after = os.getloadavg()[0]
    header = (
        "| dataset | harness | load s | prepare s (wall / CPU) | recsys | item-kNN | ALS "
        "| popularity | content | self-tuned (with the tuner) | learned "
        "| whole run (wall / CPU s) |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    rows = []
    for name, run in runs.items():
        if name in BEFORE:
            rows.append(BEFORE[name]["row"])
        if name in earlier:
            rows.append(_row(name, earlier[name], args.before_label))
        rows.append(_row(name, run))
    sizes = "; ".join(
        f"{name}: {run['catalog_size']:,} products, {run['train_events']:,} training events, "
        f"{run['protocols']['all']['recsys']['users']:,} / "
        f"{run['protocols']['new']['recsys']['users']:,} customers scored (all / new)"
        for name, run in runs.items()
    )
    text = (
        "## Evaluation time (`recsys eval`)\n\n"
        f"{machine_line()} · {how} · runs {wall:.0f} s wall"
        + (
            f" · load average {load_before:.1f} / {load_after:.1f} before / after.\n\n"
            if not args.from_json
            else ".\n\n"
        )
        + f"{sizes}.\n\n{header}\n"
        + "\n".join(rows)
        + "\n\n"
        + NOTES
    )
    print(text)
    if not args.no_write:
        write_section("eval-time", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
