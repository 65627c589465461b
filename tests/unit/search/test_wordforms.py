"""recsys.search.wordforms: folded words, stems for back-off, and trigram overlap."""

from __future__ import annotations

import numpy as np

from recsys.search.wordforms import MIN_STEM, NgramIndex, backoff_forms, char_ngrams, fold


def test_fold_drops_diacritics_and_case() -> None:
    assert fold("Cerámica") == "ceramica"
    assert fold("Gießkanne") == "giesskanne"
    assert fold("kalıbı") == "kalibi"
    assert fold("çiçek") == "cicek"


def test_backoff_forms_strip_trailing_letters_down_to_the_least_stem() -> None:
    assert backoff_forms("makası", 3) == [("makas", 1), ("maka", 2)]
    assert backoff_forms("Moldes", 2) == [("molde", 1), ("mold", 2)]
    assert backoff_forms("kalp", 3) == []  # already the least stem
    assert backoff_forms("moldes", 0) == []
    assert all(len(f) >= MIN_STEM for f, _ in backoff_forms("abcdefghij", 9))


def test_a_turkish_stem_is_also_tried_with_its_last_consonant_hard() -> None:
    # "kalıbı" is "kalıp" (mould) with a possessive suffix, its p softened to b
    assert ("kalıp", 1) in backoff_forms("kalıbı", 2)
    assert ("kağıt", 1) in backoff_forms("kağıdı", 1)
    # a word without Turkish letters keeps its consonants
    assert backoff_forms("moldes", 2) == [("molde", 1), ("mold", 2)]


def test_char_ngrams_mark_the_word_ends() -> None:
    assert char_ngrams("Tea") == {"#te", "tea", "ea#"}


def test_ngram_index_scores_cognates_first() -> None:
    words = ["mug", "thermos", "lamp", "lampshade"]
    index = NgramIndex(words)
    dice = index.dice("termos")
    assert words[int(np.argmax(dice))] == "thermos"
    assert words[int(np.argmax(index.dice("lámpara")))] == "lamp"
    assert index.dice("thermos")[1] == 1.0
    assert index.dice("zzzz").max() == 0.0
