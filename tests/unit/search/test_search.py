"""Keyword weights and the fusion / no-match rules of recsys.search, on hand-made lists."""

from __future__ import annotations

import math

import pytest

from recsys.search import keywords as kw
from recsys.search.fusion import TUNINGS, Hit, SearchTuning, fuse, tuning_for


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


def test_nothing_matched_gives_an_empty_list() -> None:
    low = [Hit("d1", 0.30), Hit("d2", 0.29)]
    hits, evidence = fuse(low, [Hit("k1", 2.0, coverage=0.3)], tuning=TUNING, limit=10)
    assert hits == [] and not evidence.matched
    assert evidence.best_dense == 0.30 and evidence.best_coverage == 0.3


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
