"""``reembed`` and a second encoder's vector, with the two shipped models, on both backends.

A store filled with MiniLM alone (``RECSYS_SECOND_ENCODER=none``) gets the multilingual
vector beside "text" by a re-embed that keeps its encoder — "text" copied, only the new vector
encoded, profiles kept — after which search answers a Russian query; a second re-embed moves
the store to the multilingual encoder, copying both vectors (nothing encoded)."""

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
from recsys.catalog.text import product_text
from recsys.encoder import get_encoder
from recsys.jobs.reembed import reembed
from recsys.services import Services
from recsys.store.spaces import MODEL_FIELD, active_model, physical_name

pytestmark = pytest.mark.integration

MINILM = "all-MiniLM-L6-v2-int8"
MULTI = "use-multilingual-v3-int8"
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
    assert spec is not None and spec.name == physical_name("products", MINILM, MULTI)
    assert sorted(services.store.collections()) == [
        physical_name("products", MINILM, MULTI),
        physical_name("users", MINILM),
    ]
    assert services.store.count("users") == N_USERS
    (rec,) = services.store.retrieve("products", [TARGET], with_vectors=True)
    multilingual = get_encoder(settings_for_model(settings, MULTI))
    want = multilingual.encode([product_text(rec.payload)])[0]
    got = rec.vectors[f"text__{MULTI}"]
    assert float(np.dot(want, got) / np.linalg.norm(got)) > 0.99  # its text's USE vector
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
    # THEN both vectors were copied (nothing encoded), the profiles rebuilt in the new space
    assert swapped.complete and (swapped.source, swapped.target) == (MINILM, MULTI)
    assert swapped.vectors_copied == 2 * N_PRODUCTS
    assert swapped.profiles_rebuilt == N_USERS
    assert active_model(services.store, swap_settings) == MULTI
    (moved,) = services.store.retrieve("products", [TARGET], with_vectors=True)
    assert moved.payload[MODEL_FIELD] == MULTI
    assert np.allclose(moved.vectors["text"], got, atol=1e-2)
    assert np.allclose(moved.vectors[f"text__{MINILM}"], rec.vectors["text"], atol=1e-2)
    services.close()
