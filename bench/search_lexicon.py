"""Lexicon expansion for queries in other languages (recsys.search.lexicon), measured and chosen.

The served search (MiniLM's "text" over title + category, USE over the titles as the second
vector, keywords; the shipped pair tuning, fallback on) on the query set, with and without the
lexicon's two lists: the query's words mapped to catalog words by the multilingual encoder,
searched by BM25 over the products' keywords (weight ``lexicon_keyword_weight``) and by
MiniLM over the words joined (``lexicon_dense_weight``), each weight times the query's
foreign share (recsys.search.fusion.foreign_share: 0 for a query all of whose words the
catalog has). The lists only rank; whether a query matched is decided as before.

Knobs (:data:`RETRIEVAL` × :data:`WEIGHTS`, 324 points) are chosen by the mean Recall@10 (any
reply) of the match groups, a no-match query presented as a match costing a full point.
Reported: the choice on all queries; leave-one-language-out (each language answered with the
knobs chosen on the other four languages and the English groups); and by halves of the
concepts (each half answered with knobs chosen on the other half, the split the other search
knobs are cross-validated on — a concept's products are never in both).

``--latency N``: p50/p99 of the served search with and without the lexicon, query by query in
turn on one store of N products (bench/search_latency.py's catalog: real titles with a variant
word, random clustered vectors), and the lexicon's build time there.

Run: ``nice -n 10 .venv/bin/python -m bench.search_lexicon [--latency 100000] [--write]``.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.search_quality import (
    EVALUATION_MD,
    LABELS,
    MODELS,
    build_store,
    candidates,
    collect,
    fmt_row,
)
from bench.search_queryset import DEFAULT_CATALOG, FULL_OUT, load_queries
from bench.search_tuning import GROUPS, Candidates, Run, objective, table, weights
from recsys.search.fusion import TUNINGS, DenseList, Hit, SearchTuning, fuse_lists
from recsys.search.service import DenseSource, ProductSearch
from recsys.store.space_ids import second_space

USE_FOLDER, MINI_FOLDER = "use-multilingual-v3-int8", "all-MiniLM-L6-v2-int8"
SECOND = "USE multilingual, titles"
#: How a query word's catalog words are scored (recsys.search.lexicon.Lexicon.neighbours):
#: by cosine; less half their hubness; CSLS (the query word's own neighbourhood and the catalog
#: word's hubness both taken off); CSLS over the word and its stems (up to 3 trailing letters
#: dropped, 0.06 a letter); and that with the trigram overlap (cognates) at 0.2.
SCORINGS: dict[str, dict[str, float]] = {
    "cosine": {"lexicon_hub": 0.0},
    "hub 0.5": {"lexicon_hub": 0.5},
    "CSLS": {"lexicon_hub": 1.0, "lexicon_local": 1.0},
    "CSLS + stems": {
        "lexicon_hub": 1.0,
        "lexicon_local": 1.0,
        "lexicon_backoff": 3,
        "lexicon_strip_penalty": 0.06,
    },
    "CSLS + stems + cognates": {
        "lexicon_hub": 1.0,
        "lexicon_local": 1.0,
        "lexicon_backoff": 3,
        "lexicon_strip_penalty": 0.06,
        "lexicon_cognate": 0.2,
    },
    "cosine + stems": {"lexicon_hub": 0.0, "lexicon_backoff": 3, "lexicon_strip_penalty": 0.06},
}
#: Neighbour knobs: catalog words per query word, their least cosine, the scoring.
Setting = tuple[int, float, str]
RETRIEVAL: list[Setting] = list(itertools.product((2, 3), (0.40, 0.45, 0.50), SCORINGS))
#: Fusion weights of the BM25 list and MiniLM's list over the words.
WEIGHTS = list(itertools.product((0.0, 0.5, 1.0), (0.0, 0.5, 1.0)))
MARKER = "<!-- search-lexicon:table -->"
LANGS = ("ru", "tr", "de", "es", "fr")


def served_tuning() -> SearchTuning:
    """The shipped pair tuning as the served search holds it (MiniLM primary)."""
    pair = TUNINGS[f"{second_space(USE_FOLDER)}+{MINI_FOLDER}"]
    return pair


def setting_tuning(base: SearchTuning, setting: Setting) -> SearchTuning:
    """``base`` with a neighbour setting's knobs (the others at their defaults)."""
    words, cosine, scoring = setting
    plain = SearchTuning()
    reset = {
        k: getattr(plain, k)
        for k in ("lexicon_local", "lexicon_backoff", "lexicon_strip_penalty", "lexicon_cognate")
    }
    knobs: dict[str, Any] = {**reset, **SCORINGS[scoring]}
    return replace(base, lexicon_words=words, lexicon_min_cosine=cosine, **knobs)


def expansions(
    search: ProductSearch,
    queries: Sequence[Mapping[str, Any]],
    cands: Mapping[str, Candidates],
    base: SearchTuning,
) -> dict[Setting, dict[str, list[tuple[list[Hit], float]]]]:
    """Per neighbour setting, per query, the lexicon's two lists at weight 1 · foreign share."""
    out: dict[Setting, dict[str, list[tuple[list[Hit], float]]]] = {}
    for words, cosine, scoring in RETRIEVAL:
        tuning = replace(
            setting_tuning(base, (words, cosine, scoring)),
            lexicon_keyword_weight=1.0,
            lexicon_dense_weight=1.0,
        )
        out[(words, cosine, scoring)] = {
            q["id"]: search.expansions(
                q["query"], None, tuning=tuning, catalog_share=cands[q["id"]].catalog_share
            )
            for q in queries
        }
    return out


def served_run(
    cands: Mapping[str, Candidates],
    tuning: SearchTuning,
    extra: Mapping[str, list[tuple[list[Hit], float]]] | None,
    scale: tuple[float, float] = (0.0, 0.0),
) -> Run:
    """The served search's replies (fallback on), with the lexicon's lists scaled by
    ``scale`` (keywords, dense); ``extra`` None: without them."""
    bars = (tuning.min_dense, tuning.second_min_dense or tuning.min_dense)
    floors = (tuning.floor_dense, tuning.second_floor_dense)
    run = Run()
    for qid, c in cands.items():
        w = weights(c, [True, False], tuning)
        lists = [
            DenseList(h, wi, b, f) for h, wi, b, f in zip(c.dense, w, bars, floors, strict=True)
        ]
        more = []
        if extra is not None:
            # the lexicon's lists, in the order ProductSearch.expansions gives them
            for (found, weight), s in zip(extra[qid], scale, strict=False):
                more.append((found, weight * s))
        fused, evidence = fuse_lists(
            lists, c.keywords or [], tuning=tuning, limit=10, expansions=more
        )
        run.lists[qid], run.no_match[qid], run.fallback[qid] = (
            [h.key for h in fused],
            not evidence.matched,
            evidence.fallback,
        )
    return run


def choose(
    cands: Mapping[str, Candidates],
    grid: Mapping[Setting, Mapping[str, list[tuple[list[Hit], float]]]],
    queries: Sequence[Mapping[str, Any]],
    tuning: SearchTuning,
) -> tuple[Setting, tuple[float, float]]:
    """The neighbour setting and weights of the best objective on ``queries`` (the middle of
    the plateau when several tie)."""
    mine = {q["id"]: cands[q["id"]] for q in queries}
    scored = []
    for setting, extra in grid.items():
        for scale in WEIGHTS:
            run = served_run(mine, tuning, extra, scale)
            scored.append((objective(table(run, queries)), setting, scale))
    best = max(s for s, _, _ in scored)
    plateau = [(r, w) for s, r, w in scored if s >= best - 1e-9]
    return plateau[len(plateau) // 2]


def held_out(
    cands: Mapping[str, Candidates],
    grid: Mapping[Setting, Mapping[str, list[tuple[list[Hit], float]]]],
    queries: Sequence[Mapping[str, Any]],
    tuning: SearchTuning,
) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """Leave-one-language-out and by-halves figures, and what each fold chose."""
    lolo: dict[str, float] = {}
    notes = []
    for lang in LANGS:
        train = [q for q in queries if q.get("lang") != lang]
        test = [q for q in queries if q.get("lang") == lang]
        setting, scale = choose(cands, grid, train, tuning)
        run = served_run({q["id"]: cands[q["id"]] for q in test}, tuning, grid[setting], scale)
        lolo[lang] = table(run, test)[lang]
        notes.append(f"without {lang}: {describe(setting, scale)}")
    halves = Run()
    for held, other in (("a", "b"), ("b", "a")):
        setting, scale = choose(cands, grid, [q for q in queries if q["split"] == other], tuning)
        part = [q for q in queries if q["split"] == held]
        run = served_run({q["id"]: cands[q["id"]] for q in part}, tuning, grid[setting], scale)
        for field in ("lists", "no_match", "fallback"):
            getattr(halves, field).update(getattr(run, field))
        notes.append(f"on half {other} (answers {held}): {describe(setting, scale)}")
    return lolo, table(halves, queries), notes


def presented(run: Run) -> Run:
    """Only what is presented as a match: a flagged fallback's items do not count."""
    lists = {q: ([] if run.no_match[q] else keys) for q, keys in run.lists.items()}
    return Run(lists=lists, no_match=dict(run.no_match), fallback=dict(run.fallback))


def shipped_knobs(t: SearchTuning) -> str:
    """The lexicon knobs of ``t`` in :func:`describe`'s words (its scoring by name)."""
    scoring = next(
        (
            name
            for name in SCORINGS
            if setting_tuning(t, (t.lexicon_words, 0.0, name)) == replace(t, lexicon_min_cosine=0.0)
        ),
        "its own",
    )
    return describe(
        (t.lexicon_words, t.lexicon_min_cosine, scoring),
        (t.lexicon_keyword_weight, t.lexicon_dense_weight),
    )


def describe(setting: Setting, scale: tuple[float, float]) -> str:
    words, cosine, scoring = setting
    return (
        f"{words} word(s) per query word, cosine ≥ {cosine:.2f}, scored by {scoring}, "
        f"BM25 weight {scale[0]}, MiniLM weight {scale[1]}"
    )


def quality(queries: Sequence[Mapping[str, Any]], catalog: Sequence[Mapping[str, Any]]) -> str:
    from recsys.encoder import TextEncoder

    use, mini = TextEncoder(MODELS / USE_FOLDER), TextEncoder(MODELS / MINI_FOLDER)
    encoders = {SECOND: use, "text": mini}
    tuning = served_tuning()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = build_store(
            Path(tmp) / "qdrant", catalog, encoders, {SECOND: second_space(USE_FOLDER)}
        )
        raw = collect(store, encoders, queries)
        cands = candidates(raw, [SECOND, "text"], queries)
        search = ProductSearch(
            store=store,
            collection="products",
            encoder=mini,
            tuning=tuning,
            second=DenseSource(use, "use_multilingual__titles", tuning.min_dense),
        )
        assert search.lexicon is not None
        t1 = time.perf_counter()
        lexicon = search.lexicon.get(wait=True)
        build_s = time.perf_counter() - t1
        assert lexicon is not None
        grid = expansions(search, queries, cands, tuning)
        own = {
            q["id"]: search.expansions(
                q["query"], None, tuning=tuning, catalog_share=cands[q["id"]].catalog_share
            )
            for q in queries
        }
        store.close()
    before = served_run(cands, tuning, None)
    served = served_run(cands, tuning, own, (1.0, 1.0))
    setting, scale = choose(cands, grid, queries, tuning)
    after = served_run(cands, tuning, grid[setting], scale)
    lolo, halves, notes = held_out(cands, grid, queries, tuning)
    header = "| search | " + " | ".join(LABELS[g] for g in GROUPS) + " |"
    lines = [
        f"Served search (USE over titles + MiniLM + keywords, shipped tuning, fallback on; "
        f"Recall@10 over any reply), {len(queries)} queries, {len(catalog)} products; lexicon "
        f"of {len(lexicon)} catalog words built in {build_s:.1f} s "
        f"({time.perf_counter() - t0:.0f} s in all).",
        "",
        header,
        "|---|" + "---:|" * len(GROUPS),
        fmt_row("without lexicon", table(before, queries)),
        fmt_row("with lexicon, shipped knobs", table(served, queries)),
        fmt_row("with lexicon, knobs chosen on all queries", table(after, queries)),
        fmt_row("with lexicon, each language held out", lolo),
        fmt_row("with lexicon, knobs chosen on the other half", halves),
        fmt_row("without lexicon, presented as matches only", table(presented(before), queries)),
        fmt_row(
            "with lexicon, shipped knobs, presented as matches only",
            table(presented(served), queries),
        ),
        "",
        f"Shipped: {shipped_knobs(tuning)}. Chosen on all queries: "
        f"{describe(setting, scale)}. Folds: " + "; ".join(notes) + ".",
    ]
    return "\n".join(lines)


def latency(n: int, rows: Sequence[Mapping[str, Any]]) -> str:
    from bench.search_latency import catalog as synthetic
    from bench.search_latency import engine, percentile
    from recsys.datasets.online_retail import load_catalog
    from recsys.encoder import TextEncoder
    from recsys.search import second_vector_name
    from recsys.store import products_spec
    from recsys.store.edge import EdgeStore

    queries = [q["query"] for q in rows]
    foreign = [i for i, q in enumerate(rows) if q["kind"] == "language"]
    mini, use = TextEncoder(MODELS / MINI_FOLDER), TextEncoder(MODELS / USE_FOLDER)
    space = second_space(USE_FOLDER)
    dims = {"text": mini.dim, second_vector_name(space): use.dim}
    with tempfile.TemporaryDirectory() as tmp:
        store = EdgeStore(Path(tmp) / "qdrant")
        store.ensure_collection(replace(products_spec(size=mini.dim), vectors=dims))
        points = synthetic(n, load_catalog(DEFAULT_CATALOG), dims)
        for start in range(0, n, 1000):
            store.upsert("products", points[start : start + 1000])
        without = engine(store, mini, MINI_FOLDER, use, space, dual=True)
        without.tuning = replace(without.tuning, lexicon_words=0)
        with_ = engine(store, mini, MINI_FOLDER, use, space, dual=True)
        assert with_.lexicon is not None
        t0 = time.perf_counter()
        words = len(with_.lexicon.get(wait=True) or [])
        build_s = time.perf_counter() - t0
        engines = {"without": without, "with": with_}
        for e in engines.values():
            for q in queries[:10]:
                e.search(q, limit=10)
        times: dict[str, list[float]] = {k: [] for k in engines}
        for q in queries:
            for name, e in engines.items():
                t1 = time.perf_counter()
                e.search(q, limit=10)
                times[name].append((time.perf_counter() - t1) * 1000)
        store.close()
    a, b = times["without"], times["with"]
    fa, fb = [a[i] for i in foreign], [b[i] for i in foreign]

    def cells(x: Sequence[float], y: Sequence[float]) -> str:
        p50x, p99x, p50y, p99y = (percentile(v, q) for v in (x, y) for q in (50, 99))
        return (
            f"{p50x:.1f} / {p99x:.1f} ms without, {p50y:.1f} / {p99y:.1f} ms with "
            f"({p50y / p50x:.2f}× p50, {p99y / p99x:.2f}× p99)"
        )

    return (
        f"Latency at {n:,} products (exact dense search, qdrant-edge; every query of the set, "
        f"the two searches query by query in turn, one run): p50 / p99 {cells(a, b)} over all "
        f"{len(a)} queries; over the {len(fa)} language queries {cells(fa, fb)}. Lexicon of "
        f"{words} words built in {build_s:.1f} s there."
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=int, default=0, metavar="PRODUCTS")
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--write", action="store_true", help="update docs/EVALUATION.md")
    args = parser.parse_args(argv)
    from recsys.datasets.online_retail import load_catalog

    queries = load_queries(FULL_OUT)
    parts = []
    if not args.no_quality:
        parts.append(quality(queries, load_catalog(DEFAULT_CATALOG)))
        print(parts[-1], flush=True)
    if args.latency:
        parts.append(latency(args.latency, queries))
        print(parts[-1], flush=True)
    if args.write and parts:
        doc = EVALUATION_MD.read_text(encoding="utf-8")
        before, _, rest = doc.partition(MARKER)
        _, _, after = rest.partition(MARKER)
        body = "\n\n".join(parts)
        EVALUATION_MD.write_text(f"{before}{MARKER}\n{body}\n{MARKER}{after}", encoding="utf-8")


if __name__ == "__main__":
    main()
