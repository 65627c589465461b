"""Search latency of the vector-store backends on synthetic catalogs (docs/BENCHMARKS.md, search).

For each catalog size: top-10 search, unfiltered and filtered (top-level category + price range
+ in stock, ≈ 3-5 % of the catalog), through the ``VectorStore`` API as the system calls it.

- qdrant-edge: exact before ``optimize()``, then HNSW (m=16, ef_construct=100, int8 with
  rescoring, ef=128) after it; optimize time and recall@10 of HNSW against numpy exact.
- qdrant-client local mode (``:memory:``): exact brute force in Python, so few queries at 100k.

Run: ``.venv/bin/python -m bench.search`` (``--sizes 10000 --queries 50`` for a quick look).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench._report import machine_line, write_section
from recsys.store import Filters, PointIn, VectorStore, products_spec
from recsys.store.edge import EdgeParams, EdgeStore
from recsys.store.qdrant import QdrantStore

DIM = 384
TOP_CATEGORIES = 10
MID_PER_TOP = 5
LEAF_PER_MID = 4
#: qdrant-client local mode takes ~1.5 s per query at 100k: cap its queries there.
LOCAL_QUERY_CAP = {10_000: 60, 100_000: 8}
#: Give up on HNSW at a size when the optimize() estimate from the smaller size exceeds this.
OPTIMIZE_BUDGET_S = 420.0


@dataclass
class Catalog:
    points: list[PointIn]
    unit: np.ndarray  # (n, DIM) normalised vectors, row i = points[i]
    top: np.ndarray  # top-level category index per point
    price: np.ndarray
    in_stock: np.ndarray
    keys: list[str] = field(default_factory=list)


def make_catalog(n: int, seed: int = 42) -> Catalog:
    """Clustered unit vectors (one cluster per leaf category) with shop-like payloads."""
    rng = np.random.default_rng(seed)
    leaves = TOP_CATEGORIES * MID_PER_TOP * LEAF_PER_MID
    top_centres = rng.standard_normal((TOP_CATEGORIES, DIM))
    # A leaf's centre sits near its top-level centre: categories overlap like real catalogs.
    leaf_centres = np.repeat(top_centres, MID_PER_TOP * LEAF_PER_MID, axis=0) + 0.8 * (
        rng.standard_normal((leaves, DIM))
    )
    leaf = rng.integers(leaves, size=n)
    vectors = (leaf_centres[leaf] + 1.5 * rng.standard_normal((n, DIM))).astype(np.float32)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    top = leaf // (MID_PER_TOP * LEAF_PER_MID)
    mid = leaf // LEAF_PER_MID
    price = np.round(rng.lognormal(mean=3.3, sigma=0.9, size=n), 2)
    in_stock = rng.random(n) < 0.7
    active = rng.random(n) < 0.95
    brands = rng.integers(300, size=n)
    points = []
    keys = []
    for i in range(n):
        path = [
            f"Top{top[i]}",
            f"Top{top[i]} > Mid{mid[i]}",
            f"Top{top[i]} > Mid{mid[i]} > Leaf{leaf[i]}",
        ]
        key = f"P{i:06d}"
        keys.append(key)
        points.append(
            PointIn(
                key=key,
                vectors={"text": unit[i]},
                payload={
                    "title": f"Synthetic product {i}",
                    "description": "A product used to measure search latency.",
                    "category": path[-1],
                    "category_levels": path,
                    "brand": f"brand{brands[i]}",
                    "price": float(price[i]),
                    "currency": "GBP",
                    "in_stock": bool(in_stock[i]),
                    "is_active": bool(active[i]),
                    "created_at": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T12:00:00Z",
                    "popularity": float(rng.random()),
                    "tags": ["synthetic"],
                },
            )
        )
    return Catalog(points, unit, top, price, in_stock, keys)


@dataclass
class Workload:
    queries: np.ndarray
    filters: list[Filters]
    masks: list[np.ndarray]  # which catalog rows each filter admits (is_active ignored)


def make_workload(cat: Catalog, count: int, seed: int = 7) -> Workload:
    """Queries near random products; each filtered query takes that product's top category."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(len(cat.points), size=count)
    noise = 0.05 * rng.standard_normal((count, DIM)).astype(np.float32)
    queries = cat.unit[rows] + noise
    filters, masks = [], []
    for row in rows:
        low = float(rng.choice([10.0, 20.0, 30.0]))
        high = low + 40.0
        filters.append(
            Filters(
                categories=[f"Top{cat.top[row]}"],
                price_min=low,
                price_max=high,
                in_stock=True,
                is_active=None,
            )
        )
        masks.append(
            (cat.top == cat.top[row]) & (cat.price >= low) & (cat.price <= high) & cat.in_stock
        )
    return Workload(queries, filters, masks)


def exact_top10(cat: Catalog, query: np.ndarray, mask: np.ndarray | None) -> set[str]:
    scores = cat.unit @ (query / np.linalg.norm(query))
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    return {cat.keys[i] for i in np.argpartition(-scores, 10)[:10]}


@dataclass
class Row:
    backend: str
    mode: str
    n: int
    filtered: bool
    latencies_ms: list[float]
    recall: float | None = None

    def cells(self) -> list[str]:
        lat = np.array(self.latencies_ms)
        recall = "—" if self.recall is None else f"{self.recall:.3f}"
        return [
            self.backend,
            self.mode,
            f"{self.n:,}",
            "category + price + in_stock" if self.filtered else "none",
            f"{np.percentile(lat, 50):.2f}",
            f"{np.percentile(lat, 99):.2f}",
            str(len(lat)),
            recall,
        ]


def measure(
    store: VectorStore,
    work: Workload,
    *,
    n: int,
    backend: str,
    mode: str,
    filtered: bool,
    count: int,
    truth: list[set[str]] | None = None,
) -> Row:
    """Time ``count`` searches; recall against ``truth`` computed beforehand.

    Nothing else runs between timed queries: numpy's BLAS threads keep spinning after a
    matrix product and would steal the cores from the engine's search threads.
    """
    latencies, results = [], []
    for i in range(count):
        f = work.filters[i] if filtered else None
        start = time.perf_counter()
        hits = store.search("products", work.queries[i], using="text", limit=10, filters=f)
        latencies.append((time.perf_counter() - start) * 1000)
        results.append({h.key for h in hits})
    recall = None
    if truth is not None:
        found = sum(len(t & r) for t, r in zip(truth, results, strict=False))
        recall = found / sum(len(t) for t in truth[:count])
    return Row(backend, mode, n, filtered, latencies, recall)


def exact_truth(cat: Catalog, work: Workload, *, filtered: bool, count: int) -> list[set[str]]:
    """numpy exact top-10 per query (with the query's filter when ``filtered``)."""
    return [
        exact_top10(cat, work.queries[i], work.masks[i] if filtered else None) for i in range(count)
    ]


def ingest(store: VectorStore, cat: Catalog, batch: int = 1000) -> float:
    store.ensure_collection(products_spec(size=DIM))
    start = time.perf_counter()
    for i in range(0, len(cat.points), batch):
        store.upsert("products", cat.points[i : i + batch])
    return time.perf_counter() - start


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(sizes: Sequence[int], queries: int) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    notes: list[str] = []
    optimize_per_point: float | None = None
    for n in sizes:
        log(f"catalog of {n:,}")
        cat = make_catalog(n)
        work = make_workload(cat, queries)

        with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
            edge = EdgeStore(Path(tmp), params=EdgeParams(indexing_threads=2))
            took = ingest(edge, cat)
            notes.append(f"edge ingest of {n:,} points: {took:.1f} s ({n / took:,.0f} points/s)")
            log(notes[-1])
            time.sleep(1.0)  # let numpy's BLAS threads go idle before timing
            for filtered in (False, True):
                rows.append(
                    measure(
                        edge,
                        work,
                        n=n,
                        backend="qdrant-edge",
                        mode="exact (before optimize)",
                        filtered=filtered,
                        count=queries,
                    )
                )
            estimate = None if optimize_per_point is None else optimize_per_point * n * 1.3
            if estimate is not None and estimate > OPTIMIZE_BUDGET_S:
                notes.append(
                    f"edge optimize() at {n:,} skipped: estimated {estimate:.0f} s (from the "
                    f"smaller size) exceeds the {OPTIMIZE_BUDGET_S:.0f} s budget of this machine"
                )
                log(notes[-1])
            else:
                start = time.perf_counter()
                edge.optimize()
                took = time.perf_counter() - start
                optimize_per_point = took / n
                info = edge.info("products")
                notes.append(
                    f"edge optimize() at {n:,}: {took:.1f} s on 2 indexing threads "
                    f"({info['indexed_vectors']:,} of {info['points']:,} vectors in HNSW, "
                    f"{info['segments']} segments)"
                )
                log(notes[-1])
                hnsw_mode = (
                    "HNSW + int8 (after optimize)"
                    if info["indexed_vectors"] == info["points"]
                    else f"after optimize ({info['indexed_vectors']:,} in HNSW)"
                )
                for filtered in (False, True):
                    truth = exact_truth(cat, work, filtered=filtered, count=queries)
                    time.sleep(1.0)  # let numpy's BLAS threads go idle before timing
                    rows.append(
                        measure(
                            edge,
                            work,
                            n=n,
                            backend="qdrant-edge",
                            mode=hnsw_mode,
                            filtered=filtered,
                            count=queries,
                            truth=truth,
                        )
                    )
            start = time.perf_counter()
            edge.close()
            del edge
            gc.collect()
            reopen = EdgeStore(Path(tmp))
            reopen.ensure_collection(products_spec(size=DIM))
            notes.append(f"edge close + reopen at {n:,}: {time.perf_counter() - start:.1f} s")
            reopen.close()

        local = QdrantStore(":memory:")
        took = ingest(local, cat)
        notes.append(f"qdrant-client :memory: ingest of {n:,} points: {took:.1f} s")
        log(notes[-1])
        cap = min(queries, LOCAL_QUERY_CAP.get(n, queries))
        for filtered in (False, True):
            rows.append(
                measure(
                    local,
                    work,
                    n=n,
                    backend="qdrant-client",
                    mode="local :memory: (exact)",
                    filtered=filtered,
                    count=cap,
                )
            )
            log(f"qdrant-client {n:,} filtered={filtered} done")
        local.close()
        del local, cat, work
        gc.collect()
    return rows, notes


def _p50(rows: list[Row], backend: str, mode: str, n: int, filtered: bool) -> float | None:
    for r in rows:
        if (r.backend, r.n, r.filtered) == (backend, n, filtered) and r.mode.startswith(mode):
            return float(np.percentile(r.latencies_ms, 50))
    return None


def reading(rows: list[Row]) -> list[str]:
    """Ratios taken from this run's own rows."""
    out = ["Reading (ratios of p50 within this run):", ""]
    for n in sorted({r.n for r in rows}):
        for filtered in (False, True):
            exact = _p50(rows, "qdrant-edge", "exact", n, filtered)
            hnsw = _p50(rows, "qdrant-edge", "HNSW", n, filtered)  # absent if not indexed
            local = _p50(rows, "qdrant-client", "local", n, filtered)
            what = "filtered" if filtered else "unfiltered"
            parts = []
            if exact and hnsw:
                parts.append(f"edge exact / HNSW = {exact / hnsw:.1f}×")
            if local and (hnsw or exact):
                best = min(x for x in (hnsw, exact) if x)
                parts.append(f"qdrant-client local / best edge = {local / best:.0f}×")
            if parts:
                out.append(f"- {n:,} points, {what}: " + "; ".join(parts))
    out += [
        "",
        "optimize() blocks its process for the whole build (the binding holds the GIL), so it "
        "runs after bulk loads (`recsys ingest`) and in the nightly refresh, never per batch; "
        "between builds new points land in a plain segment searched exactly. qdrant-client's "
        "local mode is brute force in Python — for contract tests and tiny catalogs; against a "
        "Qdrant server the same backend searches HNSW.",
    ]
    return out


def render(
    rows: list[Row], notes: list[str], *, load_before: float, load_after: float, seconds: float
) -> str:
    header = ["backend", "mode", "points", "filter", "p50 ms", "p99 ms", "queries", "recall@10"]
    lines = [
        "## search",
        "",
        f"`bench/search.py` · {machine_line()} · whole run {seconds:.0f} s · load average "
        f"{load_before:.1f} before, {load_after:.1f} after (other work shared the 2 cores).",
        "",
        "Top-10 search through the `VectorStore` API (payload decoding included) over synthetic "
        "catalogs: 384-d unit vectors clustered by 200 leaf categories, shop-like payloads. The "
        "filter is one top-level category (≈10 %) + a 40-unit price band + in stock, ≈ 3-5 % of "
        "the catalog. recall@10 is against numpy exact search with the same filter.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    lines += ["", *[f"- {note}" for note in notes]]
    lines += ["", *reading(rows)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--no-write", action="store_true", help="print, do not touch BENCHMARKS.md")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    rows, notes = run(args.sizes, args.queries)
    markdown = render(
        rows,
        notes,
        load_before=load_before,
        load_after=os.getloadavg()[0],
        seconds=time.perf_counter() - start,
    )
    print(markdown)
    if not args.no_write:
        write_section("search", markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
