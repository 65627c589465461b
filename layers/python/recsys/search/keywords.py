"""Keyword evidence for search: BM25 weights as sparse vectors, with no index of our own.

A product's text (:func:`recsys.catalog.text.product_text`) and its product id are tokenised
(:func:`tokenize`) and each token gets BM25's term-frequency part,
``tf·(k1+1) / (tf + k1·(1 − b + b·len/avg_len))``, under the index ``crc32(token)``. The store
keeps those weights as the sparse vector "keywords" with its IDF modifier on, so it multiplies
each matched token by ``ln(1 + (N − n + 0.5) / (n + 0.5))`` from its own, always current, counts:
a sparse query of ones scores a product by BM25. Nothing here has to know the catalog.

What search needs beyond the ranking — how much of the query's information a product covers —
comes from the same weights: :func:`idf_from_probe` recovers a token's IDF from the score of one
single-token query, and :func:`coverage` is the share of the query's IDF mass a product holds.

The average length is a constant (product texts are short and alike; a wrong constant only
shifts how much length is penalised, for every product the same way), so a product's weights
never depend on the rest of the catalog and are computed once, when it is embedded.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from recsys.catalog.text import product_text
from recsys.store.base import SparseVector

__all__ = [
    "AVG_LENGTH",
    "K1",
    "KEYWORDS",
    "B",
    "coverage",
    "document_tokens",
    "document_weights",
    "idf",
    "idf_from_probe",
    "keyword_vector",
    "query_tokens",
    "query_weights",
    "token_id",
    "tokenize",
]

#: The sparse vector products carry their BM25 term weights in.
KEYWORDS = "keywords"

#: BM25 parameters (the usual ones; Lucene's defaults).
K1 = 1.2
B = 0.75
#: Tokens in a typical product text (title + category path + brand): Online Retail averages ≈ 8.
AVG_LENGTH = 10.0

_WORD = re.compile(r"\w+")
#: Function words of the languages the shops write in; they carry no product information.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "i",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "this",
        "to",
        "too",
        "us",
        "was",
        "we",
        "what",
        "where",
        "which",
        "who",
        "will",
        "with",
        "without",
        "you",
        "your",
        "yours",
        "и",
        "в",
        "во",
        "на",
        "с",
        "со",
        "к",
        "ко",
        "по",
        "для",
        "из",
        "от",
        "до",
        "у",
        "о",
        "об",
        "а",
        "но",
        "или",
        "же",
        "ли",
        "не",
        "как",
        "что",
        "это",
        "мой",
        "моя",
        "мне",
        "ve",
        "ile",
        "için",
        "bir",
        "bu",
        "şu",
        "da",
        "de",
        "mi",
        "mı",
        "çok",
        "en",
        "ya",
        "der",
        "die",
        "das",
        "den",
        "dem",
        "des",
        "ein",
        "eine",
        "einen",
        "einem",
        "einer",
        "und",
        "oder",
        "für",
        "mit",
        "von",
        "zu",
        "zum",
        "zur",
        "im",
        "in",
        "am",
        "auf",
        "aus",
        "bei",
        "ist",
        "nicht",
        "el",
        "la",
        "los",
        "las",
        "un",
        "una",
        "unos",
        "unas",
        "y",
        "o",
        "de",
        "del",
        "para",
        "con",
        "por",
        "en",
        "al",
        "su",
        "sus",
        "que",
        "le",
        "la",
        "les",
        "un",
        "une",
        "des",
        "et",
        "ou",
        "de",
        "du",
        "pour",
        "avec",
        "par",
        "en",
        "au",
        "aux",
        "sur",
        "dans",
        "son",
        "sa",
        "ses",
        "mon",
        "ma",
        "mes",
        "que",
    ]
)


def _stem(token: str) -> str:
    """English plural → singular, the one inflection product titles and queries disagree on most
    ("TINS" / "tin", "BOXES" / "box", "CUTTERS" / "cutter")."""
    if len(token) <= 3 or not token.isalpha():
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith(("xes", "ches", "shes", "sses", "oes")):
        return token[:-2]
    if token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens, stop words and single letters dropped, plurals folded.

    Digits stay (codes, sizes: "85123a", "3 tier"); punctuation splits ("t-light" → "light").
    """
    normal = unicodedata.normalize("NFKC", text).casefold()
    out: list[str] = []
    for raw in _WORD.findall(normal):
        raw = raw.strip("_")
        if not raw or raw in STOPWORDS or (len(raw) == 1 and not raw.isdigit()):
            continue
        out.append(_stem(raw))
    return out


def token_id(token: str) -> int:
    """The sparse index of ``token`` (crc32: stable across processes, machines and versions)."""
    return zlib.crc32(token.encode("utf-8"))


def query_tokens(text: str) -> list[str]:
    """The distinct tokens of a query, in order."""
    return list(dict.fromkeys(tokenize(text)))


def document_tokens(text: str, *, key: str | None = None) -> list[str]:
    """Tokens of a product: its text's, plus its id (codes are what some shoppers type)."""
    tokens = tokenize(text)
    if key:
        tokens.extend(t for t in tokenize(key) if t not in tokens)
    return tokens


def document_weights(
    text: str, *, key: str | None = None, k1: float = K1, b: float = B, avg_len: float = AVG_LENGTH
) -> SparseVector:
    """BM25 term-frequency weights of a product (the IDF is the store's)."""
    counts = Counter(document_tokens(text, key=key))
    length = sum(counts.values())
    norm = k1 * (1.0 - b + b * length / avg_len)
    by_id: dict[int, float] = {}
    for token, tf in counts.items():
        idx = token_id(token)
        # Two tokens on one index (a crc32 collision) add up, as the store would.
        by_id[idx] = by_id.get(idx, 0.0) + tf * (k1 + 1.0) / (tf + norm)
    indices = sorted(by_id)
    return SparseVector(indices, [round(by_id[i], 6) for i in indices])


def query_weights(tokens: Sequence[str]) -> SparseVector:
    """The sparse query for ``tokens``: weight 1 each, so scores are Σ idf · document weight."""
    indices = sorted({token_id(t) for t in tokens})
    return SparseVector(indices, [1.0] * len(indices))


def idf(points: int, with_token: int) -> float:
    """The IDF Qdrant's modifier applies: ``ln(1 + (N − n + 0.5) / (n + 0.5))``."""
    return math.log(1.0 + (points - with_token + 0.5) / (with_token + 0.5))


def idf_from_probe(token: str, score: float, text: str, *, key: str | None = None) -> float | None:
    """A token's IDF from the score of the single-token query ``{token: 1}`` on the product whose
    text is ``text``: the score is ``idf · weight``, and the weight is ours to recompute."""
    weights = document_weights(text, key=key)
    weight = dict(zip(weights.indices, weights.values, strict=True)).get(token_id(token))
    if not weight:
        return None
    return score / weight


def coverage(query_idf: Mapping[str, float], product_tokens: Iterable[str]) -> float:
    """Share of the query's IDF mass that a product's tokens hold (0 … 1)."""
    total = sum(query_idf.values())
    if total <= 0:
        return 0.0
    have = set(product_tokens)
    return sum(w for t, w in query_idf.items() if t in have) / total


def keyword_vector(payload: Mapping[str, Any], key: str) -> SparseVector:
    """The "keywords" vector of a product: its embedding text's weights, plus its id."""
    return document_weights(product_text(payload), key=key)
