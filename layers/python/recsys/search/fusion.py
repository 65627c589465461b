"""Joining dense and keyword evidence, and deciding whether anything matched at all.

Pure functions over ranked lists, shared by ``GET /search`` and the offline evaluation
(bench/search_quality.py), so what is measured is what serves. The rules, and the figures they
were chosen on, are in docs/EVALUATION.md ("Search"):

- **Keywords join only when they add evidence.** A product's *coverage* is the share of the
  query's IDF mass its tokens hold (:func:`recsys.search.keywords.coverage`). When the best
  keyword hit covers at least ``fuse_coverage`` of the query (a code, a rare word, a phrase the
  title has), the keyword list is fused with the dense list by weighted reciprocal rank;
  otherwise it is left out — fused always, a shared common word ("hot", "keep") pushed good
  dense hits out of paraphrase queries.
- **A query that matches nothing says so.** It matched when the best dense cosine reaches the
  encoder's calibrated ``min_dense`` or keywords cover at least ``min_coverage`` of it; else the
  reply is empty and flagged. With keyword evidence only, only the products carrying it are
  listed, so no product is presented as a match on the strength of a cosine under the bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "DENSE_THRESHOLDS",
    "TUNINGS",
    "Evidence",
    "FusedHit",
    "Hit",
    "SearchTuning",
    "fuse",
    "tuning_for",
]


@dataclass(frozen=True)
class Hit:
    """One product in one ranked list: its key, score (cosine or BM25) and payload."""

    key: str
    score: float
    payload: Mapping[str, Any] = field(default_factory=dict)
    #: Keyword hits: the share of the query's IDF mass the product holds.
    coverage: float = 0.0


@dataclass(frozen=True)
class SearchTuning:
    """The knobs of :func:`fuse`; defaults chosen on the query set (docs/EVALUATION.md)."""

    #: Keywords are fused when the best keyword hit covers this share of the query's IDF.
    fuse_coverage: float = 0.5
    #: Weight of the keyword list in reciprocal-rank fusion (each dense list weighs 1).
    keyword_weight: float = 2.0
    #: The k of reciprocal-rank fusion: 1 / (k + rank).
    rrf_k: int = 20
    #: The best dense cosine a query needs for its dense hits to count as matches.
    min_dense: float = 0.35
    #: Keyword coverage that is a match by itself (a code, every rare word of the query).
    min_coverage: float = 0.5


#: The tuning chosen per encoder (model folder name) by bench/search_quality.py on the query set
#: (docs/EVALUATION.md, "Search"): the fusion knobs are the middle of the best plateau of its grid
#: on the calibration half; ``min_dense`` sits just above the best cosine of every no-match query
#: of the set. Chosen on half a alone, the bar held on half b for the multilingual encoder and did
#: not for MiniLM ("plumber near me" → BATHROOM HOOK at 0.445), so the shipped bars take all 30.
TUNINGS: dict[str, SearchTuning] = {
    "all-MiniLM-L6-v2-int8": SearchTuning(
        fuse_coverage=0.6, keyword_weight=4.0, rrf_k=20, min_dense=0.45, min_coverage=0.7
    ),
    "use-multilingual-v3-int8": SearchTuning(
        fuse_coverage=0.6, keyword_weight=2.0, rrf_k=20, min_dense=0.37, min_coverage=0.7
    ),
}
DENSE_THRESHOLDS = {name: t.min_dense for name, t in TUNINGS.items()}


def tuning_for(model: str | None, **overrides: Any) -> SearchTuning:
    """The tuning for encoder ``model`` (a folder name; unknown ones get the defaults), with
    the ``overrides`` that are not None."""
    base = TUNINGS.get(model or "", SearchTuning())
    values = {k: v for k, v in overrides.items() if v is not None}
    return replace(base, **values)


@dataclass(frozen=True)
class FusedHit:
    """A product in the fused list, with what put it there."""

    key: str
    score: float
    payload: Mapping[str, Any]
    dense: float | None
    coverage: float
    #: "keywords" when its keyword evidence carried it, else "meaning".
    via: str


@dataclass(frozen=True)
class Evidence:
    """Why the list is what it is (for the reply, logs and the evaluation)."""

    best_dense: float
    best_coverage: float
    keywords_fused: bool
    matched: bool


def _rrf(lists: Sequence[tuple[Sequence[Hit], float]], k: int) -> dict[str, float]:
    scores: dict[str, float] = {}
    for hits, weight in lists:
        for rank, hit in enumerate(hits):
            scores[hit.key] = scores.get(hit.key, 0.0) + weight / (k + rank + 1)
    return scores


def fuse(
    dense: Sequence[Hit],
    keywords: Sequence[Hit],
    *,
    tuning: SearchTuning,
    limit: int,
) -> tuple[list[FusedHit], Evidence]:
    """The products to present for a query (best first, at most ``limit``) and the evidence.

    ``dense`` is ranked by cosine (best first), ``keywords`` by BM25 with ``coverage`` set.
    """
    best_dense = dense[0].score if dense else 0.0
    best_coverage = max((h.coverage for h in keywords), default=0.0)
    dense_ok = best_dense >= tuning.min_dense
    keyword_ok = best_coverage >= tuning.min_coverage
    fuse_keywords = best_coverage >= tuning.fuse_coverage
    evidence = Evidence(best_dense, best_coverage, fuse_keywords, dense_ok or keyword_ok)
    if not evidence.matched:
        return [], evidence
    by_key: dict[str, Hit] = {h.key: h for h in dense}
    cos = {h.key: h.score for h in dense}
    cover = {h.key: h.coverage for h in keywords}
    for h in keywords:
        by_key.setdefault(h.key, h)
    lists: list[tuple[Sequence[Hit], float]] = []
    if dense_ok:
        lists.append((dense, 1.0))
    if fuse_keywords or not dense_ok:
        # Without dense evidence only the products that carry the keyword evidence may show.
        strong = [h for h in keywords if dense_ok or h.coverage >= tuning.min_coverage]
        lists.append((strong, tuning.keyword_weight))
    scores = _rrf(lists, tuning.rrf_k)
    ranked = sorted(scores, key=lambda key: (-scores[key], key))[:limit]
    out = [
        FusedHit(
            key=key,
            score=round(scores[key], 6),
            payload=by_key[key].payload,
            dense=cos.get(key),
            coverage=cover.get(key, 0.0),
            via="keywords"
            if cover.get(key, 0.0) >= tuning.fuse_coverage and (fuse_keywords or not dense_ok)
            else "meaning",
        )
        for key in ranked
    ]
    return out, evidence
