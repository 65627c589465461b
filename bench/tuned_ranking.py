"""Latency of the fitted rankings in the recommend path, against the fixed blend.

The synthetic store of ``bench.recommend`` (clustered 384-d products with shop-like payloads,
2,000 user profiles, aggregates with 50 co-purchase neighbours per purchased product), at
100k products by default. Three configurations answer the same personalised requests through
``Recommender.for_user`` (profile read, candidates from every source, payloads and vectors,
features, score, rules; no reply cache, diversity 0): the fixed blend (no fitted ranking in the
aggregates), a tuned weighted sum and the learned (listwise) ranker, the last two kept inside
the aggregates exactly as the nightly job keeps them. Item statistics cover every product.

Run: ``python -m bench.tuned_ranking [--size 100000] [--requests 300] [--optimize]``; prints
JSON (p50 / p95 / p99 in ms per configuration) and writes the "tuned ranking" section of
docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench._report import machine_line, write_section
from bench.recommend import USERS, _aggregates, _users
from bench.search import make_catalog
from recsys.core.config import Settings
from recsys.ranking.features import FEATURES
from recsys.ranking.fitted import FittedRanking, ModeFit, attach
from recsys.ranking.item_stats import ItemStats
from recsys.ranking.learned import DESIGN_NAMES, LinearRanker, WeightedSum
from recsys.ranking.service import Recommender
from recsys.store import ensure_collections, open_store


def _stats(cat: Any, rng: np.random.Generator, now: float) -> ItemStats:
    keys = list(cat.keys)
    return ItemStats(
        buyers={k: int(rng.integers(1, 500)) for k in keys},
        repeat_rate={k: float(rng.random()) for k in keys},
        interval_days={k: float(rng.integers(3, 60)) for k in keys},
        first_seen={k: now - float(rng.integers(1, 400)) * 86400 for k in keys},
        price={
            k: float(p.payload.get("price") or 10.0) for k, p in zip(keys, cat.points, strict=True)
        },
        category={
            k: str(p.payload.get("category") or "") for k, p in zip(keys, cat.points, strict=True)
        },
        as_of=now,
    )


def _fitted(kind: str, stats: ItemStats, rng: np.random.Generator, now: float) -> FittedRanking:
    ws = WeightedSum(
        {"repeat": 3.0, "collaborative": 0.5, "content": 0.5, "popularity": 1.0, "category": 0.5},
        {"popularity": "pop_rank"},
    )
    scorer: WeightedSum | LinearRanker = ws
    if kind == "learned":
        d = len(DESIGN_NAMES)
        scorer = LinearRanker(
            mean=rng.random(d).astype(np.float32),
            std=np.ones(d, dtype=np.float32),
            coef=rng.normal(size=d).astype(np.float32),
            base=ws,
            base_coef=1.0,
        )
    fit = ModeFit(scorer, chosen="learned" if kind == "learned" else "weighted_sum")
    return FittedRanking(
        version=f"bench-{kind}",
        fitted_at=now,
        as_of=now,
        status="fitted",
        modes={"repeat": fit, "new": fit},
        stats=stats,
    )


def _time(rec: Recommender, users: list[str]) -> dict[str, float]:
    took = []
    for u in users:
        t0 = time.perf_counter()
        reply = rec.for_user(u, limit=10)
        took.append((time.perf_counter() - t0) * 1000)
        assert reply.items and reply.strategy == "personalized", reply
    took.sort()
    return {
        "p50_ms": round(statistics.median(took), 2),
        "p95_ms": round(took[int(0.95 * (len(took) - 1))], 2),
        "p99_ms": round(took[int(0.99 * (len(took) - 1))], 2),
        "requests": len(took),
    }


def run(n: int, *, requests: int, optimize: bool) -> dict[str, Any]:
    rng = np.random.default_rng(3)
    now = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-tuned-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", cache_ttl_recommend_s=0)
        store = open_store(settings)
        ensure_collections(store, settings)
        cat = make_catalog(n)
        for i in range(0, n, 1000):
            store.upsert(settings.products_collection, cat.points[i : i + 1000])
        users = _users(cat, rng, now)
        for i in range(0, len(users), 500):
            store.upsert(settings.users_collection, users[i : i + 500])
        if optimize:
            store.optimize()
        stats = _stats(cat, rng, now)
        picks = random.Random(5)
        asked = [f"user{picks.randrange(USERS)}" for _ in range(requests)]
        rows: dict[str, dict[str, float]] = {}
        for kind in ("fixed blend", "tuned weighted sum", "learned ranker"):
            aggs = _aggregates(cat, users, rng)
            if kind != "fixed blend":
                attach(
                    aggs, _fitted("learned" if kind == "learned ranker" else "ws", stats, rng, now)
                )
            rec = Recommender(settings=settings, store=store, aggregates=lambda a=aggs: a)
            _time(rec, asked[:20])  # warm-up
            rows[kind] = _time(rec, asked)
        store.close()
    return {"n": n, "features": len(FEATURES), "optimized": optimize, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--optimize", action="store_true", help="build HNSW first")
    parser.add_argument("--no-write", action="store_true", help="only print")
    args = parser.parse_args(argv)
    result = run(args.size, requests=args.requests, optimize=args.optimize)
    print(json.dumps(result))
    if args.no_write:
        return 0
    lines = [
        "| configuration | p50 ms | p95 ms | p99 ms | requests |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in result["rows"].items():
        lines.append(
            f"| {name} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['requests']} |"
        )
    search = "HNSW after optimize()" if args.optimize else "exact search (before optimize())"
    write_section(
        "tuned ranking",
        f"`Recommender.for_user` at {result['n']:,} synthetic products, {search}, "
        f"{len(FEATURES)} features per candidate, reply cache off. {machine_line()}\n\n"
        + "\n".join(lines),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
