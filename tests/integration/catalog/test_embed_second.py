"""The embed path writes a second encoder's vector when the products collection declares it,
on both embedded backends (qdrant-edge, qdrant-client on a local path), in the caller's thread
and on the encoding worker; GET /search then reads both: a Russian query finds its product."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from retail_table import online_retail_catalog

from recsys.api.app import build_app
from recsys.api.routes import recommend
from recsys.catalog.embed import DirectEmbedQueue, Embedder
from recsys.catalog.encoding import settings_for_model
from recsys.catalog.ingest import ingest_rows
from recsys.catalog.text import title_text
from recsys.core.config import Settings
from recsys.encoder import get_encoder
from recsys.services import Services
from recsys.store.space_ids import second_space, second_vector_name
from recsys.store.spaces import forget_model

pytestmark = pytest.mark.integration

MULTI = "use-multilingual-v3-int8"
SECOND = second_vector_name(second_space(MULTI))


def catalog() -> list[dict[str, Any]]:
    return online_retail_catalog(120)


def settings_for(kind: str, root: Path, **extra: Any) -> Settings:
    backend: dict[str, Any] = (
        {} if kind == "edge" else {"vector_backend": "qdrant", "qdrant_url": str(root / "qd")}
    )
    return Settings(data_dir=root, cache_ttl_search_s=0, **backend, **extra)


@pytest.fixture(autouse=True)
def _fresh_context() -> Iterator[None]:
    forget_model()
    yield
    forget_model()


@pytest.mark.parametrize(("kind", "background"), [("edge", True), ("qdrant", False)])
def test_ingest_writes_both_encoders_vectors_and_search_reads_them(
    kind: str, background: bool, tmp_path: Path
) -> None:
    # GIVEN a new store under the default settings (both shipped encoders installed)
    services = Services(settings_for(kind, tmp_path))
    queue = DirectEmbedQueue(Embedder.from_services(services), background=background)
    # WHEN the catalog is ingested in process
    rows = catalog()
    result = ingest_rows(rows, store=services.store, queue=queue, settings=services.settings)
    queue.close()
    assert result.accepted == len(rows)
    # THEN every product carries "text" and the multilingual vector of its own title
    keys = [r["product_id"] for r in rows]
    records = services.store.retrieve("products", keys, with_vectors=True)
    assert len(records) == len(rows)
    assert all(set(r.vectors) == {"text", SECOND} for r in records)
    use = get_encoder(settings_for_model(services.settings, MULTI))
    want = use.encode([title_text(r.payload) for r in records[:16]])
    got = np.stack([r.vectors[SECOND] for r in records[:16]])
    cosines = np.sum(want * got, axis=1) / np.linalg.norm(got, axis=1)
    assert float(cosines.min()) > 0.99
    # AND GET /search fuses both: a Russian query ("inflatable globe") finds its product
    app = build_app(recommend.router, services=services, title="recsys-test")
    with TestClient(app) as client:
        body = client.get("/search", params={"q": "надувной глобус", "limit": 5}).json()
    assert body["matched"] is True and body["strategy"] == "search"
    assert body["items"][0]["product_id"] == "10002"  # INFLATABLE POLITICAL GLOBE
    services.close()


def test_with_the_second_encoder_off_products_carry_one_vector(tmp_path: Path) -> None:
    services = Services(settings_for("edge", tmp_path, second_encoder="none"))
    queue = DirectEmbedQueue(Embedder.from_services(services))
    rows = catalog()[:10]
    ingest_rows(rows, store=services.store, queue=queue, settings=services.settings)
    keys = [r["product_id"] for r in rows]
    records = services.store.retrieve("products", keys, with_vectors=True)
    assert records and all(set(r.vectors) == {"text"} for r in records)
    services.close()
