"""GET /search is tuned for the encoders whose vectors the store serves, not the configured ones."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

from recsys.core.config import Settings
from recsys.ranking.service import Recommender
from recsys.search.fusion import TUNINGS, pair_tuning, tuning_for
from recsys.search.second import served_model
from recsys.store.model import CollectionSpec, products_spec
from recsys.store.space_ids import second_space, second_vector_name

MINILM = "all-MiniLM-L6-v2-int8"
MULTI = "use-multilingual-v3-int8"


class SpecStore:
    """The part of a store search reads to pick its encoders: the served products' spec (None:
    a collection outside spaces) and the collection's vectors as they exist."""

    def __init__(self, spec: CollectionSpec | None, vectors: dict[str, int]) -> None:
        self.spec, self.vectors = spec, vectors

    def bound_spec(self, logical: str) -> CollectionSpec | None:
        return self.spec

    def collection_vectors(self, name: str) -> dict[str, int] | None:
        return dict(self.vectors)


def engine(store: SpecStore, settings: Settings) -> Any:
    recommender = Recommender(
        settings=settings,
        store=cast(Any, store),
        aggregates=lambda: cast(Any, None),
        encoder=lambda: cast(Any, "query encoder"),
    )
    return recommender._product_search()


def served(model: str, vectors: dict[str, int]) -> SpecStore:
    spec = replace(products_spec(f"products__{model}", 4), model=model, vectors=vectors)
    return SpecStore(spec, vectors)


def test_a_store_still_in_the_old_space_is_searched_with_the_old_encoders_tuning() -> None:
    # GIVEN the configured encoder is the multilingual one, but the store still serves MiniLM's
    # vectors alone (not re-embedded yet)
    settings = Settings(encoder_model="multilingual")
    store = served(MINILM, {"text": 384})
    # WHEN search builds its engine
    search = engine(store, settings)
    # THEN it is MiniLM's one-encoder tuning, with no second list
    assert served_model(cast(Any, store), "products", settings) == MINILM
    assert search.second is None
    assert search.tuning == tuning_for(MINILM) == search.solo_tuning
    assert search.tuning != tuning_for(MULTI)


def test_a_served_second_vector_is_searched_whatever_the_setting_says() -> None:
    # GIVEN products carrying both encoders' vectors, served by a process started with the
    # second encoder off (the setting shapes new collections; these are what the store holds)
    store = served(MINILM, {"text": 384, second_vector_name(MULTI): 512})
    search = engine(store, Settings(second_encoder="none"))
    # THEN both lists are searched, under the pair's tuning, the primary alone under its own
    assert search.second is not None and search.second.using == second_vector_name(MULTI)
    assert search.second.model == MULTI
    assert search.tuning == pair_tuning(MINILM, MULTI)
    assert search.solo_tuning == tuning_for(MINILM)


def test_the_multilingual_title_vector_is_searched_under_its_own_spaces_tuning() -> None:
    # GIVEN products carrying MiniLM's "text" and USE's vector of their titles (a new store)
    titles = second_space(MULTI)
    store = served(MINILM, {"text": 384, second_vector_name(titles): 512})
    search = engine(store, Settings())
    # THEN the second list is that space's, checked as such, under the pair chosen for it: a
    # higher bar and floor on the title list than on the full-text one (short texts sit
    # nearer everything)
    assert search.second is not None and search.second.model == titles
    tuned = pair_tuning(MINILM, titles)
    assert tuned is not None and search.tuning == tuned
    assert search.second.min_dense == tuned.second_min_dense == TUNINGS[titles].min_dense
    assert search.second.floor_dense == TUNINGS[titles].floor_dense
    full = pair_tuning(MINILM, MULTI)
    assert full is not None and full.second_min_dense is not None
    assert search.second.min_dense > full.second_min_dense


def test_a_collection_without_the_second_vector_gets_one_encoders_tuning() -> None:
    # GIVEN the second encoder asked for (auto) but a collection made without its vector
    search = engine(served(MINILM, {"text": 384}), Settings())
    # THEN one list, MiniLM's tuning — not the pair's the settings would make
    assert search.second is None
    assert search.tuning == tuning_for(MINILM)
    assert search.tuning != pair_tuning(MINILM, MULTI)


def test_a_collection_outside_spaces_is_tuned_for_the_encoder_its_vectors_size_names() -> None:
    # GIVEN a plain collection (made before spaces) of 512-d vectors, MiniLM configured
    store = SpecStore(None, {"text": 512})
    # THEN its vectors are the multilingual encoder's, and so is the tuning
    assert served_model(cast(Any, store), "products", Settings()) == MULTI
    assert engine(store, Settings()).tuning == tuning_for(MULTI)
    # AND with no collection at all, the configured encoder is all there is to go by
    assert served_model(cast(Any, SpecStore(None, {})), "products", Settings()) == MINILM
