"""Keyword weights and the fusion / no-match rules of recsys.search, on hand-made lists."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, cast

import pytest

from recsys.search import keywords as kw
from recsys.search.fusion import (
    TUNINGS,
    DenseList,
    Hit,
    SearchTuning,
    fuse,
    fuse_lists,
    is_latin,
    list_weights,
    pair_tuning,
    tuning_for,
)
from recsys.search.service import DenseSource, ProductSearch


def test_tokenize_folds_case_plurals_and_drops_stop_words() -> None:
    assert kw.tokenize("SET OF 3 CAKE TINS") == ["set", "3", "cake", "tin"]
    assert kw.tokenize("Boxes & Cutters for the kids") == ["box", "cutter", "kid"]
    assert kw.tokenize("85123A WHITE T-LIGHT") == ["85123a", "white", "light"]
    assert kw.tokenize("подсвечник для сада") == ["подсвечник", "сада"]
    assert kw.tokenize("GLASS") == ["glass"]


def test_document_weights_are_bm25_term_frequency_parts() -> None:
    vec = kw.document_weights("heart heart box", key="X1")
    weights = dict(zip(vec.indices, vec.values, strict=True))
    length = 4  # heart, heart, box, x1
    norm = kw.K1 * (1 - kw.B + kw.B * length / kw.AVG_LENGTH)
    assert weights[kw.token_id("heart")] == pytest.approx(2 * (kw.K1 + 1) / (2 + norm), rel=1e-5)
    assert weights[kw.token_id("box")] == pytest.approx((kw.K1 + 1) / (1 + norm), rel=1e-5)
    assert kw.token_id("x1") in weights
    assert vec.indices == sorted(vec.indices)


def test_idf_from_probe_inverts_the_stores_score() -> None:
    text = "RED RETROSPOT LUNCH BAG"
    vec = kw.document_weights(text)
    weight = dict(zip(vec.indices, vec.values, strict=True))[kw.token_id("lunch")]
    true_idf = kw.idf(1000, 12)
    assert kw.idf_from_probe("lunch", true_idf * weight, text) == pytest.approx(true_idf)
    assert kw.idf_from_probe("teapot", 3.0, text) is None
    assert kw.idf(1000, 0) == pytest.approx(math.log(1 + 1000.5 / 0.5))


def test_coverage_is_the_share_of_the_querys_idf_mass() -> None:
    idf = {"acapulco": 6.0, "mat": 2.0}
    assert kw.coverage(idf, ["recycled", "acapulco", "mat"]) == 1.0
    assert kw.coverage(idf, ["mat"]) == pytest.approx(0.25)
    assert kw.coverage({}, ["mat"]) == 0.0


TUNING = SearchTuning(
    fuse_coverage=0.6, keyword_weight=2.0, rrf_k=10, min_dense=0.4, min_coverage=0.7
)
DENSE = [Hit("d1", 0.55), Hit("d2", 0.50), Hit("d3", 0.45)]


def test_weak_keywords_do_not_join_the_dense_list() -> None:
    # GIVEN keyword hits that share only a common word with the query
    weak = [Hit("k1", 9.0, coverage=0.2), Hit("k2", 8.0, coverage=0.1)]
    hits, evidence = fuse(DENSE, weak, tuning=TUNING, limit=10)
    # THEN the dense list is served as it is
    assert [h.key for h in hits] == ["d1", "d2", "d3"]
    assert evidence.matched and not evidence.keywords_fused
    assert all(h.via == "meaning" for h in hits)


def test_strong_keywords_are_fused_and_lead() -> None:
    strong = [Hit("k1", 12.0, coverage=1.0), Hit("d2", 9.0, coverage=0.9)]
    hits, evidence = fuse(DENSE, strong, tuning=TUNING, limit=3)
    assert evidence.keywords_fused
    assert [h.key for h in hits][:2] == ["d2", "k1"]  # in both lists, then the keyword leader
    assert len(hits) == 3
    assert next(h for h in hits if h.key == "k1").via == "keywords"


def test_a_query_far_from_everything_gives_an_empty_list() -> None:
    # GIVEN dense hits under the floor and weak keywords
    low = [Hit("d1", 0.25), Hit("d2", 0.24)]
    hits, evidence = fuse(low, [Hit("k1", 2.0, coverage=0.3)], tuning=TUNING, limit=10)
    # THEN nothing is listed, neither as a match nor as a fallback
    assert hits == [] and not evidence.matched and not evidence.fallback
    assert evidence.best_dense == 0.25 and evidence.best_coverage == 0.3


def test_under_the_bar_but_over_the_floor_the_nearest_are_flagged_not_matched() -> None:
    # GIVEN dense hits under the bar (0.4) but over the floor (0.3), weak keywords
    near = [Hit("d1", 0.36), Hit("d2", 0.33)]
    weak = [Hit("k1", 2.0, coverage=0.3)]
    hits, evidence = fuse(near, weak, tuning=TUNING, limit=10)
    # THEN the query did not match; the nearest products are offered, each flagged as such
    assert not evidence.matched and evidence.fallback
    assert [h.key for h in hits] == ["d1", "d2"]
    assert all(h.via == "nearest" for h in hits)
    # AND a match is never a fallback
    _, matched = fuse(DENSE, weak, tuning=TUNING, limit=10)
    assert matched.matched and not matched.fallback


def test_keyword_evidence_alone_lists_only_the_products_carrying_it() -> None:
    # GIVEN a product code no encoder understands: low cosines, one exact keyword hit
    low = [Hit("d1", 0.30), Hit("d2", 0.29)]
    code = [Hit("85123A", 14.0, coverage=1.0), Hit("k2", 3.0, coverage=0.4)]
    hits, evidence = fuse(low, code, tuning=TUNING, limit=10)
    # THEN only the code's product is presented
    assert evidence.matched
    assert [h.key for h in hits] == ["85123A"]


def test_tuning_for_known_and_unknown_models() -> None:
    assert tuning_for("all-MiniLM-L6-v2-int8") == TUNINGS["all-MiniLM-L6-v2-int8"]
    assert tuning_for("some-other-model") == SearchTuning()
    assert tuning_for("all-MiniLM-L6-v2-int8", min_dense=0.5, rrf_k=None).min_dense == 0.5


def test_a_query_leans_on_the_encoder_that_reads_its_language() -> None:
    # GIVEN a multilingual and an English-only encoder's lists (multilingual first)
    multi = [True, False]
    # WHEN the query's words are all in the catalog's (English) vocabulary, half, or none
    english = list_weights(multi, catalog_share=1.0, latin=True, tuning=TUNING)
    half = list_weights(multi, catalog_share=0.25, latin=True, tuning=TUNING)
    foreign = list_weights(multi, catalog_share=0.0, latin=True, tuning=TUNING)
    cyrillic = list_weights(multi, catalog_share=1.0, latin=False, tuning=TUNING)
    # THEN English leans on MiniLM, other languages on the multilingual list alone
    assert english == [pytest.approx(1 - TUNING.multilingual_drop), 1.0]
    assert half == [pytest.approx(1 - 0.25 * TUNING.multilingual_drop), 0.5]
    assert foreign == cyrillic == [1.0, 0.0]
    # AND one encoder's list always weighs 1
    assert list_weights([False], catalog_share=0.0, latin=False, tuning=TUNING) == [1.0]


def test_latin_script_includes_accented_letters_not_cyrillic() -> None:
    assert is_latin("Gießkanne") and is_latin("çalar saat 3") and is_latin("hucha")
    assert not is_latin("копилка") and not is_latin("Wecker 時計")


def test_each_list_is_judged_against_its_own_encoders_bar() -> None:
    # GIVEN a multilingual list under its bar and an English list over its own (lower) bar
    multilingual = DenseList([Hit("m1", 0.30), Hit("d1", 0.29)], 0.5, 0.40)
    english = DenseList([Hit("d1", 0.50), Hit("e2", 0.40)], 1.0, 0.45)
    # WHEN fused
    hits, evidence = fuse_lists([multilingual, english], [], tuning=TUNING, limit=10)
    # THEN the query matched and both lists take part; the product both list leads
    assert evidence.matched
    assert hits[0].key == "d1"
    assert {h.key for h in hits} == {"m1", "d1", "e2"}
    # AND an English list that cannot read the query (weight 0) is no evidence at all
    blind = DenseList([Hit("e1", 0.9)], 0.0, 0.45)
    hits, evidence = fuse_lists([multilingual, blind], [], tuning=TUNING, limit=10)
    assert not evidence.matched and hits == []
    # AND nor is it for a fallback: only a weighted-in list over its own floor offers one
    floored = DenseList(multilingual.hits, 1.0, 0.40, 0.35)
    blind = DenseList([Hit("e1", 0.9)], 0.0, 0.45, 0.30)
    hits, evidence = fuse_lists([floored, blind], [], tuning=TUNING, limit=10)
    assert not evidence.fallback and hits == []
    low_floor = DenseList(multilingual.hits, 1.0, 0.40, 0.28)
    hits, evidence = fuse_lists([low_floor, blind], [], tuning=TUNING, limit=10)
    assert evidence.fallback and [h.key for h in hits] == ["m1", "d1"]


def test_the_pair_tuning_serves_either_encoder_as_primary() -> None:
    pair = TUNINGS["use-multilingual-v3-int8+all-MiniLM-L6-v2-int8"]
    assert pair_tuning("use-multilingual-v3-int8", "all-MiniLM-L6-v2-int8") == pair
    swapped = pair_tuning("all-MiniLM-L6-v2-int8", "use-multilingual-v3-int8")
    assert swapped is not None
    assert (swapped.min_dense, swapped.second_min_dense) == (pair.second_min_dense, pair.min_dense)
    assert (swapped.floor_dense, swapped.second_floor_dense) == (
        pair.second_floor_dense,
        pair.floor_dense,
    )
    assert pair_tuning("all-MiniLM-L6-v2-int8", "some-other-model") is None


def test_an_empty_second_list_leaves_the_primary_alone_under_its_own_tuning() -> None:
    # GIVEN a search over two encoders (the pair's knobs) and the primary's own knobs
    pair = replace(TUNING, min_dense=0.35, floor_dense=0.2)
    solo = replace(TUNING, min_dense=0.45, floor_dense=0.31)
    english, multilingual = object(), type("M", (), {"languages": ("en", "ru")})()
    search = ProductSearch(
        store=cast(Any, None),
        collection="products",
        encoder=cast(Any, english),
        tuning=pair,
        second=DenseSource(cast(Any, multilingual), "text__m", 0.4, "m", 0.28),
        solo_tuning=solo,
    )
    primary = [Hit("d1", 0.40)]
    # WHEN the second list is empty (the products lack its vector) or not
    alone = search.dense_lists("candle holder", primary, [], catalog_share=0.0)
    both = search.dense_lists("candle holder", primary, [Hit("m1", 0.5)], catalog_share=0.0)
    # THEN alone, the primary's list weighs 1 and is judged by its own bar and floor
    assert [(d.weight, d.min_dense, d.floor) for d in alone] == [(1.0, 0.45, 0.31)]
    # AND with both, the pair's bars and the language weights apply
    assert [(d.min_dense, d.floor) for d in both] == [(0.35, 0.2), (0.4, 0.28)]
    assert [d.weight for d in both] == [0.0, 1.0]
