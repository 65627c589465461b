"""Event intake throughput and event → profile latency, against the moto server.

    .venv/bin/python -m bench.events [--events 20000] [--latency-samples 60]

Writes the "events" section of docs/BENCHMARKS.md. Everything runs in this process next to
the moto server (a Python HTTP server sharing the same two cores), so the figures are a floor
for what DynamoDB and SQS give; the raw moto request rate is measured in the same run to show
how much of the time is the emulator's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench._report import machine_line, write_section

ROOT = Path(__file__).resolve().parents[1]
RETAIL = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"


def _start_stack(data_dir: Path) -> tuple[Any, Any, Any]:
    from moto.server import ThreadedMotoServer

    from recsys.core.config import Settings
    from recsys.local.provision import provision_from_template

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    base = Settings(data_dir=data_dir, aws_endpoint_url=f"http://{host}:{port}")
    prov = provision_from_template(base, prefix=f"b{uuid.uuid4().hex[:8]}")
    settings = base.model_copy(
        update={
            "profile_queue_url": prov.queue_urls["ProfileQueue"],
            "events_table": prov.tables["EventsTable"],
            "catalog_bucket": prov.buckets["CatalogBucket"],
        }
    )
    return server, settings, prov


def _products(n: int) -> list[dict[str, Any]]:
    from recsys.datasets.online_retail import load_catalog

    return load_catalog(RETAIL)[:n]


def _raw_events(n: int, products: list[str], *, t0: float, prefix: str) -> list[dict[str, Any]]:
    """Requests of 500 events from 50 users each (a storefront batches per user session)."""
    kinds = ["view", "view", "view", "click", "add_to_cart", "purchase", "wishlist"]
    return [
        {
            "user_id": f"{prefix}-{(i // 500) * 50 + i % 50}",
            "type": kinds[i % len(kinds)],
            "product_id": products[(i * 7919) % len(products)],
            "timestamp": t0 + i,
            "context": {"page": "bench"},
        }
        for i in range(n)
    ]


def _fresh_queue(sqs: Any) -> str:
    url: str = sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    return url


def bench_moto_floor(settings: Any, n: int = 600) -> dict[str, float]:
    """Raw moto request rate: single PutItem calls, 1 and 16 threads."""
    from recsys.core.aws import client

    ddb = client("dynamodb", settings)

    def put(i: int) -> None:
        ddb.put_item(
            TableName=settings.events_table,
            Item={"pk": {"S": f"floor#{i % 50}"}, "sk": {"S": f"{i:08d}"}},
        )

    out = {}
    for threads in (1, 16):
        t = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(put, range(n)))
        out[f"putitem_per_s_{threads}t"] = n / (time.perf_counter() - t)
    return out


def bench_intake(settings: Any, products: list[str], n: int) -> dict[str, Any]:
    """log_events in batches of 500 (the API's maximum): logged events per second."""
    from recsys.core.aws import client
    from recsys.events.intake import log_events
    from recsys.events.log import EventLog
    from recsys.events.queue import ProfileQueue

    sqs = client("sqs", settings)
    results: dict[str, Any] = {}
    queue = ProfileQueue(settings)
    for threads in (4, 16):
        log = EventLog(settings, threads=threads)
        raw = _raw_events(n, products, t0=1_300_000_000 + threads * 10**7, prefix=f"t{threads}")
        secs, accepted = 0.0, 0
        for i in range(0, n, 500):
            t = time.perf_counter()
            accepted += log_events(
                raw[i : i + 500], log=log, queue=queue, settings=settings
            ).accepted
            secs += time.perf_counter() - t
            # A consumer keeps the queue short; moto's SendMessage costs O(backlog) (it counts
            # the visible messages on every send), which would otherwise dominate.
            queue.url = _fresh_queue(sqs)
        # The same events again: every one a duplicate (the idempotent retry path).
        t = time.perf_counter()
        dupes = 0
        for i in range(0, n // 4, 500):
            dupes += log_events(raw[i : i + 500], log=log, queue=None, settings=settings).duplicates
        dsecs = time.perf_counter() - t
        log.close()
        results[f"{threads}t"] = {
            "accepted": accepted,
            "events_per_s": accepted / secs,
            "duplicates": dupes,
            "duplicates_per_s": dupes / dsecs,
        }
    # Events without a client timestamp take the conditional-claim path.
    log = EventLog(settings, threads=16)
    untimed = [{k: v for k, v in e.items() if k != "timestamp"} for e in raw[: n // 4]]
    secs, accepted = 0.0, 0
    for i in range(0, len(untimed), 500):
        t = time.perf_counter()
        accepted += log_events(
            untimed[i : i + 500], log=log, queue=queue, settings=settings
        ).accepted
        secs += time.perf_counter() - t
        queue.url = _fresh_queue(sqs)
    log.close()
    results["server_timed_16t"] = {"accepted": accepted, "events_per_s": accepted / secs}
    return results


class _NullAws:
    """Answers every call at once: what the intake costs in this process, emulator excluded."""

    def batch_get_item(self, **_: Any) -> dict[str, Any]:
        return {"Responses": {}}

    def batch_write_item(self, **_: Any) -> dict[str, Any]:
        return {}

    def send_message_batch(self, **_: Any) -> dict[str, Any]:
        return {}


def bench_own_cpu(settings: Any, products: list[str], n: int) -> dict[str, float]:
    """``log_events`` with AWS answered instantly: validation, item building, message shaping."""
    from recsys.events.intake import log_events
    from recsys.events.log import EventLog
    from recsys.events.queue import ProfileQueue

    log, queue = EventLog(settings, threads=4), ProfileQueue(settings)
    log.ddb, queue.sqs = _NullAws(), _NullAws()
    raw = _raw_events(n, products, t0=1_100_000_000, prefix="cpu")
    t = time.perf_counter()
    for i in range(0, n, 500):
        log_events(raw[i : i + 500], log=log, queue=queue, settings=settings)
    secs = time.perf_counter() - t
    log.close()
    return {"events_per_s": n / secs}


def bench_http_intake(settings: Any, products: list[str], n: int) -> dict[str, float]:
    """The same through the log-event Lambda handler (API Gateway v2 event → Mangum → FastAPI)."""
    env = {
        "RECSYS_AWS_ENDPOINT_URL": settings.aws_endpoint_url,
        "RECSYS_PROFILE_QUEUE_URL": settings.profile_queue_url,
        "RECSYS_EVENTS_TABLE": settings.events_table,
        "RECSYS_CATALOG_BUCKET": settings.catalog_bucket,
        "RECSYS_DATA_DIR": str(settings.data_dir),
    }
    os.environ.update(env)
    from recsys.core.config import get_settings

    get_settings.cache_clear()
    from recsys.local.invoke import import_file

    module = import_file(ROOT / "functions" / "log_event" / "app.py", "bench_log_event")
    sample = json.loads((ROOT / "shared" / "events" / "apigw_post_events.json").read_text())
    from recsys.core.aws import client

    sqs = client("sqs", settings)
    raw = _raw_events(n, products, t0=1_200_000_000, prefix="http")
    secs, accepted = 0.0, 0
    for i in range(0, n, 500):
        event = dict(sample, body=json.dumps({"events": raw[i : i + 500]}))
        t = time.perf_counter()
        accepted += json.loads(module.handler(event, None)["body"])["accepted"]
        secs += time.perf_counter() - t
        module.app.state.services.profile_queue.url = _fresh_queue(sqs)
    return {"accepted": accepted, "events_per_s": accepted / secs}


def bench_latency(settings: Any, prov: Any, products: list[str], samples: int) -> dict[str, Any]:
    """POST one event, then a poller (long-polling like the SQS event source) runs the
    update-profile handler; latency = until that user's profile is written."""
    from recsys.core.aws import client
    from recsys.events.intake import log_events
    from recsys.events.log import EventLog
    from recsys.events.queue import ProfileQueue
    from recsys.local.invoke import import_file
    from recsys.local.poller import sqs_event
    from recsys.profiles.worker import ProfileWorker

    module = import_file(ROOT / "functions" / "update_profile" / "app.py", "bench_update_profile")
    worker: ProfileWorker = module.worker
    sqs = client("sqs", settings)
    url, arn = prov.queue_urls["ProfileQueue"], prov.queue_arns["ProfileQueue"]
    done: dict[str, float] = {}
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            )
            if not got:
                continue
            module.handler(sqs_event(got, queue_arn=arn), None)
            now = time.perf_counter()
            for m in got:
                done[json.loads(m["Body"])["key"]] = now
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
                ],
            )

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    log, queue = EventLog(settings, threads=4), ProfileQueue(settings)
    # Half new users (first profile: a rebuild), half returning users (incremental).
    warm = [f"lat-{i}" for i in range(samples // 2)]
    for user in warm:
        log_events(
            [{"user_id": user, "type": "view", "product_id": products[0]}],
            log=log,
            queue=None,
            settings=settings,
        )
    worker.update(*[f"u#{u}" for u in warm])
    latencies: dict[str, list[float]] = {"new": [], "returning": []}
    for i in range(samples):
        returning = i % 2 == 1 and (i // 2) < len(warm)
        user = warm[i // 2] if returning else f"lat-new-{i}"
        ev = {"user_id": user, "type": "add_to_cart", "product_id": products[i % len(products)]}
        key = f"u#{user}"
        done.pop(key, None)
        t0 = time.perf_counter()
        log_events([ev], log=log, queue=queue, settings=settings)
        deadline = t0 + 10
        while key not in done and time.perf_counter() < deadline:
            time.sleep(0.002)
        if key in done:
            latencies["returning" if returning else "new"].append(done[key] - t0)
        time.sleep(0.05)
    stop.set()
    poller.join(timeout=5)
    log.close()
    latencies["all"] = latencies["new"] + latencies["returning"]
    return {kind: _percentiles(values) for kind, values in latencies.items()}


def _percentiles(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    values = sorted(values)
    return {
        "n": len(values),
        "p50_ms": 1000 * statistics.median(values),
        "p95_ms": 1000 * values[min(len(values) - 1, int(0.95 * len(values)))],
    }


def replay_history(data_dir: Path, customers: list[str]) -> dict[str, Any]:
    """The whole Online Retail history through ``recsys events`` (log, then in-process first
    profiles) on a fresh stack, then the nightly aggregates; and what a few customers look like."""
    from collections import Counter

    from recsys.aggregates.compute import compute_aggregates
    from recsys.aggregates.store import AggregatesStore
    from recsys.catalog.text import product_text
    from recsys.cli.events import cli_events
    from recsys.core.config import get_settings
    from recsys.datasets.online_retail import load_catalog
    from recsys.datasets.retail_events import read_retail_events
    from recsys.encoder import get_encoder
    from recsys.store import PointIn, open_store_ready

    server, settings, _ = _start_stack(data_dir)
    try:
        os.environ.update(
            {
                "RECSYS_AWS_ENDPOINT_URL": str(settings.aws_endpoint_url),
                "RECSYS_PROFILE_QUEUE_URL": str(settings.profile_queue_url),
                "RECSYS_EVENTS_TABLE": settings.events_table,
                "RECSYS_CATALOG_BUCKET": settings.catalog_bucket,
                "RECSYS_DATA_DIR": str(data_dir),
            }
        )
        get_settings.cache_clear()
        settings = get_settings()
        _say("replay: catalog")
        catalog = load_catalog(RETAIL)
        t = time.perf_counter()
        vectors = get_encoder(settings).encode([product_text(p) for p in catalog])
        store = open_store_ready(settings)
        store.upsert(
            settings.products_collection,
            [
                PointIn(p["product_id"], {"text": v}, p)
                for p, v in zip(catalog, vectors, strict=True)
            ],
        )
        catalog_s = time.perf_counter() - t
        _say("replay: events")
        ns = argparse.Namespace(
            file=RETAIL, format="online-retail", since=None, until=None, rejects=None
        )
        t = time.perf_counter()
        cli_events(ns)
        replay_s = time.perf_counter() - t
        # What the nightly job computes, from the same events in memory: `recsys refresh` scans
        # the log, and moto re-sorts its whole table for every Scan page and Query.
        _say("replay: aggregates")
        t = time.perf_counter()
        from recsys.events.models import validate_events
        from recsys.profiles.point import to_profile_event
        from recsys.profiles.schema import ProfilePayload

        good, _ = validate_events(list(read_retail_events(RETAIL)))
        agg = compute_aggregates(
            [to_profile_event(e) for e in good],
            now=max(e.at for e in good),
            catalog_categories={p["product_id"]: p["category"] for p in catalog},
        )
        AggregatesStore(settings).save(agg)
        refresh_s = time.perf_counter() - t
        titles = {p["product_id"]: p["title"] for p in catalog}
        bought: dict[str, Counter[str]] = {c: Counter() for c in customers}
        for ev in read_retail_events(RETAIL):
            if ev.get("user_id") in bought and ev["type"] == "purchase":
                bought[ev["user_id"]][ev["product_id"]] += 1
        shown = []
        for cust in customers:
            (profile,) = store.retrieve(settings.users_collection, [cust], with_vectors=True)
            payload = ProfilePayload.read(profile.payload)
            near = store.search(
                settings.products_collection, profile.vectors["long"], using="text", limit=5
            )
            shown.append(
                {
                    "customer": cust,
                    "counts": payload.counts,
                    "top_categories": payload.top_categories[:3],
                    "bought": [titles.get(p, p) for p, _ in bought[cust].most_common(5)],
                    "nearest": [
                        (
                            r.payload.get("title"),
                            round(r.score, 3),
                            r.key in payload.recent_purchases,
                        )
                        for r in near
                    ],
                }
            )
        return {
            "aggregates": agg.stats
            | {"trending": len(agg.trending_scores), "with_neighbours": len(agg.neighbours)},
            "catalog_products": len(catalog),
            "catalog_s": catalog_s,
            "replay_s": replay_s,
            "refresh_s": refresh_s,
            "users": store.count(settings.users_collection),
            "customers": shown,
        }
    finally:
        server.stop()


def _say(msg: str) -> None:
    print(f"[bench.events {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--latency-samples", type=int, default=60)
    parser.add_argument("--products", type=int, default=400)
    parser.add_argument(
        "--replay", action="store_true", help="also replay the whole Online Retail history"
    )
    args = parser.parse_args()

    from recsys.catalog.text import product_text
    from recsys.encoder import get_encoder
    from recsys.store import PointIn, open_store_ready

    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        server, settings, prov = _start_stack(Path(tmp))
        try:
            catalog = _products(args.products)
            store = open_store_ready(settings)
            vectors = get_encoder(settings).encode([product_text(p) for p in catalog])
            store.upsert(
                settings.products_collection,
                [
                    PointIn(p["product_id"], {"text": v}, p)
                    for p, v in zip(catalog, vectors, strict=True)
                ],
            )
            pids = [p["product_id"] for p in catalog]
            _say("moto floor")
            floor = bench_moto_floor(settings)
            _say("intake")
            intake = bench_intake(settings, pids, args.events)
            _say("own cpu")
            own = bench_own_cpu(settings, pids, args.events)
            _say("http intake")
            http = bench_http_intake(settings, pids, args.events // 2)
            _say("latency")
            latency = bench_latency(settings, prov, pids, args.latency_samples)
        finally:
            server.stop()
    report: dict[str, Any] = {
        "moto": floor,
        "intake": intake,
        "own": own,
        "http": http,
        "latency": latency,
    }
    print(json.dumps(report, indent=2), flush=True)
    write_section("events", render(report, args))
    if args.replay:
        with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
            report["replay"] = replay_history(Path(tmp), ["12347", "14911", "17850"])
    print(json.dumps(report, indent=2))
    write_section("events", render(report, args))


def _row(label: str, stats: dict[str, Any]) -> str:
    if not stats.get("n"):
        return f"| {label} | 0 | – | – |"
    return f"| {label} | {stats['n']} | {stats['p50_ms']:.0f} ms | {stats['p95_ms']:.0f} ms |"


def render(r: dict[str, Any], args: argparse.Namespace) -> str:
    i4, i16 = r["intake"]["4t"], r["intake"]["16t"]
    i4d, i16d = i4["duplicates_per_s"], i16["duplicates_per_s"]
    untimed = r["intake"]["server_timed_16t"]["events_per_s"]
    own = r["own"]["events_per_s"]
    lat = r["latency"]
    return f"""## Events: intake and event → profile latency

{machine_line()} · moto 5.2.5 server in the same process · `python -m bench.events`

**Intake** — requests of 500 events (the API maximum) from 50 users each, {args.events:,}
events; per request: validation, BatchGetItem of the idempotency claims (100 keys a call),
BatchWriteItem of events then claims (25 items a call), then one SQS message per user
(SendMessageBatch of 10). The reply is sent after all of that:

| path | threads | events/s | duplicates/s (same events again) |
|---|---|---|---|
| `log_events`, client-timed events | 4 | {i4["events_per_s"]:,.0f} | {i4d:,.0f} |
| `log_events`, client-timed events | 16 | {i16["events_per_s"]:,.0f} | {i16d:,.0f} |
| `log_events`, server-timed events (conditional claim each) | 16 | {untimed:,.0f} | |
| POST /events through the Lambda handler (Mangum) | 16 | {r["http"]["events_per_s"]:,.0f} | |
| `log_events` with AWS calls answered instantly (this process's own cost) | 4 | {own:,.0f} | |

Per request of 500 events that is ≈ 50 emulator calls (5 BatchGetItem, 40 BatchWriteItem, 5
SendMessageBatch), and the emulator's time is nearly all of it: the process itself handles
{own:,.0f} events/s, far above the 2,000/s target, so against DynamoDB and SQS (network
waits that 16 threads overlap) one process meets the target; against moto on these two
shared cores it does not.

Each request's messages go to a fresh queue (created outside the timing), standing in for a
consumer that keeps the queue short: moto's SendMessage is O(backlog) — it counts the visible
messages on every send — and with thousands waiting it took ≈ 0.5 s a call here.

The emulator is the ceiling: raw moto PutItem runs at {r["moto"]["putitem_per_s_1t"]:,.0f}/s on
one thread and {r["moto"]["putitem_per_s_16t"]:,.0f}/s on 16 (its server holds the GIL on
these two shared cores), which is why server-timed events — one conditional PutItem each —
are so much slower here. Against DynamoDB a PutItem is ≈ 5 ms of network wait and no local
CPU, so 16 threads give ≈ 3,000 claims/s per process, and Lambda scales out on top.
TransactWriteItems was rejected: moto copies the whole table for each transaction item
(quadratic), and one duplicate cancels the whole transaction.

**Event → profile latency** — one event POSTed, the profile queue long-polled (1 s waits, like
the SQS event source mapping without its batching window), the update-profile handler run on
the received batch; measured until that user's profile is written in the edge store
({lat["all"]["n"]} samples):

| user | n | p50 | p95 |
|---|---|---|---|
{_row("new (first profile: rebuild from the log)", lat["new"])}
{_row("returning (incremental)", lat["returning"])}
{_row("all", lat["all"])}

In AWS the template's `MaximumBatchingWindowInSeconds: 1` adds up to 1 s of batching before
the handler runs (it trades latency for fewer invocations under load); set it to 0 for the
lowest latency. Noise: the 2 cores are shared with other work; repeat runs varied by ±20 %.
{_replay_md(r.get("replay")) or _previous_replay_md()}"""


def _previous_replay_md() -> str:
    """The replay block of the current BENCHMARKS.md, kept when this run did not replay."""
    from bench._report import BENCHMARKS

    text = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else ""
    start = text.find("**Full Online Retail replay**")
    end = text.find("<!-- /bench:events -->")
    return "\n" + text[start:end].rstrip() + "\n" if 0 <= start < end else ""


def _replay_md(rp: dict[str, Any] | None) -> str:
    if not rp:
        return ""
    lines = [
        "",
        "**Full Online Retail replay** (`recsys events online_retail.csv.gz` on a fresh moto",
        "stack: 536,247 events logged exactly once, then every first profile built in-process",
        "from the events just logged; then the nightly aggregates over the same events):",
        "",
        f"- catalog: {rp['catalog_products']:,} products embedded and stored in "
        f"{rp['catalog_s']:.0f} s",
        f"- events + profiles: {rp['replay_s']:.0f} s ({rp['users']:,} user and session profiles)",
        f"- aggregates (popularity, trending, co-purchase over {rp['aggregates']['baskets']:,} "
        f"baskets; {rp['aggregates']['with_neighbours']:,} products with neighbours): "
        f"{rp['refresh_s']:.0f} s, including re-reading and validating the file",
        "- `recsys refresh` itself is not timed here: it scans the log, and moto sorts its whole",
        "  table (1.07 M items with the idempotency claims) for every Scan page and Query, so",
        "  one call takes tens of seconds at this size; DynamoDB reads a partition directly.",
        "",
        "What three customers bought most, and the products nearest to their long-term vector",
        "(✓ = they bought it):",
        "",
    ]
    for c in rp["customers"]:
        near = "; ".join(f"{t} ({s:.2f}{' ✓' if mine else ''})" for t, s, mine in c["nearest"])
        lines += [
            f"- **{c['customer']}** — bought: {', '.join(c['bought'])}. "
            f"Top categories: {', '.join(c['top_categories'])}.",
            f"  Nearest: {near}",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
