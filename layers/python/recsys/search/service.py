"""Product search: the query's dense neighbours and its keyword evidence, fused (see fusion.py).

One search is a dense query on "text", a sparse BM25 query on "keywords" and, batched in one
call, a single-token sparse query per query token whose top score gives that token's IDF
(:func:`recsys.search.keywords.idf_from_probe`) — the store keeps the counts, we keep nothing.
A collection without "keywords" (created before them) searches by meaning alone.

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
from recsys.search.fusion import Evidence, FusedHit, Hit, SearchTuning, fuse
from recsys.store.base import Filters, VectorStore

__all__ = ["KEYWORDS", "ProductSearch", "SearchResult"]

KEYWORDS = kw.KEYWORDS


@dataclass
class SearchResult:
    """The products to present (empty when nothing matched) and the evidence behind them."""

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
    ) -> None:
        self.store = store
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
        return out

    def keyword_hits(self, query: str, filters: Filters | None) -> list[Hit] | None:
        """BM25 hits with their coverage; None when the collection has no keyword vectors."""
        if not self.store.has_sparse(self.collection, KEYWORDS):
            return None
        tokens = kw.query_tokens(query)[: self.max_tokens]
        if not tokens:
            return []
        found = self.store.search_sparse(
            self.collection,
            kw.query_weights(tokens),
            using=KEYWORDS,
            limit=self.candidates,
            filters=filters,
        )
        if not found:
            return []
        idf = self.query_idf(tokens)
        # Ties in BM25 are common (same words, same length): break them by key, so a query's
        # list does not depend on the store's internal order.
        found.sort(key=lambda r: (-r.score, r.key))
        return [
            Hit(
                r.key,
                r.score,
                r.payload,
                coverage=kw.coverage(idf, kw.document_tokens(product_text(r.payload), key=r.key)),
            )
            for r in found
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
        """The matches for ``query`` (best first, at most ``limit``), or none, with evidence."""
        qvec = np.asarray(self.encoder.encode([query]), dtype=np.float32)[0]
        found = self.store.search(
            self.collection,
            qvec,
            using="text",
            limit=max(limit, self.candidates),
            filters=filters,
            with_vectors=taste is not None,
        )
        dense = [
            Hit(r.key, r.score, r.payload) for r in sorted(found, key=lambda r: (-r.score, r.key))
        ]
        keyword = self.keyword_hits(query, filters)
        hits, evidence = fuse(dense, keyword or [], tuning=self.tuning, limit=limit)
        if taste is not None and hits:
            vectors = {r.key: r.vectors.get("text") for r in found}
            hits = self._lean(hits, vectors, taste, taste_weight)
        return SearchResult(hits, evidence, keywords=keyword is not None)

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
                vectors[r.key] = r.vectors.get("text")
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
