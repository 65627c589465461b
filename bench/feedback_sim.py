"""Simulated traffic through the whole feedback loop, with an A/B experiment on.

Real Online Retail customers shop again in a running local stack (``recsys up``):

1. a sample of customers who bought both before and after the split time is taken, with their
   whole history (the Online Retail rows of those customers, written as a smaller CSV);
2. the stack starts with ``RECSYS_EXPERIMENT`` splitting them between two ranking variants,
   takes the catalog (POST /products) and the history before the split (POST /events, moved
   forward in time so the split is an hour ago), and runs the nightly job;
3. each customer asks for "for you" (GET /users/{id}/recommendations, 10 items), reports an
   impression per item shown, and clicks and buys a shown item only if the real customer
   bought it after the split (the purchase carries no request id: the attribution window
   links it to the click);
4. GET /stats says which variant converts better, with its confidence; ``recsys eval`` runs the
   same two configurations on the same customers and split, offline.

The run agrees when the variant with the higher attributed conversion rate is the one with the
higher offline Recall@10 ("all" protocol: repeat purchases count, as the shopper here re-buys).

    python -m bench.feedback_sim --customers 150 --out docs/experiment_sim.json
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"
SPLIT = "2011-11-01T00:00:00+00:00"
#: Online Retail is a wholesaler whose customers re-stock: both variants offer past purchases
#: again ("for you" with buy-again on, which is also what `recsys eval`'s "all" protocol
#: measures). Control: the shipped weights. Variant: no weight on the repeat-purchase signal.
EXPERIMENT = {
    "name": "repeat-signal-sim",
    "variants": {
        "a": {"share": 0.5, "ranking_buy_again": True},
        "b": {"share": 0.5, "ranking_buy_again": True, "ranking_w_repeat": 0.0},
    },
}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample_customers(path: Path, *, n: int, split: float, seed: int) -> tuple[Path, list[str]]:
    """Write the Online Retail rows of ``n`` customers who bought before and after ``split``."""
    from recsys.datasets.online_retail import parse_invoice_date

    before: set[str] = set()
    after: set[str] = set()
    rows: list[list[str]] = []
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        for row in reader:
            rows.append(row)
            cust = row[6].strip()
            if not cust or row[0].startswith("C"):
                continue
            (after if parse_invoice_date(row[4]).timestamp() >= split else before).add(cust)
    both = sorted(before & after)
    chosen = sorted(random.Random(seed).sample(both, min(n, len(both))))
    keep = set(chosen)
    out = Path(tempfile.mkdtemp(prefix="recsys-sim-")) / "subset.csv.gz"
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(r for r in rows if r[6].strip() in keep)
    with gzip.open(out, "wt", encoding="utf-8", newline="") as fh:
        fh.write(buf.getvalue())
    return out, chosen


class Stack:
    """``recsys up`` in its own process on a free port."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.log_path = data_dir.parent / "stack.log"
        full = {
            **os.environ,
            "RECSYS_DATA_DIR": str(data_dir),
            "RECSYS_LOCAL_REFRESH_INTERVAL_S": "0",
            "RECSYS_REDIS_URL": "",
            **env,
        }
        full.pop("RECSYS_AWS_ENDPOINT_URL", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "recsys.cli", "up", "--port", str(self.port)],
            cwd=ROOT,
            env=full,
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=600)
        deadline = time.monotonic() + 240
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"recsys up exited: {self.log_path.read_text()[-2000:]}")
            try:
                if self.http.get("/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("recsys up did not answer /health")
            time.sleep(0.5)

    def drain(self, timeout_s: float = 3600) -> None:
        """Wait until every queue is empty (asking in 2-minute waits, under the HTTP timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            reply = self.http.get("/_local/status", params={"wait_s": 120})
            reply.raise_for_status()
            if reply.json().get("idle"):
                return
        raise RuntimeError("the queues did not drain")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _post(http: httpx.Client, path: str, key: str, rows: list[dict[str, Any]], chunk: int) -> None:
    for i in range(0, len(rows), chunk):
        r = http.post(path, json={key: rows[i : i + chunk]})
        if r.status_code != 202:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:300]}")


def shop(stack: Stack, truth: dict[str, set[str]], *, limit: int) -> dict[str, Any]:
    """Every customer asks for "for you", sees it, clicks and buys what they really bought."""
    per_variant: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    events: list[dict[str, Any]] = []
    for user, bought in sorted(truth.items()):
        r = stack.http.get(f"/users/{user}/recommendations", params={"limit": limit})
        r.raise_for_status()
        body = r.json()
        v = per_variant[body["variant"]]
        v["users"] += 1
        shown = {item["product_id"] for item in body["items"]}
        # Recall@10 as recsys eval takes it: per customer, then averaged.
        v["recall_sum"] += len(shown & bought) / len(bought)
        now = time.time()
        for pos, item in enumerate(body["items"]):
            ctx = {"request_id": body["request_id"], "position": pos, "page": "sim"}
            pid = item["product_id"]
            events.append(
                {
                    "type": "impression",
                    "user_id": user,
                    "product_id": pid,
                    "timestamp": now,
                    "context": ctx,
                    "event_id": uuid.uuid4().hex,
                }
            )
            if pid in bought:
                v["hits"] += 1
                events.append(
                    {
                        "type": "click",
                        "user_id": user,
                        "product_id": pid,
                        "timestamp": now + 1,
                        "context": ctx,
                        "event_id": uuid.uuid4().hex,
                    }
                )
                events.append(
                    {
                        "type": "purchase",
                        "user_id": user,
                        "product_id": pid,
                        "timestamp": now + 2,
                        "quantity": 1,
                        "price": item.get("price") or 0.0,
                        "order_id": f"sim-{user}",
                        "event_id": uuid.uuid4().hex,
                    }
                )
    _post(stack.http, "/events", "events", events, 500)
    _post(stack.http, "/events", "events", events[:500], 500)  # a retried batch: no double count
    out = {}
    for name, v in per_variant.items():
        out[name] = {
            "users": int(v["users"]),
            "hits": int(v["hits"]),
            "recall@10": v["recall_sum"] / v["users"] if v["users"] else 0.0,
        }
    return out


def offline_eval(subset: Path, split: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """``recsys eval`` of the recsys row with a variant's ranking settings."""
    env = {
        **os.environ,
        **{
            f"RECSYS_{k.upper()}": json.dumps(v) if isinstance(v, bool) else str(v)
            for k, v in overrides.items()
        },
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "recsys.cli",
            "eval",
            "--catalog",
            str(subset),
            "--events",
            str(subset),
            "--split",
            split,
            "--models",
            "recsys",
            "--json",
            "--quiet",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run(customers: int, seed: int, limit: int = 10) -> dict[str, Any]:
    from recsys.datasets.online_retail import load_catalog
    from recsys.datasets.retail_events import read_retail_events
    from recsys.events.models import _parse_timestamp

    split = _parse_timestamp(SPLIT)
    t0 = time.perf_counter()
    subset, chosen = sample_customers(DATA, n=customers, split=split, seed=seed)
    events = list(read_retail_events(subset))
    history = [e for e in events if e["timestamp"] < split]
    truth: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if e["timestamp"] >= split and e.get("type") == "purchase" and "user_id" in e:
            truth[e["user_id"]].add(e["product_id"])
    catalog = load_catalog(subset)
    # The history is moved forward so that the split falls an hour ago: the stack then ranks
    # "now" against the same recent past that `recsys eval` ranks against at the split time
    # (decays, popularity and trending windows all count back from the clock).
    shift = time.time() - 3600 - split
    for e in history:
        e["timestamp"] += shift
    data_dir = subset.parent / "data"
    stack = Stack(data_dir, {"RECSYS_EXPERIMENT": json.dumps(EXPERIMENT)})
    timings: dict[str, float] = {}
    try:
        t = time.perf_counter()
        _post(stack.http, "/products", "products", catalog, 500)
        stack.drain()
        timings["catalog_s"] = time.perf_counter() - t
        t = time.perf_counter()
        _post(stack.http, "/events", "events", history, 500)
        stack.drain()
        stack.http.post("/_local/refresh", json={}).raise_for_status()
        stack.drain()
        timings["history_s"] = time.perf_counter() - t
        t = time.perf_counter()
        simulated = shop(stack, truth, limit=limit)
        stack.drain()
        timings["shopping_s"] = time.perf_counter() - t
        stats = stack.http.get("/stats", params={"days": 1}).json()
    finally:
        stack.stop()
    t = time.perf_counter()
    offline = {
        name: offline_eval(subset, SPLIT, {k: v for k, v in spec.items() if k != "share"})
        for name, spec in EXPERIMENT["variants"].items()
    }
    timings["eval_s"] = time.perf_counter() - t
    recall = {n: r["protocols"]["all"]["recsys"]["recall@10"] for n, r in offline.items()}
    conv = {n: stats["variants"].get(n, {}).get("conversion_rate") or 0.0 for n in recall}
    online_winner = max(conv, key=lambda n: conv[n])
    offline_winner = max(recall, key=lambda n: recall[n])
    return {
        "customers": len(chosen),
        "scored_customers": len(truth),
        "catalog_products": len(catalog),
        "history_events": len(history),
        "split": SPLIT,
        "experiment": EXPERIMENT,
        "stats": {
            "variants": stats["variants"],
            "experiment": stats["experiment"],
            "coverage": stats["coverage"],
        },
        "simulated": simulated,
        "offline_recall@10_all": recall,
        "online_winner": online_winner,
        "offline_winner": offline_winner,
        "agree": online_winner == offline_winner,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=150)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = run(args.customers, args.seed)
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
