"""Moving a populated store from MiniLM to the multilingual encoder (``recsys reembed``).

    .venv/bin/python -m bench.reembed [--products 0] [--events 20000]

Writes the "reembed" section of docs/BENCHMARKS.md. A fresh qdrant-edge store gets the Online
Retail catalog (≈3.8k products) embedded with MiniLM and the first ``--events`` purchases of
the table with their shoppers' profiles (not timed). Then, in one run: the bare multilingual
encoder on the same product texts (one call), and ``reembed`` to the multilingual space while
a second thread keeps asking for similar items, search and "for you" (latency before and
during the run, read from the same thread). The ratio re-embed / bare encoder is what the
re-embed costs over encoding alone.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench._report import machine_line, write_section

ROOT = Path(__file__).resolve().parents[1]
RETAIL = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"


def _populate(data_dir: Path, products: int, events: int) -> tuple[list[str], list[str]]:
    from recsys.catalog.embed import DirectEmbedQueue, Embedder
    from recsys.catalog.ingest import ingest_rows
    from recsys.core.config import Settings
    from recsys.datasets.online_retail import load_catalog
    from recsys.datasets.retail_events import read_retail_events
    from recsys.events.models import validate_events
    from recsys.profiles.worker import ProfileWorker
    from recsys.services import Services

    rows: list[dict[str, Any]] = load_catalog(RETAIL)
    if products:
        rows = rows[:products]
    services = Services(Settings(data_dir=data_dir))
    queue = DirectEmbedQueue(Embedder.from_services(services), background=True)
    ingest_rows(rows, store=services.store, queue=queue, settings=services.settings)
    queue.close()
    known = {r["product_id"] for r in rows}
    raw = [
        e for e in itertools.islice(read_retail_events(RETAIL), events) if e["product_id"] in known
    ]
    good, _ = validate_events(raw, now=time.time() + 86400 * 365 * 30)
    services.event_log.write(good)
    owners = sorted({e.owner for e in good if e.owner})
    worker = ProfileWorker(services)
    for i in range(0, len(owners), 64):
        worker.update(*owners[i : i + 64])
    users = [o[2:] for o in owners if o.startswith("u#")]
    services.close()
    return [r["product_id"] for r in rows], users


def _reads(services: Any, ids: list[str], users: list[str], stop: threading.Event) -> list[float]:
    ranker = services.recommender.ranker
    out: list[float] = []
    for i in itertools.count():
        if stop.is_set():
            return out
        start = time.perf_counter()
        match i % 3:
            case 0:
                ranker.similar(ids[i % len(ids)], limit=10)
            case 1:
                ranker.search("christmas lights", user_id=None, limit=10)
            case _:
                ranker.for_user(users[i % len(users)], limit=10)
        out.append((time.perf_counter() - start) * 1000)
    return out


def _ms(values: list[float], q: float) -> str:
    if not values:
        return "—"
    return f"{statistics.quantiles(values, n=100)[int(q) - 1]:.1f}" if len(values) > 1 else "—"


def _multilingual(data_dir: Path) -> Any:
    from recsys.core.config import Settings

    return Settings(
        data_dir=data_dir,
        encoder_model="multilingual",
        cache_ttl_recommend_s=0,
        cache_ttl_similar_s=0,
        cache_ttl_search_s=0,
    )


def run(*, products: int, events: int) -> str:
    from recsys.catalog.text import product_text
    from recsys.encoder import get_encoder
    from recsys.jobs.reembed import ReembedProgress, reembed
    from recsys.services import Services
    from recsys.store import open_store_ready

    with tempfile.TemporaryDirectory(prefix="bench-reembed-") as tmp:
        quiet_dir, data = Path(tmp) / "quiet", Path(tmp) / "served"
        ids, users = _populate(data, products, events)
        shutil.copytree(data, quiet_dir)  # the same store twice: one moved alone, one serving
        settings = _multilingual(data)
        store = open_store_ready(settings)
        texts = [product_text(r.payload) for r in store.scroll("products", batch_size=512)]
        store.close()
        bare = get_encoder(settings)
        bare.encode(texts[:64])  # the session warm, as reembed's is after its first batch
        start, cpu = time.perf_counter(), time.process_time()
        bare.encode(texts)
        bare_s, bare_cpu = time.perf_counter() - start, time.process_time() - cpu

        # Alone: nothing else in the process.
        quiet = Services(_multilingual(quiet_dir))
        start = time.perf_counter()
        alone = reembed(store=quiet.store, log=quiet.event_log, settings=quiet.settings)
        alone_s = time.perf_counter() - start
        alone_grace = quiet.store.follow_every_s * 2 + quiet.store.pin_s + 0.5  # reembed's wait
        quiet.close()

        services = Services(settings)
        # Reads before: the mix on a thread for a few seconds, nothing else running.
        stop = threading.Event()
        before: list[float] = []
        reader = threading.Thread(target=lambda: before.extend(_reads(services, ids, users, stop)))
        reader.start()
        time.sleep(5.0)
        stop.set()
        reader.join()
        stop = threading.Event()
        during: list[float] = []
        reader = threading.Thread(target=lambda: during.extend(_reads(services, ids, users, stop)))
        progress: list[ReembedProgress] = []
        load_before = os.getloadavg()[0]
        reader.start()
        start = time.perf_counter()
        report = reembed(
            store=services.store,
            log=services.event_log,
            settings=settings,
            aggregates=services.aggregates,
            progress=progress.append,
            every_s=1.0,
        )
        total_s = time.perf_counter() - start
        stop.set()
        reader.join()
        load_after = os.getloadavg()[0]
        services.close()
    n = report.products_embedded
    prod_s = report.seconds.get("products", 0.0)
    alone_prod_s = alone.seconds.get("products", 0.0)
    prof_s = report.seconds.get("profiles", 0.0)
    lines = [
        "## reembed",
        "",
        f"{machine_line()} · `python -m bench.reembed --products {products} --events {events}`",
        "",
        f"A qdrant-edge store holding the Online Retail catalog ({n} products) in MiniLM's space "
        f"and {report.profiles_rebuilt} shoppers' profiles (from the first {events} rows of the "
        "table) moved to the multilingual encoder's space by `reembed`, while a second thread "
        'kept asking for similar items, search and "for you" (no reply cache). Bare encoder = '
        "the multilingual `TextEncoder.encode` on the same product texts in one call, in the "
        "same run. Alone = the same store copied before, moved with nothing else running in "
        "the process. 1 ONNX thread, reembed batches of 1024 products (its default: the encoder "
        "pads each to its longest text, so larger batches waste less).",
        "",
        "| measure | value |",
        "| --- | ---: |",
        f"| bare multilingual encoder, {len(texts)} product texts | {bare_s:.2f} s wall, "
        f"{bare_cpu:.2f} s CPU ({len(texts) / bare_s:,.0f} texts/s) |",
        f"| re-embed products phase, alone (scroll, encode, write with BM25 keywords) | "
        f"{alone_prod_s:.2f} s (**{alone.products_per_s:,.0f} products/s**) |",
        f"| products phase alone / bare encoder (wall; CPU) | **{alone_prod_s / bare_s:.2f}**; "
        f"{alone.cpu_seconds.get('products', 0.0) / bare_cpu:.2f} |",
        f"| whole run alone (two passes, switch, {alone_grace:.1f} s grace, late pass, drop) | "
        f"{alone_s:.2f} s |",
        f"| re-embed products phase, serving reads meanwhile | {prod_s:.2f} s "
        f"(**{report.products_per_s:,.0f} products/s**) |",
        f"| products phase serving / bare encoder (wall) | {prod_s / bare_s:.2f} |",
        f"| profiles rebuilt from the event log in the new space | {report.profiles_rebuilt} in "
        f"{prof_s:.2f} s ({report.profiles_rebuilt / max(prof_s, 1e-9):,.0f}/s) |",
        f"| whole run serving reads | {total_s:.2f} s |",
        f"| reads served during the run (one thread) | {len(during)} |",
        f"| read latency p50 / p95 before (ms) | {_ms(before, 50)} / {_ms(before, 95)} |",
        f"| read latency p50 / p95 during (ms) | {_ms(during, 50)} / {_ms(during, 95)} |",
        "",
        f"Phases (s): {report.seconds}. The reads share the process (and its GIL) with the "
        "re-embed: their latency during the run is what shoppers see while a store changes "
        f"encoder. 1-min load average {load_before:.1f} before, {load_after:.1f} after.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=0, help="first N products (0: all)")
    parser.add_argument("--events", type=int, default=20_000, help="first N rows of events")
    args = parser.parse_args()
    section = run(products=args.products, events=args.events)
    write_section("reembed", section)
    print(section)


if __name__ == "__main__":
    main()
