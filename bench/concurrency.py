"""Concurrency of the local stack over HTTP: many clients on recommendations, reads during writes.

The stack is `recsys up --demo` (Online Retail: ≈3,800 products, the last 7 days of history,
≈550 customers) in its own process group on a free port; the load comes from
:mod:`bench.http_load` in another process. Measured:

1. ``GET /users/{id}/recommendations?limit=10`` cycling over the demo's customers with 1, 10
   and 100 concurrent clients (closed loop, keep-alive): req/s, p50, p99, errors — after one
   warm-up pass, so the reply cache holds what a storefront's repeat visitors would hit; and
   once more at 100 clients with the reply cache off (every request ranks);
2. reads (``/trending``, ``/products/{id}/similar``, recommendations; 10 clients) alone, then
   while one writer posts 500-event batches to ``POST /events`` back to back: the readers' p99
   with and without the writes, and the writes' own latency.

``--src DIR`` runs the stack from another source tree (e.g. ``git archive`` of an older
commit) so before/after come from one run on the same machine state; ``--now-src DIR`` runs
"now" from one too (``git archive HEAD``: what is committed, without uncommitted work in the
checkout).
Run: ``python -m bench.concurrency [--src DIR --src-label before] [--now-src DIR --now-commit C]
[--duration 15] [--write]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench._report import machine_line, write_section
from bench.http_load import LoadProcess, LoadResult, Request

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Stack:
    """``recsys up --demo`` in a new process group, stopped with SIGINT (then SIGKILL)."""

    def __init__(self, *, src: Path | None, data_dir: Path, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.data_dir = data_dir
        self.log_path = data_dir.parent / f"{data_dir.name}-stack.log"
        from recsys.core.config import get_settings

        full_env = {
            **os.environ,
            "RECSYS_DEMO_DATA": str(get_settings().demo_data),
            **env,
            "RECSYS_LOCAL_REFRESH_INTERVAL_S": "0",
        }
        full_env.pop("RECSYS_AWS_ENDPOINT_URL", None)
        if src is not None:
            full_env["PYTHONPATH"] = str(src / "layers" / "python")
        cwd = src or ROOT
        cmd = [sys.executable, "-m", "recsys.cli", "--data-dir", str(data_dir), "up", "--demo"]
        cmd += ["--port", str(self.port)]
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_serving(self, timeout_s: float = 1800) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stack exited: {self.log_path.read_text()[-2000:]}")
            if "serving; Ctrl-C to stop" in self.log_path.read_text(errors="replace"):
                return
            time.sleep(1)
        raise RuntimeError("stack did not finish loading the demo in time")

    def stop(self) -> None:
        # SIGINT to the runtime only (not its group): older runtimes lost their moto server
        # first on a group Ctrl-C and with it the state they save at shutdown.
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(300)  # older runtimes drain 30 s, then save the whole table
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


def _demo_ids() -> tuple[list[str], list[str]]:
    from recsys.core.config import get_settings
    from recsys.datasets.retail_events import read_retail_events

    settings = get_settings()
    events = list(read_retail_events(settings.demo_data))
    cutoff = max(e["timestamp"] for e in events) - settings.demo_history_days * 86400
    recent = [e for e in events if e["timestamp"] >= cutoff]
    users = sorted({e["user_id"] for e in recent if "user_id" in e})
    products = [p for p, _ in Counter(e["product_id"] for e in recent).most_common(500)]
    return users, products


def _wait_idle(port: int, timeout_s: float = 1800) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            reply = httpx.get(
                f"http://127.0.0.1:{port}/_local/status", params={"wait_s": 60}, timeout=120
            )
            if reply.status_code == 200 and reply.json().get("idle"):
                return
        except httpx.HTTPError:
            pass
    raise RuntimeError("the stack's queues did not drain")


def _get(path: str) -> Request:
    return ("GET", path, None, {})


def _events_body(users: list[str], products: list[str], rng: random.Random, n: int) -> bytes:
    now = time.time()
    events = [
        {
            "event_id": f"bench-{rng.getrandbits(64):016x}",
            "user_id": rng.choice(users),
            "type": rng.choice(["view", "click", "add_to_cart", "purchase"]),
            "product_id": rng.choice(products),
            "timestamp": now - rng.random() * 3600,
        }
        for _ in range(n)
    ]
    return json.dumps({"events": events}).encode()


def _load(port: int, clients: int, reqs: list[Request], total: int, duration: float) -> LoadResult:
    return (
        LoadProcess(
            host="127.0.0.1",
            port=port,
            clients=clients,
            requests=reqs,
            total=total,
            duration_s=duration,
            timeout_s=30.0,
        )
        .start()
        .result()
    )


def measure(
    label: str,
    *,
    src: Path | None,
    data_dir: Path,
    duration: float,
    extra_env: dict[str, str],
    client_counts: tuple[int, ...] = (1, 10, 100),
    mixed: bool = True,
) -> dict[str, Any]:
    users, products = _demo_ids()
    stack = Stack(src=src, data_dir=data_dir, env=extra_env)
    out: dict[str, Any] = {"label": label}
    try:
        stack.wait_serving()
        port = stack.port
        # The demo's nightly job leaves profile rebuilds queued: measure once they are done.
        _wait_idle(port)
        rng = random.Random(7)
        recs = [_get(f"/users/{u}/recommendations?limit=10") for u in users]
        rng.shuffle(recs)
        _load(port, 10, recs, len(recs), 300)  # warm-up: every user once
        out["recommend"] = {}
        for clients in client_counts:
            res = _load(port, clients, recs, 100_000, duration)
            out["recommend"][clients] = res.summary()
            print(label, "recommend", clients, res.summary(), flush=True)
        if not mixed:
            return out
        reads = [
            *[_get(f"/trending?limit=10&category={c}") for c in ("", "Home", "Kitchen")],
            *[_get(f"/products/{p}/similar?limit=10") for p in products[:200]],
            *recs[:200],
        ]
        rng.shuffle(reads)
        alone = _load(port, 10, reads, 100_000, duration)
        out["reads_alone"] = alone.summary()
        print(label, "reads alone", alone.summary(), flush=True)
        bodies = [
            (
                "POST",
                "/events",
                _events_body(users, products, rng, 500),
                {"Content-Type": "application/json"},
            )
            for _ in range(40)
        ]
        writer = LoadProcess(
            host="127.0.0.1",
            port=port,
            clients=1,
            requests=bodies,
            total=len(bodies),
            duration_s=duration + 5,
            timeout_s=60.0,
        ).start()
        time.sleep(1.0)
        during = _load(port, 10, reads, 100_000, duration)
        writes = writer.result()
        # The profile rebuilds the writes queued: how long after the last write they are done.
        start = time.monotonic()
        _wait_idle(port)
        out["drain_s"] = time.monotonic() - start
        out["reads_during_writes"] = during.summary()
        out["writes"] = writes.summary()
        print(label, "reads during writes", during.summary(), flush=True)
        print(label, "writes", writes.summary(), flush=True)
        print(label, "queues drained after the writes in", f"{out['drain_s']:.1f} s", flush=True)
    finally:
        stack.stop()
    return out


def _row(name: str, s: dict[str, Any]) -> str:
    return (
        f"| {name} | {s['clients']} | {s['requests']:,} | {s['rps']:,.1f} | {s['p50_ms']:,.1f} | "
        f"{s['p99_ms']:,.1f} | {s['failed']} |"
    )


def report(
    runs: list[dict[str, Any]],
    *,
    duration: float,
    src: str | None = None,
    now: str | None = None,
) -> str:
    invocation = "python -m bench.concurrency"
    if src is not None:
        invocation += f' --src <git archive of {src}> --src-label "before ({src})"'
    if now is not None:
        invocation += f" --now-src <git archive of {now}> --now-commit {now}"
    lines = [
        "## concurrency (local stack over HTTP)",
        "",
        f"{machine_line()} · `{invocation} --duration {duration:g}`",
        "",
        "`recsys up --demo` (Online Retail, last 7 days: ≈3,800 products, ≈550 customers) in its "
        "own process group; load from `bench/http_load.py` (closed loop, keep-alive, one "
        "connection per client) in another process on the same 2 cores. Recommendations cycle "
        "over every demo customer after one warm-up pass (so repeat visits hit the reply "
        "cache, as a storefront's would); *cache off* sets `RECSYS_CACHE_TTL_RECOMMEND_S=0` so "
        "every request ranks. Reads = `/trending`, `/products/{id}/similar` and "
        "recommendations mixed, 10 clients; writes = one client posting 500-event batches "
        f"back to back. Each row runs {duration:g} s (bounded).",
        "",
        "| run | clients | requests | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        label = run["label"]
        for clients, s in run.get("recommend", {}).items():
            lines.append(_row(f"{label}: recommendations", {**s, "clients": clients}))
        for key, name in (
            ("reads_alone", "reads alone"),
            ("reads_during_writes", "reads while 500-event writes run"),
            ("writes", "the 500-event writes"),
        ):
            if key in run:
                lines.append(_row(f"{label}: {name}", run[key]))
    lines.append("")
    for run in runs:
        if "reads_alone" in run and "reads_during_writes" in run:
            a, d = run["reads_alone"]["p99_ms"], run["reads_during_writes"]["p99_ms"]
            lines.append(
                f"- {run['label']}: read p99 while writes run / alone = {d / a:.2f}× "
                f"({d:.1f} / {a:.1f} ms)."
            )
        if "drain_s" in run:
            lines.append(
                f"- {run['label']}: the profile updates the writes queued were done "
                f"{run['drain_s']:.1f} s after the last write."
            )
        rec = run.get("recommend", {})
        if 100 in rec:
            lines.append(
                f"- {run['label']}: 100 clients {rec[100]['rps']:.0f} req/s with "
                f"{rec[100]['failed']} errors (goal ≥ 395 req/s = 5 × 79, 0 errors)."
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=None, help="another source tree to compare")
    parser.add_argument("--src-label", default="before")
    parser.add_argument("--src-commit", default=None, help="the commit --src was taken from")
    parser.add_argument("--now-src", type=Path, default=None, help="source tree of 'now'")
    parser.add_argument("--now-commit", default=None, help="the commit --now-src was taken from")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--work", type=Path, default=None, help="data dirs (kept for reruns)")
    parser.add_argument("--no-cache-off", action="store_true")
    parser.add_argument("--write", action="store_true", help="write docs/BENCHMARKS.md")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="recsys-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    runs = []
    d = args.duration
    if args.src is not None:
        runs.append(
            measure(args.src_label, src=args.src, data_dir=work / "src", duration=d, extra_env={})
        )
    now = args.now_src
    runs.append(measure("now", src=now, data_dir=work / "now", duration=d, extra_env={}))
    if not args.no_cache_off:
        off = {"RECSYS_CACHE_TTL_RECOMMEND_S": "0"}
        for label, src, name in ((args.src_label, args.src, "src"), ("now", now, "now")):
            if name == "src" and src is None:
                continue
            runs.append(
                measure(
                    f"{label}, cache off",
                    src=src,
                    data_dir=work / name,
                    duration=d,
                    extra_env=off,
                    client_counts=(100,),
                    mixed=False,
                )
            )
    (work / "concurrency.json").write_text(json.dumps(runs, indent=1))
    markdown = report(runs, duration=args.duration, src=args.src_commit, now=args.now_commit)
    print(markdown)
    if args.write:
        write_section("concurrency", markdown)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
