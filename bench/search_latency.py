"""Latency of the fused search (what GET /search runs) at 10k and 100k products, docs/BENCHMARKS.md.

Products: real Online Retail titles, each repeated with a variant word so the catalog reaches the
size with a realistic vocabulary (their "keywords" sparse vectors are the real ones); their dense
vectors are random unit vectors clustered per title (latency does not depend on what the vectors
mean, and encoding 100k texts would take the bench most of its time). Queries: the query set's,
encoded by the real shipped encoder inside each search, as the route does. Measured on qdrant-edge
before ``optimize()`` (exact dense search; the sparse index is always an inverted index), and
after it (HNSW + int8) at 100k when ``--optimize`` is given.

One search = query encoding + dense top-50 + keyword top-50 + one batched single-token probe per
query token + fusion. With ``--second MODEL`` (default: the encoder that pairs with ``--model``,
``recsys.search.second.second_model``; ``none``: off) every product also carries that encoder's
vector ``text__<model>`` (random, clustered the same way) and each search is measured twice on
the same store: the primary encoder alone, and both encoders fused (a second query encoding
and dense top-50), as GET /search runs once the products carry the second vector.

Run: ``nice -n 10 .venv/bin/python -m bench.search_latency``.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench._report import machine_line, write_section
from bench.search_queryset import DEFAULT_CATALOG, FULL_OUT, ROOT, load_queries
from recsys.catalog.categories import category_levels
from recsys.encoder import TextEncoder
from recsys.search import (
    DenseSource,
    ProductSearch,
    keyword_vector,
    pair_tuning,
    second_vector_name,
    tuning_for,
)
from recsys.search.second import second_model
from recsys.store import PointIn, products_spec
from recsys.store.edge import EdgeStore

VARIANTS = "red blue green ivory pink small large mini vintage retro set gift assorted".split()  # noqa: SIM905


def catalog(
    n: int, base: Sequence[dict[str, object]], dims: Mapping[str, int], seed: int = 1
) -> list[PointIn]:
    """``n`` products, one random vector per named vector of ``dims``, clustered per title."""
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    centres = {
        name: rng.standard_normal((len(base), dim)).astype(np.float32) for name, dim in dims.items()
    }
    points = []
    for i in range(n):
        j = i % len(base)
        row = dict(base[j])
        if i >= len(base):
            row["title"] = f"{row['title']} {pick.choice(VARIANTS).upper()} {i // len(base)}"
        key = f"P{i:06d}"
        row["product_id"] = key
        payload = {**row, "category_levels": category_levels(str(row.get("category") or ""))}
        vectors = {
            name: centres[name][j] + 0.5 * rng.standard_normal(dim).astype(np.float32)
            for name, dim in dims.items()
        }
        points.append(PointIn(key, vectors, payload, {"keywords": keyword_vector(payload, key)}))
    return points


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def encode_time(encoder: TextEncoder, texts: Sequence[str]) -> float:
    """Milliseconds to encode one query, averaged over ``texts`` (after one warm-up)."""
    encoder.encode([texts[0]])
    t0 = time.perf_counter()
    for q in texts:
        encoder.encode([q])
    return (time.perf_counter() - t0) * 1000 / len(texts)


def engine(
    store: EdgeStore,
    encoder: TextEncoder,
    model: str,
    second: TextEncoder | None,
    second_name: str,
    *,
    dual: bool,
) -> ProductSearch:
    """The search over ``store``: the primary encoder alone, or both fused (the pair tuning)."""
    tuning = tuning_for(model)
    source = None
    if dual and second is not None and second_name:
        tuning = pair_tuning(model, second_name) or tuning
        floor = tuning.second_floor_dense
        source = DenseSource(
            second,
            second_vector_name(second_name),
            tuning.second_min_dense if tuning.second_min_dense is not None else tuning.min_dense,
            second_name,
            floor_dense=floor,
        )
    return ProductSearch(
        store=store, collection="products", encoder=encoder, tuning=tuning, second=source
    )


def measure_all(
    engines: Mapping[str, ProductSearch], queries: Sequence[str], repeats: int
) -> dict[str, list[float]]:
    """Each engine's per-search milliseconds, the engines taking turns query by query (so a
    change of the machine's load falls on all of them alike)."""
    for search in engines.values():
        for q in queries[:10]:  # warm the encoders and the store
            search.search(q, limit=10)
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(repeats):
        for q in queries:
            for name, search in engines.items():
                t0 = time.perf_counter()
                search.search(q, limit=10)
                times[name].append((time.perf_counter() - t0) * 1000)
    return times


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--model", default="all-MiniLM-L6-v2-int8")
    parser.add_argument("--second", default=None, help="second encoder (default: paired; none)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--optimize", action="store_true", help="also after optimize() (HNSW)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)

    from recsys.datasets.online_retail import load_catalog

    base = load_catalog(DEFAULT_CATALOG)
    texts = [q["query"] for q in load_queries(FULL_OUT)][: args.queries]
    encoder = TextEncoder(ROOT / "models_onnx" / args.model)
    chosen = second_model(args.model) if args.second is None else args.second
    second_name = chosen if chosen and chosen.lower() != "none" else ""
    second = TextEncoder(ROOT / "models_onnx" / second_name) if second_name else None
    encode_ms = {args.model: encode_time(encoder, texts)}
    dims = {"text": encoder.dim}
    if second is not None:
        encode_ms[second_name] = encode_time(second, texts)
        dims[second_vector_name(second_name)] = second.dim
    searches = len(texts) * args.repeats
    load_before = os.getloadavg()
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            store = EdgeStore(Path(tmp) / "qdrant")
            store.ensure_collection(replace(products_spec(size=encoder.dim), vectors=dims))
            t0 = time.perf_counter()
            points = catalog(n, base, dims)
            for start in range(0, n, 1000):
                store.upsert("products", points[start : start + 1000])
            load_s = time.perf_counter() - t0
            engines = {"one": engine(store, encoder, args.model, second, second_name, dual=False)}
            if second is not None:
                engines["both"] = engine(store, encoder, args.model, second, second_name, dual=True)
            phases = [("exact (before optimize)", measure_all(engines, texts, args.repeats))]
            if args.optimize and n == max(args.sizes):
                t1 = time.perf_counter()
                store.optimize()
                phases.append(
                    (
                        f"HNSW + int8 (optimize {time.perf_counter() - t1:.0f} s)",
                        measure_all(engines, texts, args.repeats),
                    )
                )
            store.close()
        for label, times in phases:
            one, both = times["one"], times.get("both")
            cells = f"{percentile(one, 50):.1f} | {percentile(one, 99):.1f}"
            if both is not None:
                cells += (
                    f" | {percentile(both, 50):.1f} | {percentile(both, 99):.1f} "
                    f"| {percentile(both, 50) / percentile(one, 50):.2f}×"
                )
            rows.append(f"| {n:,} | {label} | {cells} | {searches} | {load_s:.0f} s |")
            print(rows[-1], flush=True)
    encoding = ", ".join(f"{m} ≈ {ms:.1f} ms" for m, ms in encode_ms.items())
    if second is not None:
        what = (
            f'Encoders: {args.model} ("text") and {second_name} (`text__{second_name}`), both '
            f'vectors on every product; "one" searches with the first alone, "both" fuses '
            "the two dense lists (+ keywords), on the same store, query by query in turn"
        )
        header = (
            "| products | dense index | one p50 ms | one p99 ms | both p50 ms | both p99 ms "
            "| both / one (p50) | searches each | load (upsert) |"
        )
        sep = "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    else:
        what = f"Encoder {args.model}"
        header = "| products | dense index | p50 ms | p99 ms | searches | load (upsert) |"
        sep = "|---:|---|---:|---:|---:|---:|"
    load = os.getloadavg()
    notes = [
        "",
        f"1-min load average {load_before[0]:.1f} before, {load[0]:.1f} after (2 cores, "
        "shared). The keyword part (top 50 + one batched probe per token) runs on "
        "qdrant-edge's inverted index at every size; the dense part is exact until "
        "`optimize()`, HNSW after it.",
    ]
    if second is not None:
        notes[-1] += (
            " Both encoders cost a second query encoding and a second dense top-50; the two "
            "dense searches run one after the other."
        )
    body = "\n".join(
        [
            "## search (fused, GET /search)",
            "",
            "Fused search as GET /search runs it (`recsys.search.ProductSearch`), "
            f"`bench/search_latency.py`; {machine_line()}. {what}. Query encoding alone: "
            f"{encoding} a query; qdrant-edge.",
            "",
            header,
            sep,
            *rows,
            *notes,
        ]
    )
    print(body)
    if args.write:
        write_section("search (fused, GET /search)", body)


if __name__ == "__main__":
    main()
