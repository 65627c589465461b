"""Recommend latency: the warm, in-process Lambda handler over the embedded edge store.

Per catalog size (10k and 100k synthetic products, clustered 384-d vectors with shop-like
payloads from ``bench.search.make_catalog``), 2,000 synthetic user profiles and aggregates
(popularity, trending, 50 co-purchase neighbours per purchased product):

- personalised list, cache off: GET /users/{id}/recommendations through Mangum with an API
  Gateway v2 event — profile read, ANN by long- and short-term vectors, similar users,
  co-purchase of recent purchases, hybrid score, filters, MMR (diversity 0.3);
- the same with a category + price filter;
- similar items and trending, cache off;
- cache hit: the same personalised request repeated with the in-process cache on.

Rows are measured with exact search first, then again after ``optimize()`` builds HNSW (the
store's policy: after bulk loads and nightly); ``--no-optimize`` skips that part.
Run: ``python -m bench.recommend [--sizes 10000] [--no-optimize]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench._report import machine_line, write_section
from bench.search import make_catalog
from recsys.aggregates.compute import Aggregates
from recsys.api.app import build_app
from recsys.api.routes import recommend
from recsys.cache import MemoryCache
from recsys.core.config import Settings
from recsys.profiles.schema import ProfilePayload
from recsys.ranking.cached import CachedRecommender
from recsys.ranking.service import Recommender
from recsys.services import Services
from recsys.store import ensure_collections, open_store
from recsys.store.base import PointIn, VectorStore

EVENTS = Path(__file__).resolve().parents[1] / "shared" / "events"
USERS = 2000


def _users(cat: Any, rng: np.random.Generator, now: float) -> list[PointIn]:
    n = len(cat.keys)
    out = []
    for u in range(USERS):
        bought = rng.choice(n, size=20, replace=False)
        long = cat.unit[bought].mean(axis=0)
        short = cat.unit[bought[:3]].mean(axis=0)
        out.append(
            PointIn(
                key=f"user{u}",
                vectors={
                    "long": (long / np.linalg.norm(long)).astype(np.float32),
                    "short": (short / np.linalg.norm(short)).astype(np.float32),
                },
                payload=ProfilePayload(
                    kind="user",
                    recent_purchases=[cat.keys[i] for i in bought],
                    recent_product_ids=[cat.keys[i] for i in bought[:10]],
                    last_event_ts=now - 600,
                    short_as_of=now - 600,
                    profile_version=1,
                ).to_payload(),
            )
        )
    return out


def _aggregates(cat: Any, users: list[PointIn], rng: np.random.Generator) -> Aggregates:
    n = len(cat.keys)
    purchased = {p for u in users for p in ProfilePayload.read(u.payload).recent_purchases}
    popular = rng.choice(n, size=min(5000, n), replace=False)
    neighbours = {
        p: [
            (cat.keys[j], float(s))
            for j, s in zip(rng.choice(n, 50), np.sort(rng.random(50))[::-1], strict=True)
        ]
        for p in purchased
    }
    return Aggregates(
        popularity_scores={cat.keys[i]: float(rng.random()) for i in popular},
        trending_scores={cat.keys[i]: float(rng.random() * 5) for i in popular[:300]},
        neighbours=neighbours,
        categories={k: p.payload["category"] for k, p in zip(cat.keys, cat.points, strict=True)},
    )


def _event(name: str, path: str, query: dict[str, str]) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    event["rawPath"] = path
    event["requestContext"]["http"]["path"] = path
    event["rawQueryString"] = qs
    event["queryStringParameters"] = dict(query) or None
    return event


def _serving_handler(
    settings: Settings, store: VectorStore, aggs: Aggregates
) -> tuple[Any, CachedRecommender]:
    """The recommend function's handler as Lambda runs it, over ``store`` and ``aggs``, with an
    in-process reply cache; and the cached recommender behind it."""
    from mangum import Mangum

    rec = Recommender(settings=settings, store=store, aggregates=lambda: aggs)
    ctx = CachedRecommender(rec, cache=MemoryCache(), settings=settings)
    app = build_app(recommend.router, services=Services(settings, recommender=ctx))
    return Mangum(app, lifespan="off"), ctx


def _user_events(
    picks: random.Random, users: int, requests: int, extra: dict[str, str]
) -> list[dict[str, Any]]:
    """``requests`` "for you" requests of random users among the first ``users``."""
    return [
        _event(
            "apigw_get_recommendations",
            f"/users/user{picks.randrange(users)}/recommendations",
            {"limit": "10", "diversity": "0.3", **extra},
        )
        for _ in range(requests)
    ]


def _time(handler: Any, events: list[dict[str, Any]]) -> dict[str, float]:
    took = []
    for ev in events:
        t0 = time.perf_counter()
        result = handler(ev, None)
        took.append((time.perf_counter() - t0) * 1000)
        assert result["statusCode"] == 200, result
    took.sort()
    return {
        "p50": statistics.median(took),
        "p99": took[min(len(took) - 1, round(0.99 * (len(took) - 1)))],
        "n": len(took),
    }


def _time_lookup(ctx: Any, user: str, count: int) -> dict[str, float]:
    """What a cache hit costs below FastAPI and Mangum: the profile read and the cache get."""
    from recsys.cache import cache_key

    took = []
    for _ in range(count):
        t0 = time.perf_counter()
        record = ctx.ranker.profile(user, [])
        version = ProfilePayload.read(record.payload).profile_version if record else "none"
        key = cache_key(
            ctx.settings.cache_prefix,
            "user",
            subject=user,
            version=version,
            params={"limit": 10, "diversity": 0.3},
        )
        ctx.cache.get(key)
        took.append((time.perf_counter() - t0) * 1000)
    took.sort()
    return {"p50": statistics.median(took), "p99": took[round(0.99 * (len(took) - 1))], "n": count}


def run_size(n: int, *, requests: int, optimize: bool) -> dict[str, Any]:

    rng = np.random.default_rng(3)
    now = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-rec-") as tmp:
        settings = Settings(
            data_dir=Path(tmp) / "data",
            cache_ttl_recommend_s=0,
            cache_ttl_similar_s=0,
            cache_ttl_trending_s=0,
        )
        store: VectorStore = open_store(settings)
        ensure_collections(store, settings)
        cat = make_catalog(n)
        t0 = time.perf_counter()
        for i in range(0, n, 1000):
            store.upsert(settings.products_collection, cat.points[i : i + 1000])
        users = _users(cat, rng, now)
        for i in range(0, len(users), 500):
            store.upsert(settings.users_collection, users[i : i + 500])
        load_s = time.perf_counter() - t0
        opt_s = None
        aggs = _aggregates(cat, users, rng)
        handler, ctx = _serving_handler(settings, store, aggs)
        picks = random.Random(5)

        def user_events(extra: dict[str, str]) -> list[dict[str, Any]]:
            return _user_events(picks, USERS, requests, extra)

        def similar_events() -> list[dict[str, Any]]:
            return [
                _event(
                    "apigw_get_similar",
                    f"/products/{cat.keys[picks.randrange(n)]}/similar",
                    {"limit": "10"},
                )
                for _ in range(requests)
            ]

        _time(handler, user_events({})[:20])  # warm-up: first-call costs are not steady state
        rows: dict[str, dict[str, float]] = {}
        rows["personalised (cache off)"] = _time(handler, user_events({}))
        rows["personalised + category & price filter"] = _time(
            handler, user_events({"category": "Top3", "price_max": "60"})
        )
        rows["similar items"] = _time(handler, similar_events())
        rows["trending"] = _time(
            handler, [_event("apigw_get_trending", "/trending", {"limit": "10"})] * requests
        )
        if optimize:
            t0 = time.perf_counter()
            store.optimize()
            opt_s = time.perf_counter() - t0
            rows["personalised, after optimize() (HNSW + int8)"] = _time(handler, user_events({}))
            rows["personalised + filter, after optimize()"] = _time(
                handler, user_events({"category": "Top3", "price_max": "60"})
            )
            rows["similar items, after optimize()"] = _time(handler, similar_events())
        ctx.settings = settings.model_copy(update={"cache_ttl_recommend_s": 300})
        hit = user_events({})[:1] * (requests + 1)
        _time(handler, hit[:1])
        rows["cache hit (in-process cache)"] = _time(handler, hit[1:])
        rows["cache hit, without HTTP framing (profile read + cache get)"] = _time_lookup(
            ctx, hit[0]["rawPath"].split("/")[2], requests
        )
        store.close()
    return {"n": n, "load_s": load_s, "optimize_s": opt_s, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument(
        "--no-optimize", action="store_true", help="skip the HNSW build and its rows"
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    results = [
        run_size(int(s), requests=args.requests, optimize=not args.no_optimize)
        for s in args.sizes.split(",")
    ]
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()[0]
    lines = [
        "## recommend",
        "",
        f"`bench/recommend.py` · {machine_line()} · whole run {wall:.0f} s · load average "
        f"{load_before:.1f} before, {load_after:.1f} after (other work shared the 2 cores).",
        "",
        "Warm, in-process Lambda handler (Mangum + FastAPI, API Gateway v2 events) over the "
        "embedded qdrant-edge store, "
        + "exact search (before `optimize()`)"
        + (
            "; the rows marked so again after `optimize()` built HNSW + int8"
            if not args.no_optimize
            else ""
        )
        + f"; {USERS:,} synthetic profiles, aggregates with 50 co-purchase neighbours per "
        "purchased product; server-side cache off except in the cache-hit row. Targets at 100k: "
        "personalised p50 ≤ 15 ms, p99 ≤ 50 ms; cache hit ≤ 2 ms.",
        "",
        "| products | request | p50 ms | p99 ms | requests |",
        "|---:|---|---:|---:|---:|",
    ]
    for res in results:
        for name, row in res["rows"].items():
            lines.append(
                f"| {res['n']:,} | {name} | {row['p50']:.2f} | {row['p99']:.2f} | {row['n']:.0f} |"
            )
    lines.append("")
    for res in results:
        opt = f", optimize() {res['optimize_s']:.0f} s" if res["optimize_s"] is not None else ""
        lines.append(f"- {res['n']:,} products: load {res['load_s']:.0f} s{opt}")
    lines += [
        "",
        "Reading: a personalised request makes one product search (long-term vector leaned by the "
        "session vector), one users search, and reads the 100 shortlisted candidates; exact "
        "search at 100k scans every vector, so the store's policy of calling `optimize()` after "
        "bulk loads is what brings it down to the HNSW rows. A cache hit is the profile read and "
        "the cache get (≈ 0.04 ms) plus Mangum and FastAPI; replies are serialised once, not "
        "re-validated, and the routes run on the event loop rather than a worker thread (a "
        "Lambda container serves one request at a time). The machine's load average is in the "
        "header: p99s move most with it.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("recommend", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
