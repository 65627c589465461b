"""The nightly job gives products embedded without the second encoder's model its vector.

Products ingested where the multilingual model was not installed (a Lambda layer that ships
one encoder, an ingest while the model was being installed) lack the products collection's
second vector; search then lists them by the primary's alone. The nightly run adds it, over
the text that vector embeds, keeping everything else the product had — on both embedded
backends."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from retail_table import online_retail_catalog

from recsys.catalog import encoding
from recsys.catalog.embed import DirectEmbedQueue, Embedder
from recsys.catalog.ingest import ingest_rows
from recsys.catalog.text import title_text
from recsys.core.config import Settings
from recsys.encoder import get_encoder
from recsys.jobs.nightly import nightly_refresh
from recsys.services import Services
from recsys.store.space_ids import second_space, second_vector_name
from recsys.store.spaces import forget_model, installed

pytestmark = pytest.mark.integration

MULTI = "use-multilingual-v3-int8"
SECOND = second_vector_name(second_space(MULTI))
#: "Inflatable globe": product 10002, INFLATABLE POLITICAL GLOBE, among the products.
RUSSIAN, TARGET = "надувной глобус", "10002"
N_PRODUCTS = 60


@cache
def catalog() -> list[dict[str, Any]]:
    return online_retail_catalog(N_PRODUCTS)


@pytest.fixture(autouse=True)
def _fresh_context() -> Iterator[None]:
    forget_model()
    yield
    forget_model()


def settings_for(kind: str, root: Path) -> Settings:
    backend: dict[str, Any] = (
        {} if kind == "edge" else {"vector_backend": "qdrant", "qdrant_url": str(root / "qd")}
    )
    return Settings(data_dir=root, events_backend="sqlite", cache_ttl_search_s=0, **backend)


def night(services: Services) -> dict[str, Any]:
    return nightly_refresh(
        store=services.store,
        log=services.event_log,
        settings=services.settings,
        queue=None,
        aggregates=services.aggregates,
    )


@pytest.mark.parametrize("kind", ["edge", "qdrant"])
def test_the_nightly_job_adds_the_second_vector_products_were_embedded_without(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a products collection that declares the multilingual title vector, and products
    # ingested while that model was not installed here
    services = Services(settings_for(kind, tmp_path))
    settings, store = services.settings, services.store
    spec = store.bound_spec("products")
    assert spec is not None and SECOND in spec.vectors
    with monkeypatch.context() as missing:
        missing.setattr(encoding, "installed", lambda model: None)
        queue = DirectEmbedQueue(Embedder.from_services(services))
        report = ingest_rows(catalog(), store=store, queue=queue, settings=settings)
        assert report.accepted == N_PRODUCTS
    ids = [row["product_id"] for row in catalog()]
    before = {r.key: r for r in store.retrieve("products", ids, with_vectors=True)}
    assert all(SECOND not in r.vectors and "text" in r.vectors for r in before.values())

    # WHEN the nightly job runs (the model installed now)
    done = night(services)

    # THEN every product got the vector: the multilingual encoding of its title
    assert done["second_vectors_filled"] == N_PRODUCTS
    folder = installed(MULTI)
    assert folder is not None
    multilingual = get_encoder(settings.model_copy(update={"model_dir": folder}))
    after = {r.key: r for r in store.retrieve("products", ids, with_vectors=True)}
    titles = multilingual.encode([title_text(before[k].payload) for k in ids])
    for key, want in zip(ids, titles, strict=True):
        got = np.asarray(after[key].vectors[SECOND], dtype=np.float32)
        assert float(np.dot(want, got) / np.linalg.norm(got)) > 0.99
        # AND the rest of the product is as it was: its "text" vector and its payload (the
        # nightly job's own popularity and trending aside)
        np.testing.assert_allclose(
            after[key].vectors["text"], before[key].vectors["text"], rtol=1e-5, atol=1e-6
        )
        kept = {k: v for k, v in after[key].payload.items() if k not in ("popularity", "trending")}
        assert kept == {
            k: v for k, v in before[key].payload.items() if k not in ("popularity", "trending")
        }
    # AND its keywords still answer a product code
    code = services.recommender.ranker.search(ids[7], user_id=None, limit=5)
    assert code.strategy == "search" and code.items[0].product_id == ids[7]
    # AND search reads the new vector: the Russian query finds the globe, as a match
    found = services.recommender.ranker.search(RUSSIAN, user_id=None, limit=10)
    assert found.strategy == "search" and not found.degraded
    assert TARGET in [i.product_id for i in found.items[:3]]

    # AND the next night finds nothing left to add
    again = night(services)
    assert again["second_vectors_filled"] == 0
    services.close()
