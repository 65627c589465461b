"""The catalog's own words, as the multilingual encoder places them: a lexicon for queries in
other languages, induced from the encoder, with no dictionary.

Multilingual USE ties a whole query to a whole title well, but an uncommon word of the
shopper's language ("sulama", "лейка", "Spardose") is often lost among the title's other words.
The same encoder maps single words across languages better than it maps a word to a title:
"sulama" lies next to "watering", "kalp" next to "heart", "cocina" next to "kitchen". So each
word of the catalog's product texts is embedded once (:meth:`Lexicon.build`), and a query's
words are mapped to their nearest catalog words (:meth:`Lexicon.expand`); search runs those
words as an English query (BM25 over the products' keywords, and the English encoder over the
words joined), fused with the dense lists (:mod:`recsys.search.service`).

Single words have *hubs*: catalog words near almost anything foreign ("pouri", "dot",
"goblet"). Each word's hubness is the mean cosine of its 10 nearest among random letter strings
(:func:`reference_strings`; CSLS-style, with nonsense as the reference since no foreign
vocabulary is at hand), and a query word's neighbours are ranked by cosine minus ``hub_weight``
times it and, with ``local``, minus the query word's own neighbourhood (CSLS). The encoder
does not strip every suffix ("kalıbı": mould + possessive), so a word the catalog lacks is
also tried as its stems (:mod:`recsys.search.wordforms`); CSLS picks the form whose nearest
word stands out ("kalıp" → mould) over one near every hub. What the expansion adds is only
ever ranking evidence: it never makes a query a match (docs/EVALUATION.md, "Search").
"""

from __future__ import annotations

import bisect
import logging
import random
import re
import string
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recsys.catalog.text import product_text
from recsys.core.types import Encoder
from recsys.search import keywords as kw
from recsys.search.wordforms import NgramIndex, backoff_forms
from recsys.store.base import SparseVector, VectorStore

__all__ = [
    "Lexicon",
    "LexiconCache",
    "Neighbour",
    "catalog_words",
    "expansion_text",
    "expansion_weights",
    "query_units",
    "reference_strings",
]

log = logging.getLogger(__name__)

_LETTERS = re.compile(r"[^\W\d_]+")
_WORD = re.compile(r"\w+")
#: Neighbours among the reference strings that make a word's hubness.
HUB_NEIGHBOURS = 10


def catalog_words(texts: Iterable[str], *, min_length: int = 3) -> list[str]:
    """The distinct lower-cased words (letters only, stop words out) of product texts, sorted."""
    out: set[str] = set()
    for text in texts:
        for word in _LETTERS.findall(text.casefold()):
            if len(word) >= min_length and word not in kw.STOPWORDS:
                out.add(word)
    return sorted(out)


def query_units(query: str, *, max_units: int = 8) -> list[str]:
    """The query's words to map, as typed (the encoder is cased: "Gießkanne"), stop words and
    single characters out, at most ``max_units``, first ones kept."""
    words = [w for w in _WORD.findall(query) if len(w) > 1 and w.casefold() not in kw.STOPWORDS]
    return list(dict.fromkeys(w for w in words if not w.isdigit()))[:max_units]


def reference_strings(n: int = 600, seed: int = 7) -> list[str]:
    """Letter strings that mean nothing (Latin and Cyrillic, 3-9 letters), seeded: the
    reference a catalog word's hubness is measured against."""
    rng = random.Random(seed)
    alphabets = (string.ascii_lowercase, "абвгдежзийклмнопрстуфхцчшщыэюя")
    return [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(3, 9)))
        for alphabet in (rng.choice(alphabets) for _ in range(n))
    ]


@dataclass(frozen=True)
class Neighbour:
    """A catalog word a query word maps to, with its cosine."""

    unit: str
    word: str
    cosine: float


class Lexicon:
    """Catalog words with their multilingual vectors (unit length) and hubness."""

    def __init__(
        self, words: Sequence[str], vectors: npt.NDArray[np.float32], hub: npt.NDArray[np.float32]
    ) -> None:
        if len(words) != len(vectors) or len(words) != len(hub):
            raise ValueError("a lexicon needs one vector and one hubness per word")
        self.words = list(words)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.hub = np.asarray(hub, dtype=np.float32)
        self._index = {w: i for i, w in enumerate(self.words)}
        self._ngram_index: NgramIndex | None = None
        self._sorted = sorted(self.words)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._index

    @classmethod
    def build(
        cls,
        words: Sequence[str],
        encoder: Encoder,
        *,
        previous: Lexicon | None = None,
        reference: Sequence[str] | None = None,
        batch: int = 256,
    ) -> Lexicon:
        """Embed ``words`` with ``encoder`` (those ``previous`` holds are reused) and measure
        each one's hubness against ``reference`` (default :func:`reference_strings`)."""
        words = list(dict.fromkeys(words))
        if not words:
            return cls([], np.zeros((0, 1), dtype=np.float32), np.zeros(0, dtype=np.float32))
        new = [w for w in words if previous is None or w not in previous]
        fresh: dict[str, npt.NDArray[np.float32]] = {}
        for start in range(0, len(new), batch):
            part = new[start : start + batch]
            fresh.update(zip(part, _unit(encoder.encode(part)), strict=True))
        old = previous.vectors if previous is not None else None
        at = previous._index if previous is not None else {}
        matrix = np.stack(
            [fresh[w] if w in fresh else old[at[w]] for w in words]  # type: ignore[index]
        ).astype(np.float32)
        refs = _unit(encoder.encode(list(reference or reference_strings())))
        sims = matrix @ refs.T
        k = min(HUB_NEIGHBOURS, sims.shape[1])
        hub = np.sort(sims, axis=1)[:, -k:].mean(axis=1).astype(np.float32)
        return cls(words, matrix, hub)

    def neighbours(
        self,
        units: Sequence[str],
        encoder: Encoder,
        *,
        per_unit: int,
        min_cosine: float,
        hub_weight: float,
        local: float = 0.0,
        backoff: int = 0,
        strip_penalty: float = 0.0,
        cognate: float = 0.0,
    ) -> list[Neighbour]:
        """Each unit's ``per_unit`` best catalog words among those at ``min_cosine`` or more,
        best first per unit.

        A word's rank is ``(1 + local)·cos − local·r − hub_weight·hubness``, ``r`` the mean
        cosine of the unit's :data:`HUB_NEIGHBOURS` nearest catalog words (CSLS with ``local``
        = 1: a form near everything — a word the encoder does not know — ties to nothing in
        particular, so a stem that stands out wins over the word as typed), plus ``cognate``
        times the two words' trigram overlap (:class:`NgramIndex`). A unit the catalog lacks
        is also tried as its stems with up to ``backoff`` trailing letters dropped
        (:func:`backoff_forms`), each letter costing ``strip_penalty``; each catalog word
        keeps its best form."""
        if not units or not self.words or per_unit <= 0:
            return []
        forms: list[str] = []
        owner: list[int] = []
        cost: list[float] = []
        is_stem: list[bool] = []
        for u, unit in enumerate(units):
            extra = backoff_forms(unit, backoff) if unit.casefold() not in self._index else []
            for form, stripped in [(unit, 0), *extra]:
                forms.append(form)
                owner.append(u)
                cost.append(strip_penalty * stripped)
                is_stem.append(stripped > 0)
        cos = _unit(encoder.encode(forms)) @ self.vectors.T
        k = min(HUB_NEIGHBOURS, cos.shape[1])
        near = np.partition(cos, cos.shape[1] - k, axis=1)[:, -k:].mean(axis=1, keepdims=True)
        cos = cos - np.asarray(cost, dtype=np.float32)[:, None]
        for row, form in enumerate(forms):
            if is_stem[row]:
                # a stem maps by meaning, not by spelling: the catalog words it begins
                # ("comba" → "comb", "combs") are chance, the cognate channel's business
                cos[row, self._prefixed(form)] = -np.inf
        ranked = (1.0 + local) * cos - local * near - hub_weight * self.hub[None, :]
        ranked = np.where(cos >= min_cosine, ranked, -np.inf)
        rows = np.asarray(owner)
        out: list[Neighbour] = []
        for u, unit in enumerate(units):
            mine = np.flatnonzero(rows == u)
            best = ranked[mine].argmax(axis=0)
            score = ranked[mine[best], np.arange(len(self.words))]
            if cognate > 0:
                score = score + cognate * self._ngrams().dice(unit)
            for i in np.argsort(-score, kind="stable")[:per_unit]:
                if np.isfinite(score[i]):
                    out.append(Neighbour(unit, self.words[i], float(cos[mine[best[i]], i])))
        return out

    def _prefixed(self, stem: str) -> list[int]:
        """The indices of the catalog words that begin with ``stem``."""
        lo = bisect.bisect_left(self._sorted, stem)
        hi = bisect.bisect_left(self._sorted, stem + "\U0010ffff")
        return [self._index[w] for w in self._sorted[lo:hi]]

    def _ngrams(self) -> NgramIndex:
        if self._ngram_index is None:
            self._ngram_index = NgramIndex(self.words)
        return self._ngram_index


def expansion_weights(neighbours: Iterable[Neighbour]) -> SparseVector:
    """The keyword query of the mapped words: each word's (stemmed, as products are indexed)
    token weighted by its best cosine."""
    weights: dict[int, float] = {}
    for n in neighbours:
        for token in kw.tokenize(n.word):
            idx = kw.token_id(token)
            weights[idx] = max(weights.get(idx, 0.0), round(n.cosine, 6))
    indices = sorted(weights)
    return SparseVector(indices, [weights[i] for i in indices])


def expansion_text(neighbours: Iterable[Neighbour]) -> str:
    """The mapped words joined, in order, once each: the English encoder's query."""
    return " ".join(dict.fromkeys(n.word for n in neighbours))


def _unit(vectors: npt.ArrayLike) -> npt.NDArray[np.float32]:
    m = np.asarray(vectors, dtype=np.float32)
    if m.ndim == 1:
        m = m[None, :]
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    out: npt.NDArray[np.float32] = (m / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


class LexiconCache:
    """One products collection's lexicon, built from its product texts in a background
    thread (a first build over 100k products takes seconds; search goes without expansion
    until it is there) and rebuilt, embedding only new words, when the collection changed
    and the lexicon is older than ``ttl_s``."""

    def __init__(
        self, store: VectorStore, collection: str, encoder: Encoder, *, ttl_s: float = 600.0
    ) -> None:
        self.store = store
        self.collection = collection
        self.encoder = encoder
        self.ttl_s = ttl_s
        self._lexicon: Lexicon | None = None
        self._built: tuple[float, object | None] | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.problem: str | None = None

    def get(self, *, wait: bool = False) -> Lexicon | None:
        """The current lexicon (None before the first build), starting a build when it is
        missing or stale; ``wait``: until a build in flight is done."""
        with self._lock:
            if self._stale() and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._build, daemon=True)
                self._thread.start()
            thread = self._thread
        if wait and thread is not None:
            thread.join()
        return self._lexicon

    def _stale(self) -> bool:
        if self._built is None:
            return True
        at, mark = self._built
        if time.monotonic() - at < self.ttl_s:
            return False
        current = self.store.change_mark(self.collection)
        return current is None or current != mark

    def _build(self) -> None:
        try:
            mark = self.store.change_mark(self.collection)
            texts = (product_text(r.payload) for r in self.store.scroll(self.collection))
            lexicon = Lexicon.build(catalog_words(texts), self.encoder, previous=self._lexicon)
            self._lexicon, self._built, self.problem = lexicon, (time.monotonic(), mark), None
        except Exception as exc:  # search goes on without expansion; retried after ttl_s
            self._built = (time.monotonic(), None)
            self.problem = f"lexicon: {exc}"
            log.warning("lexicon build failed: %s", exc)
