"""A second encoder's vector in the products collection, on both embedded backends (qdrant-edge
in a directory, qdrant-client on a local path): declared by the settings, written beside
"text", searched under its own encoder's check, kept across a restart; a store made without it
is served as it is."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from recsys.core.config import Settings
from recsys.core.errors import SpaceMismatchError
from recsys.store import PointIn, VectorStore, ensure_collections
from recsys.store.edge import EdgeStore
from recsys.store.qdrant import QdrantStore
from recsys.store.space_ids import second_space
from recsys.store.spaces import declared_second, forget_model, physical_name

pytestmark = pytest.mark.integration

MINILM = "all-MiniLM-L6-v2-int8"
MULTI = "use-multilingual-v3-int8"
#: The multilingual encoder's vector of the titles (its space id says so).
TITLES = second_space(MULTI)
SECOND = f"text__{TITLES}"


def open_kind(kind: str, root: Path) -> VectorStore:
    if kind == "edge":
        return EdgeStore(root / "qdrant")
    return QdrantStore(str(root / "qdrant-local"))


@pytest.fixture(params=["edge", "qdrant"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _fresh_context() -> Iterator[None]:
    forget_model()  # random vectors below, from no encoder
    yield
    forget_model()


def unit(dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_a_new_store_declares_the_second_vector_and_searches_it_in_its_own_space(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a new store under the default settings (both shipped encoders installed)
    store = open_kind(kind, tmp_path)
    ensure_collections(store, Settings(data_dir=tmp_path))
    spec = store.bound_spec("products")
    assert spec is not None
    assert spec.name == physical_name("products", MINILM, TITLES)
    assert dict(spec.vectors) == {"text": 384, SECOND: 512}
    assert declared_second(store, "products") == {SECOND: TITLES}
    # WHEN products are written with both vectors, and one with "text" only (a deployment
    # without the second model)
    both = [PointIn(f"p{i}", {"text": unit(384, i), SECOND: unit(512, 100 + i)}) for i in range(8)]
    store.upsert("products", [*both, PointIn("lone", {"text": unit(384, 99)})])
    # THEN each vector is searched by itself, the second under its own encoder's check
    assert store.search("products", unit(384, 3), using="text", limit=1)[0].key == "p3"
    hits = store.search("products", unit(512, 103), using=SECOND, limit=9, model=TITLES)
    assert hits[0].key == "p3" and "lone" not in {h.key for h in hits}
    with pytest.raises(SpaceMismatchError):
        store.search("products", unit(512, 103), using=SECOND, limit=1, model=MINILM)
    with pytest.raises(SpaceMismatchError):  # the same model over the full text: another space
        store.search("products", unit(512, 103), using=SECOND, limit=1, model=MULTI)
    with pytest.raises(SpaceMismatchError):
        store.search("products", unit(384, 3), using="text", limit=1, model=MULTI)
    (rec,) = store.retrieve("products", ["p5"], with_vectors=True)
    assert rec.vectors[SECOND].shape == (512,) and rec.vectors["text"].shape == (384,)
    store.close()

    # AND a restart (the setting now off) serves the collection as it was made
    again = open_kind(kind, tmp_path)
    ensure_collections(again, Settings(data_dir=tmp_path, second_encoder="none"))
    reopened = again.bound_spec("products")
    assert reopened is not None and dict(reopened.vectors) == {"text": 384, SECOND: 512}
    hits = again.search("products", unit(512, 106), using=SECOND, limit=1, model=TITLES)
    assert hits[0].key == "p6"
    again.close()


def test_a_store_made_without_the_second_vector_is_served_as_it_is(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a store made with the second encoder off
    old = open_kind(kind, tmp_path)
    ensure_collections(old, Settings(data_dir=tmp_path, second_encoder="none"))
    old.upsert("products", [PointIn(f"p{i}", {"text": unit(384, i)}) for i in range(4)])
    old.close()
    # WHEN it is opened with the second encoder on
    store = open_kind(kind, tmp_path)
    with caplog.at_level(logging.WARNING, logger="recsys.store.spaces"):
        ensure_collections(store, Settings(data_dir=tmp_path))
    # THEN it serves its one vector, says how to get the second, and declares none
    spec = store.bound_spec("products")
    assert spec is not None and spec.name == physical_name("products", MINILM)
    assert dict(spec.vectors) == {"text": 384}
    assert declared_second(store, "products") == {}
    assert "recsys reembed" in caplog.text and SECOND in caplog.text
    assert store.search("products", unit(384, 2), using="text", limit=1)[0].key == "p2"
    store.close()
