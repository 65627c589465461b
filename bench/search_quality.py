"""Search quality on the query set (docs/data/search_queries.jsonl): Recall@10 per kind, language.

The Online Retail catalog (3,786 products) is embedded by both shipped encoders into one real
qdrant-edge store — the first as the named vector "text", the second as its own named vector,
as the products collection holds them, and the multilingual one once more over the titles
alone (``TITLED``: the vector the products carry beside MiniLM's) — with the "keywords" sparse
vectors, and every query is answered by:

- ``BM25``: ``bm25s`` over the same product texts plus product ids, an independent reference;
- ``<encoder> dense``: that encoder's top 10 by cosine, nothing else;
- ``<encoder> fused``: :class:`recsys.search.ProductSearch`'s fusion over that encoder alone
  (dense + keyword evidence when it adds any, and the no-match decision);
- ``both encoders fused`` (:data:`PAIRS`: USE over the titles + MiniLM, as served, and USE
  over the full text + MiniLM, as before): both dense lists, weighted by the query's
  language, + keywords;
- each fused method also without its no-match rule (what the rule costs), with its knobs
  chosen on the other half of the set (cross-validated: what generalises), with the
  tuning shipped in ``recsys.search.fusion.TUNINGS``, and with that tuning and its fallback
  (a query under the bar but over an encoder's floor gets the nearest products, flagged as no
  match): Recall@10 over the items of any reply, what a client reading the list sees.

Recall@10 is that of the query's one target, any product equivalent to it counting (the
relevant list is the target's equivalents — colour variants and re-listings under other
codes, every product with the same normalised title among them): 1 when one of them is in
the top 10. The stricter measure used before (|relevant ∩ top 10| / min(|relevant|, 10), every
variant listed) is reported beside it. For no-match queries the figure is the share answered
"no match" (a flagged fallback says so too); a second table splits every group's replies
into matches, flagged fallbacks and empty lists. The floors are measured here too (the
median best cosine of 300 random strings, bench/search_tuning.py). How knobs are chosen:
bench/search_tuning.py. ``--write`` puts the tables into docs/EVALUATION.md ("Search").

``--vectors NAME=FILE.npz`` adds an encoder of precomputed vectors (``texts``, ``vectors``:
every product text and query as written, embedded elsewhere — e.g. by the source package's
numpy forward pass); ``--multilingual NAME`` marks it multilingual.

Run: ``nice -n 10 .venv/bin/python -m bench.search_quality [--write]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.search_queryset import DEFAULT_CATALOG, FULL_OUT, ROOT, load_queries
from bench.search_tuning import (
    GROUPS,
    Candidates,
    Choice,
    Run,
    choose,
    cross_validated,
    every_variant_at_10,
    floor_of,
    fused_run,
    random_queries,
    reply_shares,
    table,
)
from recsys.catalog.categories import category_levels
from recsys.catalog.text import product_text, vector_text
from recsys.search import keywords as kw
from recsys.search.fusion import TUNINGS, tuning_for
from recsys.search.service import ProductSearch, is_multilingual
from recsys.store import PointIn, products_spec
from recsys.store.edge import EdgeStore
from recsys.store.space_ids import second_space, space_text

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
MODELS = ROOT / "models_onnx"
#: The shipped encoders, multilingual first (the store's "text" in this bench).
SHIPPED = (
    ("USE multilingual", "use-multilingual-v3-int8"),
    ("MiniLM", "all-MiniLM-L6-v2-int8"),
)
#: Encoders over another product text than the full one: name → (the encoder of, its space
#: id; recsys.store.space_ids.second_space). The multilingual model over the titles alone, as
#: the products carry it beside MiniLM's "text".
TITLED = {
    "USE multilingual, titles": ("USE multilingual", second_space("use-multilingual-v3-int8"))
}
#: The pairs fused: the one the products carry (MiniLM's "text" + USE's titles), and USE over
#: the full text beside MiniLM as before.
PAIRS = (("USE multilingual, titles", "MiniLM"), ("USE multilingual", "MiniLM"))


def vector_name(name: str) -> str:
    """The store's name for an encoder's vector ("USE multilingual" → "use_multilingual")."""
    return "".join(c if c.isalnum() else "_" for c in name.lower())


class LookupEncoder:
    """Precomputed vectors looked up by text (an encoder's output saved elsewhere)."""

    def __init__(self, path: Path, *, multilingual: bool) -> None:
        data = np.load(path, allow_pickle=True)
        self._rows = {str(t): i for i, t in enumerate(data["texts"])}
        self._vectors = np.asarray(data["vectors"], dtype=np.float32)
        self.languages = ("en", "xx") if multilingual else ("en",)
        self.model_dir = Path(path.stem)

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        missing = [t for t in texts if t not in self._rows]
        if missing:
            raise KeyError(f"{len(missing)} texts have no precomputed vector, e.g. {missing[0]!r}")
        return self._vectors[[self._rows[t] for t in texts]]


def build_store(
    root: Path,
    catalog: Sequence[Mapping[str, Any]],
    encoders: Mapping[str, Any],
    spaces: Mapping[str, str] | None = None,
) -> EdgeStore:
    """Every product with one named vector per encoder (:func:`vector_name`), over the product
    text its space id names (``spaces``: encoder name → space id; default the full text)."""
    spaces = spaces or {}
    vectors = {}
    for name, e in encoders.items():
        text = space_text(spaces.get(name, ""))
        texts = [vector_text(text, r) for r in catalog]
        vectors[vector_name(name)] = np.asarray(e.encode(texts), dtype=np.float32)
    names = list(vectors)
    spec = products_spec(size=vectors[names[0]].shape[1])
    spec = replace(spec, vectors={name: v.shape[1] for name, v in vectors.items()})
    store = EdgeStore(root)
    store.ensure_collection(spec)
    points = []
    for i, row in enumerate(catalog):
        payload = {**row, "category_levels": category_levels(row.get("category"))}
        points.append(
            PointIn(
                key=row["product_id"],
                vectors={name: vectors[name][i] for name in names},
                payload=payload,
                sparse={kw.KEYWORDS: kw.keyword_vector(payload, row["product_id"])},
            )
        )
    for start in range(0, len(points), 512):
        store.upsert("products", points[start : start + 512])
    return store


def collect(
    store: EdgeStore, encoders: Mapping[str, Any], queries: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per query: each encoder's top 50 and the keyword evidence (searched once, fused later)."""
    first = next(iter(encoders.values()))
    search = ProductSearch(store=store, collection="products", encoder=first, tuning=tuning_for(""))
    out: dict[str, dict[str, Any]] = {}
    for q in queries:
        row: dict[str, Any] = {}
        for name, encoder in encoders.items():
            row[name], _ = search.dense_hits(
                q["query"], encoder=encoder, using=vector_name(name), limit=10, filters=None
            )
        row["keywords"] = search.keyword_evidence(q["query"], None)
        out[q["id"]] = row
    return out


def random_floors(store: EdgeStore, encoders: Mapping[str, Any]) -> dict[str, float]:
    """Each encoder's fallback floor measured on this catalog: the median best cosine of
    :func:`random_queries` (an encoder of precomputed vectors has none for them: skipped)."""
    texts = random_queries()
    out = {}
    for name, encoder in encoders.items():
        try:
            vectors = np.asarray(encoder.encode(texts), dtype=np.float32)
        except KeyError:
            continue
        best = [
            store.search("products", v, using=vector_name(name), limit=1)[0].score for v in vectors
        ]
        out[name] = floor_of(best)
    return out


def candidates(raw: Mapping[str, Mapping[str, Any]], names: Sequence[str], queries: Any) -> Any:
    text = {q["id"]: q["query"] for q in queries}
    return {
        qid: Candidates(
            text[qid],
            [list(r[n]) for n in names],
            r["keywords"].hits if r["keywords"] else None,
            r["keywords"].catalog_share if r["keywords"] else 0.0,
        )
        for qid, r in raw.items()
    }


def dense_run(raw: Mapping[str, Mapping[str, Any]], name: str) -> Run:
    return Run(lists={qid: [h.key for h in r[name][:10]] for qid, r in raw.items()})


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


def shipped_choice(folders: Sequence[str]) -> Choice | None:
    """The tuning ``TUNINGS`` ships for these encoders (a pair: "primary+second")."""
    key = "+".join(folders)
    if key not in TUNINGS:
        return None
    tuning = TUNINGS[key]
    if len(folders) == 1:
        return Choice(tuning, (tuning.min_dense,), (tuning.floor_dense,))
    second, floor = tuning.second_min_dense, tuning.second_floor_dense
    own = TUNINGS[folders[1]]
    return Choice(
        tuning,
        (tuning.min_dense, second if second is not None else own.min_dense),
        (tuning.floor_dense, floor if floor is not None else own.floor_dense),
    )


def describe(choice: Choice, names: Sequence[str]) -> str:
    t = choice.tuning
    bars = ", ".join(f"{n} {b:.2f}" for n, b in zip(names, choice.min_dense, strict=True))
    dual = (
        f", `english_gain` {t.english_gain}, `multilingual_drop` {t.multilingual_drop}"
        if len(names) > 1
        else ""
    )
    return (
        f"`min_dense` {bars}; `fuse_coverage` {t.fuse_coverage}, `keyword_weight` "
        f"{t.keyword_weight}, `rrf_k` {t.rrf_k}, `min_coverage` {t.min_coverage}{dual}"
    )


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
    parser.add_argument("--vectors", action="append", default=[], metavar="NAME=FILE.npz")
    parser.add_argument("--multilingual", action="append", default=[], metavar="NAME")
    parser.add_argument("--write", action="store_true", help="update docs/EVALUATION.md")
    args = parser.parse_args(argv)

    from recsys.datasets.online_retail import load_catalog
    from recsys.encoder import TextEncoder

    catalog = load_catalog(args.catalog)
    queries = load_queries(args.queries)
    encoders: dict[str, Any] = {n: TextEncoder(MODELS / f) for n, f in SHIPPED}
    folders = {n: f for n, f in SHIPPED}
    for name, (base, space) in TITLED.items():
        encoders[name], folders[name] = encoders[base], space
    for spec in args.vectors:
        name, path = spec.split("=", 1)
        encoders[name] = LookupEncoder(Path(path), multilingual=name in args.multilingual)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = build_store(Path(tmp) / "qdrant", catalog, encoders, folders)
        raw = collect(store, encoders, queries)
        floors = random_floors(store, encoders)
        store.close()
    rows: list[tuple[str, Run]] = [("BM25 (bm25s)", bm25_run(catalog, queries))]
    notes: list[str] = []
    shares: list[tuple[str, dict[str, tuple[float, ...]]]] = []
    methods = [[n] for n in encoders] + [list(pair) for pair in PAIRS]
    for names in methods:
        label = " + ".join(names) if len(names) > 1 else names[0]
        multi = [is_multilingual(encoders[n]) for n in names]
        cands = candidates(raw, names, queries)
        if len(names) == 1:
            rows.append((f"{label} dense", dense_run(raw, names[0])))
        choice, points = choose(cands, queries, multi)
        held, chosen = cross_validated(cands, queries, multi)
        rows.append(
            (f"{label} fused, no no-match rule", fused_run(cands, multi, choice, gate=False))
        )
        rows.append((f"{label} fused", fused_run(cands, multi, choice)))
        rows.append((f"{label} fused, cross-validated", held))
        notes.append(
            f"- **{label}**, chosen on all queries ({points} grid points): "
            f"{describe(choice, names)}. Chosen on half a (answers half b): "
            f"{describe(chosen['b'], names)}; on half b: {describe(chosen['a'], names)}."
        )
        shipped = shipped_choice([folders.get(n, n) for n in names])
        if shipped is not None:
            rows.append((f"{label} fused, shipped tuning", fused_run(cands, multi, shipped)))
            served = fused_run(cands, multi, shipped, fallback=True)
            rows.append((f"{label} fused + fallback, shipped tuning (any reply)", served))
            shares.append((label, reply_shares(served, queries)))
        print(notes[-1], flush=True)
    measured = ", ".join(f"{n} {f:.2f}" for n, f in floors.items())
    notes.append(
        f"- **Fallback floors** measured here (median best cosine of 300 random strings): "
        f"{measured}; shipped (`floor_dense`): "
        + ", ".join(f"{n} {TUNINGS[f].floor_dense:.2f}" for n, f in folders.items() if f in TUNINGS)
        + "."
    )
    header = "| method | " + " | ".join(LABELS[g] for g in GROUPS) + " |"
    sep = "|---|" + "---:|" * len(GROUPS)
    lines = [
        f"{sum(q['kind'] != 'nomatch' for q in queries)} queries with relevant products and "
        f"{sum(q['kind'] == 'nomatch' for q in queries)} that match nothing "
        f"(docs/data/search_queries.jsonl), Online Retail catalog of {len(catalog)} products "
        f"({time.perf_counter() - t0:.0f} s).",
        "",
        "Recall@10 (the query's target, any product equivalent to it counting):",
        "",
        header,
        sep,
        *(fmt_row(n, table(r, queries)) for n, r in rows),
        "",
        "Every variant: |relevant ∩ top 10| / min(|relevant|, 10) (the stricter measure):",
        "",
        header,
        sep,
        *(fmt_row(n, table(r, queries, metric=every_variant_at_10)) for n, r in rows),
        "",
        "Replies of the shipped search with its fallback, per group: the share presented as "
        'matches, offered as the nearest products flagged "no exact match", and empty:',
        "",
        header.replace(LABELS["nomatch"], "no-match queries"),
        sep,
        *share_rows(shares),
        "",
        "Knobs:",
        "",
        *notes,
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(text)


def share_rows(shares: Sequence[tuple[str, Mapping[str, tuple[float, ...]]]]) -> list[str]:
    """Three rows per method: matches, flagged fallbacks, empty lists."""
    kinds = ("matches", 'flagged "no exact match"', "empty")
    return [
        fmt_row(f"{label}: {kind}", {g: v[i] for g, v in per_group.items()})
        for label, per_group in shares
        for i, kind in enumerate(kinds)
    ]


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
