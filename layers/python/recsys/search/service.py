"""Product search: the query's dense neighbours and its keyword evidence, fused (see fusion.py).

One search is a dense query on "text", a sparse BM25 query on "keywords" and, batched in one
call, a single-token sparse query per query token whose top score gives that token's IDF
(:func:`recsys.search.keywords.idf_from_probe`) — the store keeps the counts, we keep nothing.
A collection without "keywords" (created before them) searches by meaning alone.

With a second encoder (:class:`DenseSource`: its vectors are a second named vector of the same
products, e.g. multilingual USE beside English MiniLM), the query is embedded by both and both
dense lists are fused, weighted by the query's language (:func:`recsys.search.fusion.list_weights`:
the share of its words the catalog has, from the same probes, and its script).

With a shopper's taste vector the matches are reordered (70 % the query's fused rank, 30 % the
taste's cosine), never extended: taste cannot turn a product into a match.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from recsys.catalog.text import product_text
from recsys.core.types import Encoder, Vector
from recsys.search import keywords as kw
from recsys.search.fusion import (
    DenseList,
    Evidence,
    FusedHit,
    Hit,
    SearchTuning,
    dense_lists_join,
    foreign_share,
    fuse_lists,
    is_latin,
    list_weights,
)
from recsys.search.lexicon import LexiconCache, expansion_text, expansion_weights, query_units
from recsys.store.base import Filters, Record, VectorStore
from recsys.store.space_ids import second_vector_name

__all__ = [
    "FALLBACK",
    "KEYWORDS",
    "NO_MATCH",
    "PRIMARY_VECTOR",
    "DenseSource",
    "KeywordEvidence",
    "ProductSearch",
    "SearchResult",
    "is_multilingual",
    "second_vector_name",
]

#: A reply's strategy when nothing matched: an empty list, or the nearest products flagged as
#: no match ("no exact match — you might mean").
NO_MATCH = "search:no-match"
FALLBACK = "search:fallback"
#: The named vector of the store's primary encoder.
PRIMARY_VECTOR = "text"


def is_multilingual(encoder: Encoder) -> bool:
    """Whether ``encoder`` reads more than English (its model folder's ``languages``)."""
    return len(getattr(encoder, "languages", ("en",))) > 1


@dataclass(frozen=True)
class DenseSource:
    """A second encoder whose vectors the products carry as the named vector ``using``, with
    the cosine its best hit needs to count as a match (its own ``min_dense``) and the one it
    needs for a flagged fallback (``floor_dense``; None: none from this list)."""

    encoder: Encoder
    using: str
    min_dense: float
    #: The encoder's model folder name (the store checks its vectors against ``using``'s).
    model: str = ""
    floor_dense: float | None = None


@dataclass
class KeywordEvidence:
    """BM25 hits with their coverage, and the share of the query's tokens the catalog has."""

    hits: list[Hit]
    catalog_share: float


KEYWORDS = kw.KEYWORDS


@dataclass
class SearchResult:
    """The products to present and the evidence behind them: matches, or, when nothing
    matched, the nearest products flagged as such (``evidence.fallback``) or none."""

    hits: list[FusedHit]
    evidence: Evidence
    #: Whether keyword evidence was available at all (a collection without "keywords": no).
    keywords: bool = True
    problems: list[str] = field(default_factory=list)


class ProductSearch:
    """Fused search over one products collection."""

    def __init__(
        self,
        *,
        store: VectorStore,
        collection: str,
        encoder: Encoder,
        tuning: SearchTuning,
        candidates: int = 50,
        max_tokens: int = 8,
        count_ttl_s: float = 60.0,
        second: DenseSource | None = None,
        solo_tuning: SearchTuning | None = None,
        lexicon_ttl_s: float = 600.0,
    ) -> None:
        self.store = store
        self.second = second
        #: The catalog's words in the multilingual encoder's space (recsys.search.lexicon),
        #: when one of the encoders is multilingual; built in the background on first use.
        multi = next(
            (e for e in (second.encoder if second else None, encoder) if e and is_multilingual(e)),
            None,
        )
        self.lexicon = (
            LexiconCache(store, collection, multi, ttl_s=lexicon_ttl_s) if multi else None
        )
        #: The primary encoder's own tuning, for a query whose second list is empty (products
        #: written where the second model is not installed lack its vector); default: tuning.
        self.solo_tuning = solo_tuning or tuning
        self.collection = collection
        self.encoder = encoder
        self.tuning = tuning
        self.candidates = candidates
        self.max_tokens = max_tokens
        self._count_ttl_s = count_ttl_s
        self._count: tuple[float, int] | None = None
        self._lock = threading.Lock()

    def _points(self) -> int:
        """Products in the collection (for the IDF of tokens no product has), cached briefly."""
        now = time.monotonic()
        with self._lock:
            if self._count is not None and now - self._count[0] < self._count_ttl_s:
                return self._count[1]
        n = self.store.count(self.collection, Filters(is_active=None))
        with self._lock:
            self._count = (now, n)
        return n

    def query_idf(self, tokens: Sequence[str]) -> dict[str, float]:
        """Each token's IDF in the collection, from one batched single-token probe each."""
        return self.probe_tokens(tokens)[0]

    def probe_tokens(self, tokens: Sequence[str]) -> tuple[dict[str, float], float]:
        """:meth:`query_idf`, and the share of the tokens some product has."""
        probes = self.store.search_sparse_batch(
            self.collection, [kw.query_weights([t]) for t in tokens], using=KEYWORDS, limit=1
        )
        out: dict[str, float] = {}
        unseen = kw.idf(self._points(), 0)
        for token, hits in zip(tokens, probes, strict=True):
            value = None
            if hits:
                top = hits[0]
                value = kw.idf_from_probe(token, top.score, product_text(top.payload), key=top.key)
            out[token] = value if value is not None else unseen
        share = sum(bool(h) for h in probes) / len(tokens) if tokens else 0.0
        return out, share

    def keyword_evidence(self, query: str, filters: Filters | None) -> KeywordEvidence | None:
        """BM25 hits with their coverage and the query's catalog share; None when the
        collection has no keyword vectors."""
        if not self.store.has_sparse(self.collection, KEYWORDS):
            return None
        tokens = kw.query_tokens(query)[: self.max_tokens]
        if not tokens:
            return KeywordEvidence([], 0.0)
        found = self.store.search_sparse(
            self.collection,
            kw.query_weights(tokens),
            using=KEYWORDS,
            limit=self.candidates,
            filters=filters,
        )
        if not found:
            return KeywordEvidence([], 0.0)
        idf, share = self.probe_tokens(tokens)
        # Ties in BM25 are common (same words, same length): break them by key, so a query's
        # list does not depend on the store's internal order.
        found.sort(key=lambda r: (-r.score, r.key))
        hits = [
            Hit(
                r.key,
                r.score,
                r.payload,
                coverage=kw.coverage(idf, kw.document_tokens(product_text(r.payload), key=r.key)),
            )
            for r in found
        ]
        return KeywordEvidence(hits, share)

    def keyword_hits(self, query: str, filters: Filters | None) -> list[Hit] | None:
        """:meth:`keyword_evidence`'s hits (None without keyword vectors)."""
        evidence = self.keyword_evidence(query, filters)
        return None if evidence is None else evidence.hits

    def dense_hits(
        self,
        query: str,
        *,
        encoder: Encoder,
        using: str,
        limit: int,
        filters: Filters | None,
        with_vectors: bool = False,
        model: str | None = None,
    ) -> tuple[list[Hit], list[Record]]:
        """One encoder's dense hits for ``query`` (best first; ties by key) and the records
        (``model``: the encoder's, for the store's space check; None: what the context noted)."""
        qvec = np.asarray(encoder.encode([query]), dtype=np.float32)[0]
        found = self.store.search(
            self.collection,
            qvec,
            using=using,
            limit=max(limit, self.candidates),
            filters=filters,
            with_vectors=with_vectors,
            model=model,
        )
        hits = [
            Hit(r.key, r.score, r.payload) for r in sorted(found, key=lambda r: (-r.score, r.key))
        ]
        return hits, found

    def dense_lists(
        self, query: str, primary: list[Hit], second: list[Hit] | None, catalog_share: float
    ) -> list[DenseList]:
        """The dense lists to fuse, weighted by the query's language (see fusion.list_weights);
        the primary's alone, under its own tuning, when the second list is empty."""
        if not second or self.second is None:
            solo = self.solo_tuning
            return [DenseList(primary, 1.0, solo.min_dense, solo.floor_dense)]
        floor = self.tuning.floor_dense
        weights = list_weights(
            [is_multilingual(self.encoder), is_multilingual(self.second.encoder)],
            catalog_share=catalog_share,
            latin=is_latin(query),
            tuning=self.tuning,
        )
        return [
            DenseList(primary, weights[0], self.tuning.min_dense, floor),
            DenseList(second, weights[1], self.second.min_dense, self.second.floor_dense),
        ]

    def search(
        self,
        query: str,
        *,
        limit: int,
        filters: Filters | None = None,
        taste: Vector | None = None,
        taste_weight: float = 0.3,
    ) -> SearchResult:
        """The matches for ``query`` (best first, at most ``limit``) with the evidence; with no
        match, the nearest products (``evidence.fallback``) or none."""
        dense, found = self.dense_hits(
            query,
            encoder=self.encoder,
            using=PRIMARY_VECTOR,
            limit=limit,
            filters=filters,
            with_vectors=taste is not None,
        )
        second = None
        if self.second is not None:
            second, _ = self.dense_hits(
                query,
                encoder=self.second.encoder,
                using=self.second.using,
                limit=limit,
                filters=filters,
                model=self.second.model or None,
            )
        keyword = self.keyword_evidence(query, filters)
        lists = self.dense_lists(query, dense, second, keyword.catalog_share if keyword else 0.0)
        tuning = self.tuning if len(lists) > 1 else self.solo_tuning
        share = keyword.catalog_share if keyword else 0.0
        found_keywords = keyword.hits if keyword else []
        # The lexicon's lists are searched only when the dense lists take part in the reply.
        expansions = (
            self.expansions(query, filters, tuning=tuning, catalog_share=share)
            if dense_lists_join(lists, found_keywords, tuning=tuning)
            else []
        )
        hits, evidence = fuse_lists(
            lists, found_keywords, tuning=tuning, limit=limit, expansions=expansions
        )
        if taste is not None and hits:
            vectors = {r.key: r.vectors.get(PRIMARY_VECTOR) for r in found}
            hits = self._lean(hits, vectors, taste, taste_weight)
        return SearchResult(hits, evidence, keywords=keyword is not None)

    def expansions(
        self, query: str, filters: Filters | None, *, tuning: SearchTuning, catalog_share: float
    ) -> list[tuple[list[Hit], float]]:
        """The lexicon's lists for a query not in the catalog's language, with their fusion
        weights: its words mapped to catalog words (recsys.search.lexicon), searched by BM25
        over the products' keywords and, when the store's encoder is English, by it over the
        words joined. No lists for a query in the catalog's language, or before the lexicon is
        built (search goes without it until then)."""
        foreign = foreign_share(catalog_share=catalog_share, latin=is_latin(query))
        if tuning.lexicon_words <= 0 or foreign <= 0 or self.lexicon is None:
            return []
        lexicon = self.lexicon.get()
        if lexicon is None:
            return []
        found = lexicon.neighbours(
            query_units(query, max_units=self.max_tokens),
            self.lexicon.encoder,
            per_unit=tuning.lexicon_words,
            min_cosine=tuning.lexicon_min_cosine,
            hub_weight=tuning.lexicon_hub,
            local=tuning.lexicon_local,
            backoff=tuning.lexicon_backoff,
            strip_penalty=tuning.lexicon_strip_penalty,
            cognate=tuning.lexicon_cognate,
        )
        if not found:
            return []
        out: list[tuple[list[Hit], float]] = []
        if tuning.lexicon_keyword_weight > 0 and self.store.has_sparse(self.collection, KEYWORDS):
            records = self.store.search_sparse(
                self.collection,
                expansion_weights(found),
                using=KEYWORDS,
                limit=self.candidates,
                filters=filters,
            )
            hits = [Hit(r.key, r.score, r.payload) for r in records]
            hits.sort(key=lambda h: (-h.score, h.key))
            out.append((hits, tuning.lexicon_keyword_weight * foreign))
        if tuning.lexicon_dense_weight > 0 and not is_multilingual(self.encoder):
            dense, _ = self.dense_hits(
                expansion_text(found),
                encoder=self.encoder,
                using=PRIMARY_VECTOR,
                limit=self.candidates,
                filters=filters,
            )
            out.append((dense, tuning.lexicon_dense_weight * foreign))
        return out

    def _lean(
        self,
        hits: list[FusedHit],
        vectors: dict[str, Vector | None],
        taste: Vector,
        weight: float,
    ) -> list[FusedHit]:
        missing = [h.key for h in hits if vectors.get(h.key) is None]
        if missing:
            for r in self.store.retrieve(self.collection, missing, with_vectors=True):
                vectors[r.key] = r.vectors.get(PRIMARY_VECTOR)
        unit = taste / max(float(np.linalg.norm(taste)), 1e-12)
        top = max(h.score for h in hits) or 1.0

        def leaned(h: FusedHit) -> float:
            vec = vectors.get(h.key)
            cos = (
                float(np.dot(unit, vec) / max(float(np.linalg.norm(vec)), 1e-12))
                if vec is not None
                else 0.0
            )
            return (1.0 - weight) * h.score / top + weight * max(cos, 0.0)

        return sorted(hits, key=lambda h: (-leaned(h), h.key))
