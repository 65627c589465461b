"""A query word's other forms, and how much two words look alike: the lexicon's fall-backs for
a word the multilingual encoder does not place near its English word.

- :func:`fold`: the word without its diacritics ("cerámica" → "ceramica", "ı" → "i").
- :func:`backoff_forms`: the word with 1 … ``max_strip`` trailing letters dropped, keeping
  :data:`MIN_STEM` letters at least — a suffix the encoder does not strip (Turkish
  "makası" → "makas", "kalıbı" → "kalıb"; Spanish/German plurals). Turkish softens a
  stem's last consonant before a vowel ("kalıp" → "kalıbı", "kağıt" → "kağıdı"), so a stem
  of a word written with Turkish letters ending in the soft form is also tried hard.
- :func:`char_ngrams` / :class:`NgramIndex`: the letter trigrams of a folded word, and the
  Dice overlap of a query word's with every catalog word's — cognates ("termos" ~ "thermos",
  "lámpara" ~ "lamp") the encoder misses.

Generic rules, no dictionary; which of them pay off is measured (bench/search_lexicon.py).
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["MIN_STEM", "NgramIndex", "backoff_forms", "char_ngrams", "fold"]

#: The fewest letters a stripped stem keeps.
MIN_STEM = 4
#: Letters only Turkish writes among the shoppers' Latin-script languages.
_TURKISH = frozenset("ığşİ")
#: Turkish final-consonant softening, undone: the soft letter and its hard form.
_HARDEN = {"b": "p", "c": "ç", "d": "t", "ğ": "k"}
#: Letters that do not decompose into a base letter and a mark.
_FOLD = str.maketrans({"ı": "i", "ß": "ss", "ø": "o", "ł": "l", "đ": "d", "æ": "ae", "œ": "oe"})


def fold(word: str) -> str:
    """``word`` lower-cased, without diacritics (Cyrillic "й" keeps its breve's base "и")."""
    decomposed = unicodedata.normalize("NFKD", word.casefold().translate(_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def backoff_forms(word: str, max_strip: int) -> list[tuple[str, int]]:
    """``word``'s stems with 1 … ``max_strip`` trailing letters dropped (at least
    :data:`MIN_STEM` kept), each with the letters dropped; Turkish-lettered words also with
    the stem's softened last consonant made hard. Lower-cased, first ones first."""
    lower = word.casefold()
    turkish = any(c in _TURKISH for c in word)
    out: dict[str, int] = {}
    for n in range(1, max_strip + 1):
        stem = lower[:-n]
        if len(stem) < MIN_STEM:
            break
        out.setdefault(stem, n)
        if turkish and stem[-1] in _HARDEN:
            out.setdefault(stem[:-1] + _HARDEN[stem[-1]], n)
    return list(out.items())


def char_ngrams(word: str, n: int = 3) -> set[str]:
    """The letter ``n``-grams of the folded word with its two ends marked ("#te", …, "os#")."""
    padded = f"#{fold(word)}#"
    return {padded[i : i + n] for i in range(len(padded) - n + 1)}


class NgramIndex:
    """The catalog words' trigrams, inverted: a query word's Dice overlap with each of them."""

    def __init__(self, words: Sequence[str]) -> None:
        self.size = len(words)
        self._sizes = np.zeros(len(words), dtype=np.float32)
        postings: defaultdict[str, list[int]] = defaultdict(list)
        for i, word in enumerate(words):
            grams = char_ngrams(word)
            self._sizes[i] = len(grams)
            for gram in grams:
                postings[gram].append(i)
        self._postings = {g: np.asarray(ids, dtype=np.int32) for g, ids in postings.items()}

    def dice(self, word: str) -> npt.NDArray[np.float32]:
        """2·|shared trigrams| / (|word's| + |catalog word's|) for every catalog word."""
        grams = char_ngrams(word)
        shared = np.zeros(self.size, dtype=np.float32)
        for gram in grams:
            ids = self._postings.get(gram)
            if ids is not None:
                shared[ids] += 1.0
        out: npt.NDArray[np.float32] = (2.0 * shared / (len(grams) + self._sizes)).astype(
            np.float32
        )
        return out
