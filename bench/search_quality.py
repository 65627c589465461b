"""Search quality on the query set (docs/data/search_queries.jsonl): Recall@10 per kind, language.

The Online Retail catalog (3,786 products) is embedded by each encoder into a real qdrant-edge
store with its "keywords" sparse vectors, and every query is answered four ways:

- ``dense``: the encoder's top 10 by cosine (what GET /search served before);
- ``BM25``: ``bm25s`` over the same product texts plus product ids, an independent reference;
- ``fused``: :class:`recsys.search.ProductSearch`, what GET /search serves now (dense + keyword
  evidence when it adds any, and the no-match decision).

Recall@10 = |relevant ∩ top 10| / min(|relevant|, 10), averaged over the queries of a group.
For no-match queries the figure is the share answered "no match" (a plain top-10 list never is).

Calibration, on the query set's half "a" (concepts split by a hash, see bench/search_queryset.py):
``min_dense`` = the best dense cosine of any no-match query in "a", rounded up to 0.01; the fusion
knobs are the best of a small grid on "a". Both are then reported on half "b", which took no part
in the choice. ``--write`` puts the tables into docs/EVALUATION.md ("Search").

Encoders: ``minilm`` is the shipped models_onnx/all-MiniLM-L6-v2-int8; ``--encoder NAME=DIR`` adds
a model folder, ``--vectors NAME=FILE.npz`` precomputed vectors (``texts``, ``vectors``: every
product text and query, as that encoder embeds them; ``--lower NAME`` looks texts up lower-cased).

Run: ``nice -n 10 .venv/bin/python -m bench.search_quality [--write]``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.search_queryset import DEFAULT_CATALOG, FULL_OUT, ROOT, load_queries
from recsys.catalog.categories import category_levels
from recsys.catalog.text import product_text
from recsys.search import keywords as kw
from recsys.search.fusion import TUNINGS, Hit, SearchTuning, fuse
from recsys.search.service import ProductSearch
from recsys.store import PointIn, products_spec
from recsys.store.edge import EdgeStore

GROUPS = ("ru", "tr", "de", "es", "fr", "rare", "paraphrase", "nomatch")
LABELS = {
    "ru": "Russian",
    "tr": "Turkish",
    "de": "German",
    "es": "Spanish",
    "fr": "French",
    "rare": "English rare words / codes",
    "paraphrase": "English paraphrases",
    "nomatch": 'no-match queries answered "no match"',
}
EVALUATION_MD = ROOT / "docs" / "EVALUATION.md"
SECTION = "## Search"


class LookupEncoder:
    """Precomputed vectors looked up by text (an encoder's output saved elsewhere)."""

    def __init__(self, path: Path, *, lower: bool) -> None:
        data = np.load(path, allow_pickle=True)
        vectors = np.asarray(data["vectors"], dtype=np.float32)
        self._rows = {str(t): i for i, t in enumerate(data["texts"])}
        self._vectors = vectors
        self.lower = lower
        self.model_dir = Path(path.stem)

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        keys = [t.lower() if self.lower else t for t in texts]
        missing = [t for t in keys if t not in self._rows]
        if missing:
            raise KeyError(f"{len(missing)} texts have no precomputed vector, e.g. {missing[0]!r}")
        return self._vectors[[self._rows[t] for t in keys]]


def group_of(q: Mapping[str, Any]) -> str:
    return str(q["lang"]) if q["kind"] == "language" else str(q["kind"])


def recall_at_10(found: Sequence[str], relevant: Sequence[str]) -> float:
    return len(set(found[:10]) & set(relevant)) / min(len(relevant), 10)


@dataclass
class Run:
    """Per-query outputs of one method: the listed keys and whether it said "no match"."""

    lists: dict[str, list[str]] = field(default_factory=dict)
    no_match: dict[str, bool] = field(default_factory=dict)
    best_dense: dict[str, float] = field(default_factory=dict)


def table(
    run: Run, queries: Sequence[Mapping[str, Any]], split: str | None = None
) -> dict[str, float]:
    acc: dict[str, list[float]] = defaultdict(list)
    for q in queries:
        if split and q["split"] != split:
            continue
        g = group_of(q)
        if g == "nomatch":
            acc[g].append(1.0 if run.no_match.get(q["id"], False) else 0.0)
        else:
            acc[g].append(recall_at_10(run.lists[q["id"]], q["relevant"]))
    return {g: float(np.mean(v)) for g, v in acc.items()}


def build_store(
    root: Path, catalog: Sequence[Mapping[str, Any]], encoder: Any, dim: int
) -> EdgeStore:
    store = EdgeStore(root)
    store.ensure_collection(products_spec(size=dim))
    texts = [product_text(r) for r in catalog]
    vectors = np.asarray(encoder.encode(texts), dtype=np.float32)
    points = []
    for row, vec in zip(catalog, vectors, strict=True):
        payload = {**row, "category_levels": category_levels(row.get("category"))}
        points.append(
            PointIn(
                key=row["product_id"],
                vectors={"text": vec},
                payload=payload,
                sparse={kw.KEYWORDS: kw.keyword_vector(payload, row["product_id"])},
            )
        )
    for start in range(0, len(points), 512):
        store.upsert("products", points[start : start + 512])
    return store


@dataclass
class Candidates:
    """What fusion sees for one query (so the grid is re-fused without new searches)."""

    dense: list[Any]
    keywords: list[Any] | None


def collect(search: ProductSearch, queries: Sequence[Mapping[str, Any]]) -> dict[str, Candidates]:
    out: dict[str, Candidates] = {}
    for q in queries:
        qvec = np.asarray(search.encoder.encode([q["query"]]), dtype=np.float32)[0]
        found = search.store.search(search.collection, qvec, using="text", limit=search.candidates)
        dense = [
            Hit(r.key, r.score, r.payload) for r in sorted(found, key=lambda r: (-r.score, r.key))
        ]
        out[q["id"]] = Candidates(dense, search.keyword_hits(q["query"], None))
    return out


def fused_run(cands: Mapping[str, Candidates], tuning: SearchTuning) -> Run:
    run = Run()
    for qid, c in cands.items():
        hits, evidence = fuse(c.dense, c.keywords or [], tuning=tuning, limit=10)
        run.lists[qid] = [h.key for h in hits]
        run.no_match[qid] = not evidence.matched
        run.best_dense[qid] = evidence.best_dense
    return run


def dense_run(cands: Mapping[str, Candidates]) -> Run:
    run = Run()
    for qid, c in cands.items():
        run.lists[qid] = [h.key for h in c.dense[:10]]
        run.best_dense[qid] = c.dense[0].score if c.dense else 0.0
    return run


def bm25_run(catalog: Sequence[Mapping[str, Any]], queries: Sequence[Mapping[str, Any]]) -> Run:
    import bm25s

    corpus = [f"{product_text(r)} {r['product_id']}" for r in catalog]
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False
    )
    run = Run()
    keys = [r["product_id"] for r in catalog]
    for q in queries:
        tokens = bm25s.tokenize([q["query"]], stopwords="en", show_progress=False)
        try:
            docs, scores = retriever.retrieve(tokens, k=10, show_progress=False)
            run.lists[q["id"]] = [
                keys[int(d)] for d, s in zip(docs[0], scores[0], strict=True) if s > 0
            ]
        except ValueError:  # a query with no token in the vocabulary
            run.lists[q["id"]] = []
        run.no_match[q["id"]] = not run.lists[q["id"]]
    return run


def calibrate_min_dense(
    cands: Mapping[str, Candidates], queries: Sequence[Mapping[str, Any]], split: str
) -> float:
    best = max(
        cands[q["id"]].dense[0].score
        for q in queries
        if q["kind"] == "nomatch" and q["split"] == split and cands[q["id"]].dense
    )
    return math.ceil(best * 100 + 1e-9) / 100


GRID = {
    "fuse_coverage": (0.4, 0.5, 0.6, 0.7, 0.8),
    "keyword_weight": (1.0, 2.0, 4.0),
    "rrf_k": (10, 20, 60),
    "min_coverage": (0.5, 0.7, 0.9),
}


def objective(scores: Mapping[str, float]) -> float:
    """Mean Recall@10 over the seven match groups; every no-match query must say so."""
    recall = float(np.mean([scores[g] for g in GROUPS if g != "nomatch"]))
    return recall - (0.0 if scores.get("nomatch", 1.0) >= 1.0 else 1.0)


def tune(
    cands: Mapping[str, Candidates], queries: Sequence[Mapping[str, Any]], min_dense: float
) -> tuple[SearchTuning, list[tuple[float, SearchTuning]]]:
    results = []
    for values in itertools.product(*GRID.values()):
        t = SearchTuning(min_dense=min_dense, **dict(zip(GRID, values, strict=True)))  # type: ignore[arg-type]
        results.append((objective(table(fused_run(cands, t), queries, "a")), t))
    results.sort(key=lambda r: -r[0])
    best = results[0][0]
    # Among equally good settings take the middle one of the plateau, not its edge.
    plateau = [t for s, t in results if s >= best - 1e-9]
    return plateau[len(plateau) // 2], results


def kept_true_matches(
    run: Run, reference: Sequence[Run], queries: Sequence[Mapping[str, Any]]
) -> tuple[int, int]:
    """Of the queries some baseline answered with a relevant product in its top 10, how many the
    fused search still answers (not "no match")."""
    answerable = [
        q
        for q in queries
        if q["kind"] != "nomatch"
        and any(set(r.lists[q["id"]][:10]) & set(q["relevant"]) for r in reference)
    ]
    return sum(not run.no_match[q["id"]] for q in answerable), len(answerable)


def fmt_row(name: str, scores: Mapping[str, float]) -> str:
    return (
        f"| {name} | "
        + " | ".join(f"{scores[g]:.2f}" if g in scores else "—" for g in GROUPS)
        + " |"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--queries", type=Path, default=FULL_OUT)
    parser.add_argument("--encoder", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--vectors", action="append", default=[], metavar="NAME=FILE.npz")
    parser.add_argument("--lower", action="append", default=[], metavar="NAME")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=FOLDER",
        help="the model folder whose shipped tuning (recsys.search.fusion.TUNINGS) NAME uses",
    )
    parser.add_argument("--no-minilm", action="store_true")
    parser.add_argument("--write", action="store_true", help="update docs/EVALUATION.md")
    args = parser.parse_args(argv)

    from recsys.datasets.online_retail import load_catalog
    from recsys.encoder import TextEncoder

    catalog = load_catalog(args.catalog)
    queries = load_queries(args.queries)
    encoders: dict[str, Callable[[], Any]] = {}
    models = dict(spec.split("=", 1) for spec in args.model)
    models.setdefault("MiniLM", "all-MiniLM-L6-v2-int8")
    if not args.no_minilm:
        encoders["MiniLM"] = lambda: TextEncoder(ROOT / "models_onnx" / "all-MiniLM-L6-v2-int8")
    for spec in args.encoder:
        name, path = spec.split("=", 1)
        encoders[name] = lambda p=path: TextEncoder(Path(p))
        models.setdefault(name, Path(path).name)
    for spec in args.vectors:
        name, path = spec.split("=", 1)
        encoders[name] = lambda p=path, n=name: LookupEncoder(Path(p), lower=n in args.lower)

    rows: list[tuple[str, dict[str, float], dict[str, float], dict[str, float]]] = []
    notes: list[str] = []
    bm25 = bm25_run(catalog, queries)
    rows.append(
        ("BM25 (bm25s)", table(bm25, queries), table(bm25, queries, "a"), table(bm25, queries, "b"))
    )
    for name, make in encoders.items():
        encoder = make()
        dim = int(np.asarray(encoder.encode([product_text(catalog[0])])).shape[1])
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            store = build_store(Path(tmp) / "qdrant", catalog, encoder, dim)
            search = ProductSearch(
                store=store, collection="products", encoder=encoder, tuning=SearchTuning()
            )
            cands = collect(search, queries)
            store.close()
        min_dense = calibrate_min_dense(cands, queries, "a")
        best, results = tune(cands, queries, min_dense)
        dense = dense_run(cands)
        fused = fused_run(cands, best)
        # Keywords fused into every query by plain RRF, no no-match rule: what gating avoids.
        always = fused_run(
            cands,
            SearchTuning(
                fuse_coverage=0.0, keyword_weight=1.0, rrf_k=60, min_dense=-1.0, min_coverage=2.0
            ),
        )
        # The gated fusion without the no-match rule: what that rule costs in recall.
        gated = fused_run(cands, replace(best, min_dense=-1.0))
        for label, run in (
            ("dense", dense),
            ("always fused", always),
            ("fused, no no-match rule", gated),
        ):
            rows.append(
                (
                    f"{name} {label}",
                    table(run, queries),
                    table(run, queries, "a"),
                    table(run, queries, "b"),
                )
            )
        rows.append(
            (
                f"{name} fused",
                table(fused, queries),
                table(fused, queries, "a"),
                table(fused, queries, "b"),
            )
        )
        folder = models.get(name)
        if folder in TUNINGS:
            shipped = fused_run(cands, TUNINGS[folder])
            rows.append(
                (
                    f"{name} fused, shipped tuning",
                    table(shipped, queries),
                    table(shipped, queries, "a"),
                    table(shipped, queries, "b"),
                )
            )
            k, n = kept_true_matches(shipped, [dense, bm25], queries)
            notes.append(
                f"- **{name}, shipped** (`TUNINGS[{folder!r}]`, `min_dense` = "
                f"{TUNINGS[folder].min_dense}): answers {k}/{n} of the queries a baseline answers."
            )
        kept = {
            s: kept_true_matches(fused, [dense, bm25], [q for q in queries if q["split"] == s])
            for s in "ab"
        }
        nm_b = max(
            cands[q["id"]].dense[0].score
            for q in queries
            if q["kind"] == "nomatch" and q["split"] == "b"
        )
        notes.append(
            f"- **{name}**: `min_dense` = {min_dense:.2f} (calibration half a; the best no-match "
            f"cosine in half b is {nm_b:.3f}); fusion `fuse_coverage` = {best.fuse_coverage}, "
            f"`keyword_weight` = {best.keyword_weight}, `rrf_k` = {best.rrf_k}, "
            f"`min_coverage` = {best.min_coverage} (best of {len(results)} on half a). "
            "Queries a baseline answers with a relevant product in its top 10 that the fused "
            f"search still answers: {kept['a'][0]}/{kept['a'][1]} in a, "
            f"{kept['b'][0]}/{kept['b'][1]} in b. "
            f"({time.perf_counter() - t0:.0f} s)"
        )
        print(notes[-1], flush=True)
    header = "| method | " + " | ".join(LABELS[g] for g in GROUPS) + " |"
    sep = "|---|" + "---:|" * len(GROUPS)
    lines = [
        f"Recall@10 on {sum(q['kind'] != 'nomatch' for q in queries)} queries with relevant "
        f"products and {sum(q['kind'] == 'nomatch' for q in queries)} that match nothing "
        f"(docs/data/search_queries.jsonl), Online Retail catalog of {len(catalog)} products.",
        "",
        "All queries:",
        "",
        header,
        sep,
        *(fmt_row(n, s) for n, s, _, _ in rows),
        "",
        "Calibration half a / held-out half b (fused rows were chosen on a):",
        "",
        header,
        sep,
        *(line for n, _, a, b in rows for line in (fmt_row(f"{n} — a", a), fmt_row(f"{n} — b", b))),
        "",
        *notes,
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(text)


def write_section(body: str) -> None:
    doc = EVALUATION_MD.read_text(encoding="utf-8")
    start = doc.find(f"\n{SECTION}\n")
    intro = (
        f"{SECTION}\n\n"
        "Measured by `bench/search_quality.py` (its docstring says how); the query set and how it "
        "was written: `bench/search_queryset.py`.\n\n"
    )
    marker = "<!-- search-quality:table -->"
    block = f"{marker}\n{body}\n{marker}\n"
    if start < 0:
        EVALUATION_MD.write_text(doc.rstrip("\n") + "\n\n" + intro + block, encoding="utf-8")
        return
    head, rest = doc[: start + 1], doc[start + 1 :]
    if marker in rest:
        before, _, after = rest.partition(marker)
        _, _, after = after.partition(marker)
        rest = before + block.rstrip("\n") + after
    else:
        rest = intro + block + rest[len(SECTION) + 1 :]
    EVALUATION_MD.write_text(head + rest, encoding="utf-8")


if __name__ == "__main__":
    main()
