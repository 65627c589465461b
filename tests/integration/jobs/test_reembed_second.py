"""``reembed`` and a second encoder's vector, with the two shipped models, on both backends.

A store filled with MiniLM alone (``RECSYS_SECOND_ENCODER=none``) gets the multilingual
vector of the titles beside "text" by a re-embed that keeps its encoder — "text" copied, only
the new vector encoded, profiles kept — after which search answers a Russian query; a second
re-embed moves the store to the multilingual encoder, copying MiniLM's vector and encoding the
multilingual "text" (the full text: another space than the titles' vector)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_reembed import (  # noqa: F401 (_fresh_context: its autouse fixture, here too)
    N_PRODUCTS,
    N_USERS,
    _fresh_context,
    populate,
    settings_for,
)

from recsys.catalog.encoding import settings_for_model
from recsys.catalog.text import product_text, title_text
from recsys.encoder import get_encoder
from recsys.jobs.reembed import reembed
from recsys.services import Services
from recsys.store.space_ids import second_space
from recsys.store.spaces import MODEL_FIELD, active_model, physical_name

pytestmark = pytest.mark.integration

MINILM = "all-MiniLM-L6-v2-int8"
MULTI = "use-multilingual-v3-int8"
TITLES = second_space(MULTI)
#: "Inflatable globe": product 10002, INFLATABLE POLITICAL GLOBE, among the products.
RUSSIAN, TARGET = "надувной глобус", "10002"


@pytest.mark.parametrize("kind", ["edge", "qdrant"])
def test_a_reembed_adds_the_second_vector_then_swaps_the_encoders_without_encoding(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a store of MiniLM vectors alone; search there cannot read Russian
    first = Services(settings_for(kind, tmp_path))
    populate(first)
    first.close()
    settings = settings_for(kind, tmp_path, second_encoder="auto")
    services = Services(settings)
    ranker = services.recommender.ranker
    before = ranker.search(RUSSIAN, user_id=None, limit=10)
    assert TARGET not in [i.product_id for i in before.items if before.strategy == "search"]

    # WHEN a re-embed runs with the second encoder on (same encoder: MiniLM)
    added = reembed(store=services.store, log=services.event_log, settings=settings, grace_s=0.0)
    # THEN "text" was copied and only the multilingual vector encoded; profiles stayed
    assert added.complete and added.switched and (added.source, added.target) == (MINILM, MINILM)
    assert added.products_embedded == N_PRODUCTS and added.vectors_copied == N_PRODUCTS
    assert added.profiles_rebuilt == 0
    spec = services.store.bound_spec("products")
    assert spec is not None and spec.name == physical_name("products", MINILM, TITLES)
    assert sorted(services.store.collections()) == [
        physical_name("products", MINILM, TITLES),
        physical_name("users", MINILM),
    ]
    assert services.store.count("users") == N_USERS
    (rec,) = services.store.retrieve("products", [TARGET], with_vectors=True)
    multilingual = get_encoder(settings_for_model(settings, MULTI))
    want = multilingual.encode([title_text(rec.payload)])[0]
    got = rec.vectors[f"text__{TITLES}"]
    assert float(np.dot(want, got) / np.linalg.norm(got)) > 0.99  # its title's USE vector
    # AND search fuses both lists: the Russian query finds the globe, as a match
    found = services.recommender.ranker.search(RUSSIAN, user_id=None, limit=10)
    assert found.strategy == "search" and not found.degraded
    assert TARGET in [i.product_id for i in found.items[:3]]

    # WHEN the store then moves to the multilingual encoder (MiniLM becomes the second)
    swap_settings = settings_for(
        kind, tmp_path, second_encoder="auto", encoder_model="multilingual"
    )
    swapped = reembed(
        store=services.store, log=services.event_log, settings=swap_settings, grace_s=0.0
    )
    # THEN MiniLM's vectors were copied and the multilingual "text" encoded (of the full
    # text, not the titles the served second vector holds), the profiles rebuilt
    assert swapped.complete and (swapped.source, swapped.target) == (MINILM, MULTI)
    assert swapped.vectors_copied == N_PRODUCTS
    assert swapped.products_embedded == N_PRODUCTS
    assert swapped.profiles_rebuilt == N_USERS
    assert active_model(services.store, swap_settings) == MULTI
    (moved,) = services.store.retrieve("products", [TARGET], with_vectors=True)
    assert moved.payload[MODEL_FIELD] == MULTI
    full = multilingual.encode([product_text(rec.payload)])[0]
    assert float(np.dot(full, moved.vectors["text"])) > 0.99
    assert float(np.dot(got, moved.vectors["text"])) < 0.99
    assert np.allclose(moved.vectors[f"text__{MINILM}"], rec.vectors["text"], atol=1e-2)
    services.close()
