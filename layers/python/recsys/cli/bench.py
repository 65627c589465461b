"""``recsys bench``: run every benchmark script under bench/ in turn.

Each script writes its own section of docs/BENCHMARKS.md; this runner only sequences them
(one at a time: the machine has two shared cores, and overlapping benchmarks would measure
each other), reports how long each took, and fails if any failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

#: The checkout's root (the runner needs bench/ and docs/, which only a checkout has).
REPO_ROOT = Path(__file__).resolve().parents[4]


def bench_scripts(root: Path = REPO_ROOT) -> list[Path]:
    """The benchmark scripts: bench/*.py except private modules (``_report.py``...)."""
    return sorted(p for p in (root / "bench").glob("*.py") if not p.name.startswith("_"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``recsys bench`` options."""
    parser.add_argument(
        "--only", action="append", default=None, metavar="NAME", help="run only bench/NAME.py"
    )


def cli_bench(args: argparse.Namespace) -> int:
    """Run each bench script as ``python -m bench.<name>`` from the checkout's root."""
    scripts = bench_scripts()
    only = set(getattr(args, "only", None) or [])
    if only:
        scripts = [s for s in scripts if s.stem in only]
    if not scripts:
        print(f"no benchmark scripts under {REPO_ROOT / 'bench'}")
        return 1
    results: list[tuple[str, int, float]] = []
    for script in scripts:
        print(f"==> bench/{script.name}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.run(
            [sys.executable, "-m", f"bench.{script.stem}"], cwd=REPO_ROOT, check=False
        ).returncode
        results.append((script.name, code, time.perf_counter() - t0))
    print("\nbenchmarks (docs/BENCHMARKS.md):")
    for name, code, seconds in results:
        print(f"  {'ok    ' if code == 0 else 'FAILED'} {name:<24} {seconds:7.1f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1
