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
  encoder's calibrated ``min_dense`` or keywords cover at least ``min_coverage`` of it. With
  keyword evidence only, only the products carrying it are listed, so no product is presented
  as a match on the strength of a cosine under the bar.
- **Under the bar, a flagged fallback; far under it, nothing.** A query that did not match but
  whose best cosine on some weighted-in list still reaches that encoder's ``floor_dense`` gets
  the nearest products (every weighted-in list fused, as for a match) with
  ``Evidence.fallback`` set: the reply says "no exact match — you might mean", never "match".
  Below every floor (most random letter strings) the list is empty. The bars and the floors
  overlap with true matches (a fifth of the language queries' targets score under the bar), so
  the fallback gives a shopper in another language the product the bar refused.
- **Two encoders, weighted by the query's language.** With a second encoder's list (English
  MiniLM beside multilingual USE), each dense list is fused by weighted reciprocal rank with a
  weight from :func:`list_weights`: how much of the query the catalog's own vocabulary holds
  (``catalog_share``, from the keyword probes) and whether it is written in Latin script. A
  query in the catalog's language leans on the English encoder, any other on the multilingual
  one; each list is judged against its own encoder's bar, and an English-only list counts as
  evidence only for a query it can read (weight > 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "DENSE_THRESHOLDS",
    "TUNINGS",
    "DenseList",
    "Evidence",
    "FusedHit",
    "Hit",
    "SearchTuning",
    "dense_lists_join",
    "foreign_share",
    "fuse",
    "fuse_lists",
    "is_latin",
    "list_weights",
    "pair_tuning",
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
    #: Two encoders: the English list's weight is ``min(1, english_gain · catalog_share)``
    #: for a query in Latin script (0 otherwise) …
    english_gain: float = 2.0
    #: … and the multilingual list's ``1 − multilingual_drop · catalog_share`` (Latin script).
    multilingual_drop: float = 0.5
    #: Two encoders: the second one's ``min_dense`` (None: that encoder's own tuning's).
    second_min_dense: float | None = None
    #: Under ``min_dense``, the best cosine a list needs for its nearest products to be offered
    #: as a flagged fallback; under it on every list the reply is empty.
    floor_dense: float = 0.30
    #: Two encoders: the second one's ``floor_dense`` (None: that encoder's own tuning's).
    second_floor_dense: float | None = None
    #: Lexicon expansion (recsys.search.lexicon): catalog words per query word (0: off) …
    lexicon_words: int = 0
    #: … the cosine a catalog word needs to a query word, the hubness it is ranked down by …
    lexicon_min_cosine: float = 0.45
    lexicon_hub: float = 0.5
    #: … CSLS's query-side term: the weight of the query word's own neighbourhood …
    lexicon_local: float = 0.0
    #: … for a query word the catalog lacks, its stems with up to this many trailing letters
    #: dropped, each letter costing ``lexicon_strip_penalty`` of cosine …
    lexicon_backoff: int = 0
    lexicon_strip_penalty: float = 0.0
    #: … and the weight of a catalog word's trigram overlap with the query word (cognates) …
    lexicon_cognate: float = 0.0
    #: … and the fusion weights of the words' BM25 list and of the English encoder's list
    #: over the words, each times :func:`foreign_share` of the query.
    lexicon_keyword_weight: float = 0.5
    lexicon_dense_weight: float = 0.5


#: The tuning chosen per encoder (model folder name, or a second vector's space id), and per
#: pair of encoders ("primary+second"), by bench/search_quality.py on the query set
#: (docs/EVALUATION.md, "Search"): the fusion knobs are the middle of the best plateau of its
#: grid; ``min_dense`` sits just above the best cosine of every no-match query the encoder's
#: list weighs in on. Chosen on one half of the set, the knobs were checked on the other
#: (cross-validated rows there).
#: ``floor_dense`` is the median best cosine of random letter strings against the catalog
#: (bench/search_tuning.py, ``random_queries``): about half of them get no fallback from it.
#: The fusion knobs every encoder and the pair share on the query set.
_CHOSEN = SearchTuning(fuse_coverage=0.6, keyword_weight=2.0, rrf_k=20, min_coverage=0.7)
#: USE (over the full text) with MiniLM.
_PAIR = replace(
    _CHOSEN,
    rrf_k=10,
    min_dense=0.40,
    english_gain=2.0,
    multilingual_drop=0.5,
    second_min_dense=0.35,
    floor_dense=0.28,
    second_floor_dense=0.31,
)
TUNINGS: dict[str, SearchTuning] = {
    "all-MiniLM-L6-v2-int8": replace(_CHOSEN, min_dense=0.45, floor_dense=0.31),
    "use-multilingual-v3-int8": replace(_CHOSEN, min_dense=0.40, floor_dense=0.28),
    "use-multilingual-v3-int8+all-MiniLM-L6-v2-int8": _PAIR,
    # USE over the titles alone (the products' second vector beside MiniLM's "text": space id
    # ``<model>~title``, recsys.store.space_ids.SECOND_TEXTS). Short texts sit nearer random
    # strings (floor 0.36) and a gibberish word reaches 0.54 on one title, hence the bar.
    "use-multilingual-v3-int8~title": replace(_CHOSEN, min_dense=0.55, floor_dense=0.36),
    # With the lexicon expansion (recsys.search.lexicon; bench/search_lexicon.py): three
    # catalog words per query word at cosine 0.45, by cosine. CSLS and stem back-off were
    # chosen in some runs and folds and not in others (docs/EVALUATION.md, "Lexicon
    # expansion"): no gain that holds out, so they stay off.
    "use-multilingual-v3-int8~title+all-MiniLM-L6-v2-int8": replace(
        _PAIR,
        min_dense=0.55,
        multilingual_drop=0.8,
        floor_dense=0.36,
        lexicon_words=3,
        lexicon_min_cosine=0.45,
        lexicon_hub=0.0,
        lexicon_keyword_weight=0.5,
        lexicon_dense_weight=0.5,
    ),
}
DENSE_THRESHOLDS = {name: t.min_dense for name, t in TUNINGS.items() if "+" not in name}


def pair_tuning(primary: str, second: str) -> SearchTuning | None:
    """The tuning of two encoders fused (either may be the store's primary), or None."""
    direct = TUNINGS.get(f"{primary}+{second}")
    if direct is not None:
        return direct
    other = TUNINGS.get(f"{second}+{primary}")
    if other is None or other.second_min_dense is None:
        return None
    floor = other.second_floor_dense
    return replace(
        other,
        min_dense=other.second_min_dense,
        second_min_dense=other.min_dense,
        floor_dense=floor if floor is not None else TUNINGS.get(primary, other).floor_dense,
        second_floor_dense=other.floor_dense,
    )


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
    #: "keywords" when its keyword evidence carried it, "meaning" when its cosine did,
    #: "nearest" in a fallback (no match: the nearest products, flagged as such).
    via: str


@dataclass(frozen=True)
class Evidence:
    """Why the list is what it is (for the reply, logs and the evaluation)."""

    best_dense: float
    best_coverage: float
    keywords_fused: bool
    matched: bool
    #: Not matched, but the hits are the nearest products, to be offered flagged as no match.
    fallback: bool = False


@dataclass(frozen=True)
class DenseList:
    """One encoder's dense hits for a query (best first), their fusion weight, the cosine
    its best hit needs for the list to count as a match (that encoder's ``min_dense``) and the
    one it needs for a flagged fallback (``floor_dense``; None: no fallback from this list)."""

    hits: Sequence[Hit]
    weight: float
    min_dense: float
    floor: float | None = None

    @property
    def best(self) -> float:
        return self.hits[0].score if self.hits else 0.0

    @property
    def ok(self) -> bool:
        """Whether this list is evidence of a match (weighted in, best hit over its bar)."""
        return self.weight > 0 and bool(self.hits) and self.best >= self.min_dense

    @property
    def near(self) -> bool:
        """Whether this list's nearest products may be offered as a fallback (weighted in,
        best hit over its floor)."""
        return (
            self.floor is not None
            and self.weight > 0
            and bool(self.hits)
            and self.best >= self.floor
        )


def is_latin(text: str) -> bool:
    """Whether every letter of ``text`` is Latin (ASCII or Latin-1/Extended: "Gießkanne",
    "çalar saat"), which an English-only encoder can at least read."""
    return all(ord(c) < 0x250 for c in text if c.isalpha())


def list_weights(
    multilingual: Sequence[bool], *, catalog_share: float, latin: bool, tuning: SearchTuning
) -> list[float]:
    """Fusion weights of the dense lists of encoders that are (True) or are not multilingual.

    One list weighs 1. With an English-only one beside a multilingual one, ``catalog_share``
    (the share of the query's words the catalog has) says how much the query is in the
    catalog's language: the English list gets ``min(1, english_gain · share)``, the
    multilingual one ``1 − multilingual_drop · share``; a query not in Latin script, none and 1.
    """
    if len(multilingual) < 2:
        return [1.0] * len(multilingual)
    share = min(max(catalog_share, 0.0), 1.0) if latin else 0.0
    return [
        1.0 - tuning.multilingual_drop * share if multi else min(1.0, tuning.english_gain * share)
        for multi in multilingual
    ]


def foreign_share(*, catalog_share: float, latin: bool) -> float:
    """How much of a query is not in the catalog's language: the share of its words the
    catalog lacks (Latin script), 1 for any other script."""
    return 1.0 - min(max(catalog_share, 0.0), 1.0) if latin else 1.0


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
    return fuse_lists(
        [DenseList(dense, 1.0, tuning.min_dense, tuning.floor_dense)],
        keywords,
        tuning=tuning,
        limit=limit,
    )


def dense_lists_join(
    dense_lists: Sequence[DenseList], keywords: Sequence[Hit], *, tuning: SearchTuning
) -> bool:
    """Whether :func:`fuse_lists` fuses the dense lists (and so any expansions): some list is
    over its bar, or nothing matched and some list is over its floor (a fallback)."""
    if any(d.ok for d in dense_lists):
        return True
    keyword_ok = max((h.coverage for h in keywords), default=0.0) >= tuning.min_coverage
    return not keyword_ok and any(d.near for d in dense_lists)


def fuse_lists(
    dense_lists: Sequence[DenseList],
    keywords: Sequence[Hit],
    *,
    tuning: SearchTuning,
    limit: int,
    expansions: Sequence[tuple[Sequence[Hit], float]] = (),
) -> tuple[list[FusedHit], Evidence]:
    """:func:`fuse` over several encoders' dense lists (the first is the store's primary).

    The query matched when any list is over its own bar, or keywords cover ``min_coverage``;
    then every weighted-in list takes part in the fusion. Otherwise, when a list is over its
    floor, the same fusion gives the fallback (``Evidence.fallback``, every hit "nearest");
    else nothing. ``expansions`` (ranked lists with their weights: the lexicon's, from the
    query's words mapped to catalog words) join the fusion whenever the dense lists do, and
    never decide whether anything matched.
    """
    best_dense = dense_lists[0].best if dense_lists else 0.0
    best_coverage = max((h.coverage for h in keywords), default=0.0)
    dense_ok = any(d.ok for d in dense_lists)
    matched = dense_ok or best_coverage >= tuning.min_coverage
    fuse_keywords = best_coverage >= tuning.fuse_coverage
    fallback = not matched and any(d.near for d in dense_lists)
    evidence = Evidence(best_dense, best_coverage, fuse_keywords, matched, fallback)
    if not matched and not fallback:
        return [], evidence
    # A fallback is fused as a match would be: the nearest products of the lists weighed in.
    dense_in = dense_lists_join(dense_lists, keywords, tuning=tuning)
    by_key: dict[str, Hit] = {}
    cos: dict[str, float] = {}
    for d in reversed(dense_lists):  # the primary's payload and cosine win
        by_key.update((h.key, h) for h in d.hits)
        cos.update((h.key, h.score) for h in d.hits)
    cover = {h.key: h.coverage for h in keywords}
    for h in keywords:
        by_key.setdefault(h.key, h)
    lists: list[tuple[Sequence[Hit], float]] = []
    if dense_in:
        lists.extend((d.hits, d.weight) for d in dense_lists if d.weight > 0)
        for hits, weight in expansions:
            if weight > 0:
                lists.append((hits, weight))
                for h in hits:
                    by_key.setdefault(h.key, h)
    if fuse_keywords or not dense_in:
        # Without dense evidence only the products that carry the keyword evidence may show.
        strong = [h for h in keywords if dense_in or h.coverage >= tuning.min_coverage]
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
            via="nearest"
            if fallback
            else "keywords"
            if cover.get(key, 0.0) >= tuning.fuse_coverage
            else "meaning",
        )
        for key in ranked
    ]
    return out, evidence
