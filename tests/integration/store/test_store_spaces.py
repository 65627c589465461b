"""Encoder spaces on both backends (qdrant-edge in a directory, qdrant-client in memory or a
path): the model recorded with the collections and every point, the pointer and its switch,
followers, drops, reopening, and no vector of one space ever compared with another's."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from recsys.core.config import Settings
from recsys.core.errors import SpaceMismatchError, StoreError
from recsys.store import PointIn, VectorStore, ensure_collections, products_spec, users_spec
from recsys.store.edge import EdgeStore
from recsys.store.qdrant import QdrantStore
from recsys.store.spaces import (
    MODEL_FIELD,
    active_model,
    forget_model,
    note_model,
    physical_name,
    space_specs,
)

pytestmark = pytest.mark.integration

MINILM = "all-MiniLM-L6-v2-int8"
MULTI = "use-multilingual-v3-int8"


def open_kind(kind: str, root: Path) -> VectorStore:
    if kind == "edge":
        return EdgeStore(root / "qdrant")
    return QdrantStore(str(root / "qdrant-local"), follow_every_s=0.01)


@pytest.fixture(autouse=True)
def _fresh_context() -> Iterator[None]:
    # The vectors below are random, from no encoder: nothing noted may linger around them.
    forget_model()
    yield
    forget_model()


@pytest.fixture(params=["edge", "qdrant"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # One encoder's vectors per space here; a second encoder's: test_store_second_vector.py.
    return Settings(data_dir=tmp_path, second_encoder="none")


@pytest.fixture
def store(kind: str, tmp_path: Path, settings: Settings) -> Iterator[VectorStore]:
    s = open_kind(kind, tmp_path)
    s.pin_s = 0.01  # requests here are single calls: no view to keep
    ensure_collections(s, settings)
    yield s
    s.close()


def unit(dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def products(dim: int, n: int = 20) -> list[PointIn]:
    return [
        PointIn(f"p{i}", {"text": unit(dim, i)}, {"title": f"t{i}", "in_stock": True})
        for i in range(n)
    ]


def open_multilingual_space(store: VectorStore, settings: Settings) -> dict[str, str]:
    specs = space_specs(settings, MULTI, 512)
    for spec in specs.values():
        store.ensure_collection(spec)
    return {logical: spec.name for logical, spec in specs.items()}


def test_a_new_store_is_created_in_the_configured_encoders_space(
    store: VectorStore, settings: Settings
) -> None:
    assert store.read_pointers() == {
        "products": physical_name("products", MINILM),
        "users": physical_name("users", MINILM),
    }
    assert active_model(store, settings) == MINILM
    store.upsert("products", products(384))
    (rec,) = store.retrieve("products", ["p3"])
    assert rec.payload[MODEL_FIELD] == MINILM
    hits = store.search("products", unit(384, 3), using="text", limit=1, model=MINILM)
    assert hits[0].key == "p3"
    assert hits[0].payload[MODEL_FIELD] == MINILM


def test_vectors_of_another_model_are_never_compared(store: VectorStore) -> None:
    store.upsert("products", products(384))
    with pytest.raises(SpaceMismatchError):
        store.search("products", unit(384, 1), using="text", limit=3, model=MULTI)
    with pytest.raises(SpaceMismatchError):
        store.upsert("products", products(384, 1), model=MULTI)
    # What a context noted last (an encoder's output) is checked without being named.
    note_model(MULTI)
    with pytest.raises(SpaceMismatchError):
        store.search("products", unit(384, 1), using="text", limit=3)
    # Reading the store's own vectors notes its model again: its vectors may be used.
    (rec,) = store.retrieve("products", ["p1"], with_vectors=True)
    assert store.search("products", rec.vectors["text"], using="text", limit=1)[0].key == "p1"


def test_a_switch_moves_both_names_at_once_and_ids_stay(
    store: VectorStore, settings: Settings
) -> None:
    store.upsert("products", products(384))
    target = open_multilingual_space(store, settings)
    store.upsert(target["products"], products(512), model=MULTI)
    # Before the switch the names serve the old space.
    assert store.search("products", unit(384, 4), using="text", limit=1)[0].key == "p4"
    store.write_pointers(target)
    assert store.read_pointers() == target
    assert active_model(store, settings) == MULTI
    (rec,) = store.retrieve("products", ["p4"], with_vectors=True)
    assert rec.payload[MODEL_FIELD] == MULTI
    assert rec.vectors["text"].shape == (512,)
    assert store.search("products", unit(512, 4), using="text", limit=1)[0].key == "p4"
    # A query of the old space now meets the new one: refused, not scored.
    with pytest.raises(SpaceMismatchError):
        store.search("products", unit(384, 4), using="text", limit=1, model=MINILM)
    # The old space serves nothing any more and can go; a served one cannot.
    with pytest.raises(StoreError):
        store.drop_collection(target["products"])
    store.drop_collection(physical_name("products", MINILM))
    assert physical_name("products", MINILM) not in store.collections()


def test_another_store_over_the_same_backend_follows_the_switch(
    kind: str, tmp_path: Path, store: VectorStore, settings: Settings
) -> None:
    store.upsert("products", products(384))
    target = open_multilingual_space(store, settings)
    store.upsert(target["products"], products(512), model=MULTI)
    if kind == "edge":
        other: VectorStore = EdgeStore(tmp_path / "qdrant")
        other.pin_s = 0.2
        ensure_collections(other, settings)
        assert active_model(other, settings) == MINILM
        store.write_pointers(target)
        # A request under way (this context, within pin_s) finishes in the space it started in.
        assert active_model(other, settings) == MINILM
        assert other.search("products", unit(384, 2), using="text", limit=1)[0].key == "p2"
        time.sleep(0.25)
        # Same process: once the view lapses, the moved pointer is seen.
        assert active_model(other, settings) == MULTI
        assert other.search("products", unit(512, 2), using="text", limit=1)[0].key == "p2"
        other.close()
    else:
        # Another process moving the aliases: this store follows within follow_every_s.
        assert isinstance(store, QdrantStore)
        QdrantStore._write_pointers(store, target)
        time.sleep(0.05)
        assert active_model(store, settings) == MULTI


def test_pointers_survive_a_restart(kind: str, tmp_path: Path, settings: Settings) -> None:
    first = open_kind(kind, tmp_path)
    ensure_collections(first, settings)
    target = open_multilingual_space(first, settings)
    first.upsert(target["products"], products(512), model=MULTI)
    first.write_pointers(target)
    first.close()
    again = open_kind(kind, tmp_path)
    ensure_collections(again, Settings(data_dir=tmp_path))  # configured: MiniLM still
    assert active_model(again, settings) == MULTI
    assert again.count("products") == 20
    again.close()


def test_a_store_made_before_spaces_is_served_as_it_is(
    kind: str, tmp_path: Path, settings: Settings
) -> None:
    old = open_kind(kind, tmp_path)
    old.ensure_collection(products_spec("products", 384))
    old.ensure_collection(users_spec("users", 384))
    old.upsert("products", products(384))
    old.close()
    store = open_kind(kind, tmp_path)
    multilingual = Settings(data_dir=tmp_path, encoder_model="multilingual")
    ensure_collections(store, multilingual)
    # 384-d vectors: MiniLM's (the one shipped encoder of that size), not the configured one.
    assert active_model(store, multilingual) == MINILM
    assert store.bound_spec("products") is not None
    assert store.search("products", unit(384, 5), using="text", limit=1)[0].key == "p5"
    store.close()


def test_edge_finds_its_space_when_the_pointer_file_is_lost(
    tmp_path: Path, settings: Settings
) -> None:
    first = EdgeStore(tmp_path / "qdrant")
    ensure_collections(first, settings)
    first.upsert("products", products(384))
    first.close()
    (tmp_path / "qdrant" / "spaces.json").unlink()
    from recsys.store import edge

    edge._POINTERS.clear()  # a new process
    again = EdgeStore(tmp_path / "qdrant")
    ensure_collections(again, settings)
    assert again.count("products") == 20
    again.close()
