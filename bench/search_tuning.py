"""Choosing the search knobs on the query set, and checking the choice on queries it did not see.

Used by bench/search_quality.py. The query set has two halves ("a", "b": by a hash of the
concept, so the five languages of one product concept fall in the same half). For each half,
the knobs are chosen on the *other* half and the figures reported on this one (two-fold
cross-validation); the shipped knobs are chosen on all queries the same way.

A choice is: each encoder's ``min_dense`` (the best dense cosine of any no-match query that
encoder's list can speak for, rounded up to 0.01), then the best point of :data:`GRID` by
:func:`objective` (mean Recall@10 over the match groups; a no-match query presented with
matches costs a full point), the middle of its plateau when several tie.

The fallback floors (``floor_dense``: under the bar, the cosine a list's nearest products need
to be offered flagged as no match) are not chosen on the query set: each is the median best
cosine of :func:`random_queries` — letter strings that mean nothing — against the catalog.
"""

from __future__ import annotations

import itertools
import math
import random
import string
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from recsys.search.fusion import DenseList, Hit, SearchTuning, fuse_lists, is_latin, list_weights

GROUPS = ("ru", "tr", "de", "es", "fr", "rare", "paraphrase", "nomatch")

GRID: dict[str, tuple[float, ...]] = {
    "fuse_coverage": (0.5, 0.6, 0.7),
    "keyword_weight": (1.0, 2.0, 4.0),
    "rrf_k": (10, 20, 60),
    "min_coverage": (0.5, 0.7, 0.9),
}
#: Extra knobs when two encoders' lists are fused.
DUAL_GRID: dict[str, tuple[float, ...]] = {
    "english_gain": (1.0, 2.0, 3.0),
    "multilingual_drop": (0.0, 0.5, 0.8),
}


@dataclass
class Candidates:
    """What fusion sees for one query: each encoder's dense list, the keyword hits (None
    without keyword vectors) and the share of the query's tokens the catalog has."""

    query: str
    dense: list[list[Hit]]
    keywords: list[Hit] | None
    catalog_share: float


@dataclass
class Run:
    """Per-query outputs of one method: the listed keys and whether it said "no match"."""

    lists: dict[str, list[str]] = field(default_factory=dict)
    no_match: dict[str, bool] = field(default_factory=dict)
    #: Not matched, but the nearest products listed, flagged (a search fallback).
    fallback: dict[str, bool] = field(default_factory=dict)


def group_of(q: Mapping[str, Any]) -> str:
    return str(q["lang"]) if q["kind"] == "language" else str(q["kind"])


def hit_at_10(found: Sequence[str], relevant: Sequence[str]) -> float:
    """Recall@10 of the query's one target, any product equivalent to it counting (the
    relevant list holds the target's equivalents: colour variants, re-listings)."""
    return 1.0 if set(found[:10]) & set(relevant) else 0.0


def every_variant_at_10(found: Sequence[str], relevant: Sequence[str]) -> float:
    """|relevant ∩ top 10| / min(|relevant|, 10): every equivalent product must be listed."""
    return len(set(found[:10]) & set(relevant)) / min(len(relevant), 10)


def table(
    run: Run,
    queries: Sequence[Mapping[str, Any]],
    split: str | None = None,
    metric: Any = hit_at_10,
) -> dict[str, float]:
    acc: dict[str, list[float]] = defaultdict(list)
    for q in queries:
        if split and q["split"] != split:
            continue
        g = group_of(q)
        if g == "nomatch":
            acc[g].append(1.0 if run.no_match.get(q["id"], False) else 0.0)
        else:
            acc[g].append(metric(run.lists[q["id"]], q["relevant"]))
    return {g: float(np.mean(v)) for g, v in acc.items()}


def objective(scores: Mapping[str, float]) -> float:
    """Mean Recall@10 over the match groups; every no-match query must say so."""
    recall = float(np.mean([scores[g] for g in GROUPS if g != "nomatch" and g in scores]))
    return recall - (0.0 if scores.get("nomatch", 1.0) >= 1.0 else 1.0)


@dataclass(frozen=True)
class Choice:
    """Knobs for one method: the fusion tuning, each encoder's ``min_dense`` and, for the
    fallback, each encoder's ``floor_dense`` (none: no fallback)."""

    tuning: SearchTuning
    min_dense: tuple[float, ...]
    floors: tuple[float, ...] = ()


def weights(c: Candidates, multilingual: Sequence[bool], tuning: SearchTuning) -> list[float]:
    return list_weights(
        multilingual, catalog_share=c.catalog_share, latin=is_latin(c.query), tuning=tuning
    )


def fused_run(
    cands: Mapping[str, Candidates],
    multilingual: Sequence[bool],
    choice: Choice,
    *,
    gate: bool = True,
    fallback: bool = False,
) -> Run:
    """The search's answers with ``choice`` (``gate=False``: no no-match rule; ``fallback``:
    under the bar, the nearest products over ``choice.floors`` listed, flagged)."""
    run = Run()
    for qid, c in cands.items():
        w = weights(c, multilingual, choice.tuning)
        bars = choice.min_dense if gate else tuple(-1.0 for _ in choice.min_dense)
        floors: Sequence[float | None] = (
            choice.floors if fallback and choice.floors else [None] * len(bars)
        )
        lists = [
            DenseList(h, wi, b, f) for h, wi, b, f in zip(c.dense, w, bars, floors, strict=True)
        ]
        tuning = choice.tuning if gate else replace(choice.tuning, min_coverage=2.0)
        hits, evidence = fuse_lists(lists, c.keywords or [], tuning=tuning, limit=10)
        run.lists[qid] = [h.key for h in hits]
        run.no_match[qid] = not evidence.matched
        run.fallback[qid] = evidence.fallback
    return run


#: Alphabets of :func:`random_queries`: letters, letters and digits, digits, Cyrillic, and the
#: keyboard's letter rows (what a hand mashing keys types).
ALPHABETS = (
    string.ascii_lowercase,
    string.ascii_lowercase + string.digits,
    string.digits,
    "абвгдежзийклмнопрстуфхцчшщыэюя",
    "qwertyuiopasdfghjklzxcvbnm",
)


def random_queries(n: int = 300, seed: int = 1) -> list[str]:
    """``n`` queries that mean nothing: one to three "words" of 3-9 random characters of one
    of :data:`ALPHABETS` (seeded: the same strings every run)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        alphabet = rng.choice(ALPHABETS)
        words = (
            "".join(rng.choice(alphabet) for _ in range(rng.randint(3, 9)))
            for _ in range(rng.randint(1, 3))
        )
        out.append(" ".join(words))
    return out


def floor_of(best: Sequence[float]) -> float:
    """A fallback floor: the median of random queries' best cosines, rounded to 0.01."""
    return round(float(np.median(best)), 2)


def reply_shares(run: Run, queries: Sequence[Mapping[str, Any]]) -> dict[str, tuple[float, ...]]:
    """Per group, the shares of replies that are matches, flagged fallbacks and empty lists."""
    acc: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for q in queries:
        qid = q["id"]
        empty = not run.lists[qid]
        flagged = run.fallback.get(qid, False) and not empty
        matched = not run.no_match.get(qid, False) and not empty
        acc[group_of(q)].append((float(matched), float(flagged), float(empty)))
    return {g: tuple(float(x) for x in np.mean(v, axis=0)) for g, v in acc.items()}


def calibrate(
    cands: Mapping[str, Candidates],
    queries: Sequence[Mapping[str, Any]],
    multilingual: Sequence[bool],
    tuning: SearchTuning,
) -> tuple[float, ...]:
    """Each encoder's ``min_dense``: just above the best cosine of any of ``queries``' no-match
    queries that its list weighs in on."""
    bars = []
    for i in range(len(multilingual)):
        best = [
            cands[q["id"]].dense[i][0].score
            for q in queries
            if q["kind"] == "nomatch"
            and cands[q["id"]].dense[i]
            and weights(cands[q["id"]], multilingual, tuning)[i] > 0
        ]
        bars.append(math.ceil(max(best, default=0.0) * 100 + 1e-9) / 100)
    return tuple(bars)


def choose(
    cands: Mapping[str, Candidates],
    queries: Sequence[Mapping[str, Any]],
    multilingual: Sequence[bool],
) -> tuple[Choice, int]:
    """The best knobs on ``queries`` (and how many points the grid had)."""
    mine = {q["id"]: cands[q["id"]] for q in queries}
    grid = dict(GRID, **(DUAL_GRID if len(multilingual) > 1 else {}))
    results: list[tuple[float, Choice]] = []
    for values in itertools.product(*grid.values()):
        tuning = SearchTuning(**dict(zip(grid, values, strict=True)))  # type: ignore[arg-type]
        choice = Choice(tuning, calibrate(mine, queries, multilingual, tuning))
        score = objective(table(fused_run(mine, multilingual, choice), queries))
        results.append((score, choice))
    best = max(s for s, _ in results)
    # Among equally good settings take the middle one of the plateau, not its edge.
    plateau = [c for s, c in results if s >= best - 1e-9]
    return plateau[len(plateau) // 2], len(results)


def cross_validated(
    cands: Mapping[str, Candidates],
    queries: Sequence[Mapping[str, Any]],
    multilingual: Sequence[bool],
) -> tuple[Run, dict[str, Choice]]:
    """Each half answered with the knobs chosen on the other half."""
    run = Run()
    chosen: dict[str, Choice] = {}
    for held, other in (("a", "b"), ("b", "a")):
        choice, _ = choose(cands, [q for q in queries if q["split"] == other], multilingual)
        chosen[held] = choice
        part = fused_run(
            {q["id"]: cands[q["id"]] for q in queries if q["split"] == held}, multilingual, choice
        )
        run.lists.update(part.lists)
        run.no_match.update(part.no_match)
    return run, chosen
