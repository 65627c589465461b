"""Latency of the fused search (what GET /search runs) at 10k and 100k products, docs/BENCHMARKS.md.

Products: real Online Retail titles, each repeated with a variant word so the catalog reaches the
size with a realistic vocabulary (their "keywords" sparse vectors are the real ones); their dense
vectors are random unit vectors clustered per title (latency does not depend on what the vectors
mean, and encoding 100k texts would take the bench most of its time). Queries: the query set's,
encoded by the real shipped encoder inside each search, as the route does. Measured on qdrant-edge
before ``optimize()`` (exact dense search; the sparse index is always an inverted index), and
after it (HNSW + int8) at 100k when ``--optimize`` is given.

One search = query encoding + dense top-50 + keyword top-50 + one batched single-token probe per
query token + fusion. Run: ``nice -n 10 .venv/bin/python -m bench.search_latency``.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench._report import machine_line, write_section
from bench.search_queryset import DEFAULT_CATALOG, FULL_OUT, ROOT, load_queries
from recsys.catalog.categories import category_levels
from recsys.encoder import TextEncoder
from recsys.search import ProductSearch, keyword_vector, tuning_for
from recsys.store import PointIn, products_spec
from recsys.store.edge import EdgeStore

VARIANTS = "red blue green ivory pink small large mini vintage retro set gift assorted".split()  # noqa: SIM905


def catalog(n: int, base: Sequence[dict[str, object]], dim: int, seed: int = 1) -> list[PointIn]:
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    centres = rng.standard_normal((len(base), dim)).astype(np.float32)
    points = []
    for i in range(n):
        j = i % len(base)
        row = dict(base[j])
        if i >= len(base):
            row["title"] = f"{row['title']} {pick.choice(VARIANTS).upper()} {i // len(base)}"
        key = f"P{i:06d}"
        row["product_id"] = key
        payload = {**row, "category_levels": category_levels(str(row.get("category") or ""))}
        vec = centres[j] + 0.5 * rng.standard_normal(dim).astype(np.float32)
        points.append(
            PointIn(key, {"text": vec}, payload, {"keywords": keyword_vector(payload, key)})
        )
    return points


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def measure(search: ProductSearch, queries: Sequence[str], repeats: int) -> list[float]:
    for q in queries[:10]:  # warm the encoder and the store
        search.search(q, limit=10)
    times = []
    for _ in range(repeats):
        for q in queries:
            t0 = time.perf_counter()
            search.search(q, limit=10)
            times.append((time.perf_counter() - t0) * 1000)
    return times


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--model", default="all-MiniLM-L6-v2-int8")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--optimize", action="store_true", help="also after optimize() (HNSW)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)

    from recsys.datasets.online_retail import load_catalog

    base = load_catalog(DEFAULT_CATALOG)
    texts = [q["query"] for q in load_queries(FULL_OUT)][: args.queries]
    encoder = TextEncoder(ROOT / "models_onnx" / args.model)
    t0 = time.perf_counter()
    for q in texts:
        encoder.encode([q])
    encode_ms = (time.perf_counter() - t0) * 1000 / len(texts)
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            store = EdgeStore(Path(tmp) / "qdrant")
            store.ensure_collection(products_spec(size=encoder.dim))
            t0 = time.perf_counter()
            points = catalog(n, base, encoder.dim)
            for start in range(0, n, 1000):
                store.upsert("products", points[start : start + 1000])
            load_s = time.perf_counter() - t0
            search = ProductSearch(
                store=store, collection="products", encoder=encoder, tuning=tuning_for(args.model)
            )
            phases = [("exact (before optimize)", measure(search, texts, args.repeats))]
            if args.optimize and n == max(args.sizes):
                t1 = time.perf_counter()
                store.optimize()
                phases.append(
                    (
                        f"HNSW + int8 (optimize {time.perf_counter() - t1:.0f} s)",
                        measure(search, texts, args.repeats),
                    )
                )
            store.close()
        for label, times in phases:
            rows.append(
                f"| {n:,} | {label} | {percentile(times, 50):.1f} | {percentile(times, 99):.1f} "
                f"| {len(times)} | {load_s:.0f} s |"
            )
            print(rows[-1], flush=True)
    body = "\n".join(
        [
            "## search (fused, GET /search)",
            "",
            "Fused search as GET /search runs it (`recsys.search.ProductSearch`), "
            f"`bench/search_latency.py`; {machine_line()}. Encoder {args.model} "
            f"(query encoding alone ≈ {encode_ms:.1f} ms of each search); qdrant-edge.",
            "",
            "| products | dense index | p50 ms | p99 ms | searches | load (upsert) |",
            "|---:|---|---:|---:|---:|---:|",
            *rows,
        ]
    )
    print(body)
    if args.write:
        write_section("search (fused, GET /search)", body)


if __name__ == "__main__":
    main()
