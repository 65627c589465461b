"""recsys.search.lexicon: catalog words, their neighbours for a query's words, the expansion
lists' place in the fusion (ranking only), and the lexicon's cache over a real store."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from recsys.search import keywords as kw
from recsys.search.fusion import (
    DenseList,
    Hit,
    SearchTuning,
    dense_lists_join,
    foreign_share,
    fuse_lists,
)
from recsys.search.lexicon import (
    Lexicon,
    LexiconCache,
    Neighbour,
    catalog_words,
    expansion_text,
    expansion_weights,
    query_units,
    reference_strings,
)
from recsys.store import PointIn, products_spec
from recsys.store.edge import EdgeStore

DIM = 16
#: Words that mean the same thing share a direction (a toy multilingual space).
MEANING = {
    "watering": 0,
    "sulama": 0,
    "gießkanne": 0,
    "heart": 1,
    "kalp": 1,
    "kitchen": 2,
    "mutfak": 2,
    "can": 3,
    "enamel": 4,
    "holder": 5,
    "pouri": 6,
}
#: A word that means a little of one catalog word ("teneke": tin, a little like "can").
WEAK = {"teneke": (3, 0.1)}


class ToyEncoder:
    """Known words: their meaning's axis plus a little of their own; anything else: a
    pseudo-random direction (stable per text), except that "pouri" is near every text."""

    languages = ("en", "xx")

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            rng = np.random.default_rng(zlib.crc32(text.encode()))
            noise = rng.standard_normal(DIM).astype(np.float32)
            axis = MEANING.get(text.casefold())
            vec = 0.15 * noise
            if axis is not None:
                vec[axis] += 1.0
            if text in WEAK:
                vec[WEAK[text][0]] += WEAK[text][1]
            vec[6] += 0.6  # every text leans on "pouri"'s axis: pouri is a hub
            out[i] = vec / np.linalg.norm(vec)
        return out


def test_catalog_words_are_distinct_lower_case_letters_without_stop_words() -> None:
    words = catalog_words(["ENAMEL WATERING CAN. Home > Garden", "RED HEART T-LIGHT HOLDER 3"])
    assert words == sorted(words)
    assert {"enamel", "watering", "can", "home", "garden", "red", "heart", "holder"} <= set(words)
    assert "3" not in words and "t" not in words and "the" not in catalog_words(["THE MUG"])


def test_query_units_keep_case_drop_stop_words_and_cap_the_count() -> None:
    assert query_units("Gießkanne für den Garten") == ["Gießkanne", "Garten"]
    assert query_units("a b c 12 kalp kalp") == ["kalp"]
    assert query_units(" ".join(f"w{i}x" for i in range(20)), max_units=3) == [
        "w0x",
        "w1x",
        "w2x",
    ]


def test_reference_strings_are_seeded_nonsense() -> None:
    refs = reference_strings(50)
    assert refs == reference_strings(50) and refs != reference_strings(50, seed=8)
    assert all(3 <= len(r) <= 9 for r in refs)


def test_a_foreign_word_maps_to_the_catalog_word_of_its_meaning() -> None:
    enc = ToyEncoder()
    lex = Lexicon.build(["watering", "can", "enamel", "heart", "kitchen", "pouri"], enc)
    found = lex.neighbours(["sulama", "kalp"], enc, per_unit=1, min_cosine=0.5, hub_weight=0.5)
    assert [(n.unit, n.word) for n in found] == [("sulama", "watering"), ("kalp", "heart")]
    assert all(0.5 <= n.cosine <= 1.0 for n in found)
    # a word of no meaning the catalog has maps to nothing above a high bar
    assert lex.neighbours(["xqzvbn"], enc, per_unit=3, min_cosine=0.9, hub_weight=0.0) == []


def test_the_hub_is_ranked_down_by_its_hubness() -> None:
    # GIVEN "pouri", near every text (the toy space's hub), and a query word that means a
    # little of "can"
    enc = ToyEncoder()
    lex = Lexicon.build(["pouri", "can", "enamel", "holder"], enc)
    assert lex.hub[lex.words.index("pouri")] == lex.hub.max()
    plain = lex.neighbours(["teneke"], enc, per_unit=1, min_cosine=0.0, hub_weight=0.0)
    ranked = lex.neighbours(["teneke"], enc, per_unit=1, min_cosine=0.0, hub_weight=1.0)
    # THEN by cosine alone the hub is its nearest word, with the hubness penalty "can" is
    assert plain[0].word == "pouri"
    assert ranked[0].word == "can"


def test_a_rebuild_embeds_only_new_words() -> None:
    enc = ToyEncoder()
    first = Lexicon.build(["heart", "can"], enc, reference=["qq", "zz"])
    enc.calls.clear()
    second = Lexicon.build(["can", "heart", "kitchen"], enc, previous=first, reference=["qq"])
    assert enc.calls == [["kitchen"], ["qq"]]
    assert np.array_equal(second.vectors[second.words.index("heart")], first.vectors[0])
    assert len(Lexicon.build([], enc)) == 0


def test_expansion_query_stems_like_the_products_and_keeps_the_best_cosine() -> None:
    found = [
        Neighbour("kalp", "hearts", 0.8),
        Neighbour("kalbi", "heart", 0.9),
        Neighbour("mumluk", "holder", 0.6),
    ]
    vec = expansion_weights(found)
    weights = dict(zip(vec.indices, vec.values, strict=True))
    assert weights == {kw.token_id("heart"): 0.9, kw.token_id("holder"): 0.6}
    assert expansion_text(found) == "hearts heart holder"


def test_foreign_share_is_what_the_catalog_lacks() -> None:
    assert foreign_share(catalog_share=1.0, latin=True) == 0.0
    assert foreign_share(catalog_share=0.25, latin=True) == 0.75
    assert foreign_share(catalog_share=1.0, latin=False) == 1.0


def test_the_dense_lists_join_a_match_or_a_fallback_only() -> None:
    tuning = SearchTuning(min_coverage=0.7)
    over, near, under = (DenseList([Hit("a", c)], 1.0, 0.5, 0.3) for c in (0.6, 0.4, 0.2))
    covered = [Hit("k", 9.0, coverage=0.9)]
    assert dense_lists_join([over], [], tuning=tuning)
    assert dense_lists_join([under, near], [], tuning=tuning)  # a fallback
    assert not dense_lists_join([under], [], tuning=tuning)  # nothing at all
    assert not dense_lists_join([near], covered, tuning=tuning)  # keywords alone matched
    assert dense_lists_join([over], covered, tuning=tuning)


def test_expansion_lists_rank_but_never_make_a_match() -> None:
    tuning = SearchTuning(min_dense=0.5, floor_dense=0.3, rrf_k=10)
    extra = [([Hit("target", 7.0), Hit("b", 3.0)], 1.0)]
    # GIVEN a dense list under its floor: nothing, whatever the expansion says
    low = [DenseList([Hit("a", 0.2)], 1.0, 0.5, 0.3)]
    hits, evidence = fuse_lists(low, [], tuning=tuning, limit=10, expansions=extra)
    assert hits == [] and not evidence.matched and not evidence.fallback
    # WHEN the dense list matched, the expansion's products join its ranking
    high = [DenseList([Hit("a", 0.6), Hit("c", 0.55)], 1.0, 0.5, 0.3)]
    base, ev0 = fuse_lists(high, [], tuning=tuning, limit=10)
    hits, ev1 = fuse_lists(high, [], tuning=tuning, limit=10, expansions=extra)
    assert ev0 == ev1 and ev1.matched
    assert [h.key for h in base] == ["a", "c"]
    assert "target" in [h.key for h in hits]
    # AND a product on both lists rises above one on the dense list alone
    both = [([Hit("target", 7.0), Hit("b", 3.0), Hit("c", 1.0)], 1.0)]
    hits, _ = fuse_lists(high, [], tuning=tuning, limit=10, expansions=both)
    assert hits[0].key == "c"
    # AND a weight of 0 leaves the list as it was
    same, _ = fuse_lists(high, [], tuning=tuning, limit=10, expansions=[(extra[0][0], 0.0)])
    assert [h.key for h in same] == ["a", "c"]


def test_cache_builds_from_the_store_in_the_background_and_refreshes_on_change(
    tmp_path: Path,
) -> None:
    # GIVEN a products collection of two products
    store = EdgeStore(tmp_path / "qdrant")
    store.ensure_collection(replace(products_spec(size=DIM), vectors={"text": DIM}))
    vec = np.ones(DIM, dtype=np.float32) / np.sqrt(DIM)

    def put(key: str, title: str) -> None:
        store.upsert("products", [PointIn(key, {"text": vec}, {"product_id": key, "title": title})])

    put("1", "ENAMEL WATERING CAN")
    put("2", "RED HEART HOLDER")
    cache = LexiconCache(store, "products", ToyEncoder(), ttl_s=0.0)
    # WHEN it is asked for (and waited on)
    lexicon = cache.get(wait=True)
    # THEN it holds the catalog's words
    assert lexicon is not None and {"watering", "heart", "enamel"} <= set(lexicon.words)
    # AND after a write (the lexicon older than its ttl) a rebuild adds the new product's words
    put("3", "KITCHEN SCALES")
    cache.get(wait=True)
    again = cache.get(wait=True)
    assert again is not None and "kitchen" in again and "scales" in again
    store.close()


@pytest.mark.parametrize("hub", [0.0, 0.5])
def test_no_neighbours_when_off(hub: float) -> None:
    enc = ToyEncoder()
    lex = Lexicon.build(["heart"], enc)
    assert lex.neighbours(["kalp"], enc, per_unit=0, min_cosine=0.0, hub_weight=hub) == []
    assert lex.neighbours([], enc, per_unit=2, min_cosine=0.0, hub_weight=hub) == []


def test_a_suffixed_word_maps_through_its_stem() -> None:
    # GIVEN "kalpler" (hearts: "kalp" and a plural suffix), a word the toy encoder does not know
    enc = ToyEncoder()
    lex = Lexicon.build(["heart", "can", "enamel", "kitchen"], enc)
    plain = lex.neighbours(["kalpler"], enc, per_unit=1, min_cosine=0.8, hub_weight=0.0)
    # WHEN its stems with up to 3 trailing letters dropped are tried too
    stems = lex.neighbours(["kalpler"], enc, per_unit=1, min_cosine=0.8, hub_weight=0.0, backoff=3)
    # THEN only then it maps to "heart", its cosine less the letters' cost
    assert plain == []
    assert [(n.unit, n.word) for n in stems] == [("kalpler", "heart")]
    costed = lex.neighbours(
        ["kalpler"], enc, per_unit=1, min_cosine=0.0, hub_weight=0.0, backoff=3, strip_penalty=0.05
    )
    assert costed[0].word == "heart"
    assert costed[0].cosine == pytest.approx(stems[0].cosine - 0.15, abs=1e-5)
    # AND a word the catalog has is not backed off
    same = lex.neighbours(["heart"], enc, per_unit=2, min_cosine=0.0, hub_weight=0.0)
    assert same == lex.neighbours(
        ["heart"], enc, per_unit=2, min_cosine=0.0, hub_weight=0.0, backoff=3
    )


def test_a_stem_does_not_map_to_the_catalog_words_it_spells() -> None:
    # GIVEN "comba" (Spanish: a skipping rope), whose stem "comb" is a catalog word by chance
    enc = ToyEncoder()
    lex = Lexicon.build(["comb", "combs", "heart"], enc)
    found = lex.neighbours(["comba"], enc, per_unit=3, min_cosine=0.9, hub_weight=0.0, backoff=2)
    # THEN the stem's identity is no evidence (the words it begins are left out)
    assert found == []


def test_the_query_side_term_only_weighs_forms_against_each_other() -> None:
    # GIVEN one form per word (no back-off): CSLS's query-side term is a constant per word, so
    # 2·cos − r − hubness ranks a word's catalog words as cos − hubness / 2 does
    enc = ToyEncoder()
    lex = Lexicon.build(["pouri", "can", "enamel", "holder", "heart"], enc)
    for unit in ("teneke", "kalp", "xqzvbn"):
        half = lex.neighbours([unit], enc, per_unit=3, min_cosine=0.0, hub_weight=0.5)
        csls = lex.neighbours([unit], enc, per_unit=3, min_cosine=0.0, hub_weight=1.0, local=1.0)
        # THEN it changes neither which words a unit maps to nor their order
        assert [n.word for n in half] == [n.word for n in csls]


def test_cognates_rank_a_look_alike_word_up() -> None:
    # GIVEN "termos" (Turkish/Spanish: thermos), placed at random by the toy encoder
    enc = ToyEncoder()
    lex = Lexicon.build(["thermos", "holder", "enamel", "kitchen"], enc)
    found = lex.neighbours(
        ["termos"], enc, per_unit=1, min_cosine=-1.0, hub_weight=0.0, cognate=2.0
    )
    assert found[0].word == "thermos"
