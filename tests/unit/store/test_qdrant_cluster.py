"""A Qdrant server or cluster gets its collections laid out from the settings: shards,
replicas, vectors on disk with their int8 copies in RAM, and the payload indexes filters use.

No Qdrant server runs on this machine, so what a server would receive is checked at the
client's boundary: the arguments of ``create_collection`` / ``create_payload_index``. The
behaviour of the created collections is the contract tests' job (local mode and qdrant-edge).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from recsys.core.config import Settings
from recsys.store import open_store, products_spec, users_spec
from recsys.store._qdrant_client import models as qm
from recsys.store.qdrant import QdrantStore


def _server_store(**settings: Any) -> QdrantStore:
    store = open_store(
        Settings(vector_backend="qdrant", qdrant_url="http://127.0.0.1:6333", **settings)
    )
    assert isinstance(store, QdrantStore) and not store.local
    return store


def test_cluster_settings_reach_the_collection_layout() -> None:
    # GIVEN a store for a cluster: 6 shards, 2 replicas, vectors on disk
    store = _server_store(
        qdrant_shard_number=6,
        qdrant_replication_factor=2,
        qdrant_write_consistency_factor=1,
        qdrant_on_disk_vectors=True,
        qdrant_on_disk_payload=True,
    )
    # WHEN the products collection's layout is built
    config = store.collection_config(products_spec(size=512))
    # THEN the cluster layout is in it
    assert config["shard_number"] == 6
    assert config["replication_factor"] == 2
    assert config["write_consistency_factor"] == 1
    assert config["on_disk_payload"] is True
    # AND the text vector is on disk, cosine, with an int8 copy kept in RAM for the search
    text = config["vectors_config"]["text"]
    assert (text.size, text.distance, text.on_disk) == (512, qm.Distance.COSINE, True)
    scalar = text.quantization_config.scalar
    assert (scalar.type, scalar.always_ram) == (qm.ScalarType.INT8, True)
    # AND the keywords vector takes IDF from the collection
    assert config["sparse_vectors_config"]["keywords"].modifier == qm.Modifier.IDF
    # AND user vectors are not quantized (they are few and are read back exactly)
    users = store.collection_config(users_spec(size=512))["vectors_config"]
    assert users["long"].quantization_config is None


def test_defaults_leave_the_servers_own_choices() -> None:
    config = _server_store().collection_config(products_spec())
    assert config["shard_number"] is None and config["replication_factor"] is None
    assert config["vectors_config"]["text"].on_disk is None


def test_local_mode_has_one_node_and_no_cluster_arguments() -> None:
    store = QdrantStore(":memory:")
    config = store.collection_config(products_spec(size=8))
    assert "shard_number" not in config and "replication_factor" not in config
    store.ensure_collection(products_spec(size=8))  # local mode accepts the layout


def test_a_new_server_collection_is_created_with_its_layout_and_payload_indexes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a server without the collection (its answers recorded at the client's boundary)
    store = _server_store(qdrant_shard_number=3, qdrant_replication_factor=2)
    calls: dict[str, Any] = {"indexes": {}}
    monkeypatch.setattr(store.client, "collection_exists", lambda name: False)
    monkeypatch.setattr(
        store.client, "create_collection", lambda name, **kw: calls.update(create=(name, kw))
    )
    monkeypatch.setattr(
        store.client,
        "create_payload_index",
        lambda name, field, field_schema, wait: calls["indexes"].update({field: field_schema}),
    )
    params = SimpleNamespace(sparse_vectors={"keywords": object()})
    monkeypatch.setattr(
        store.client,
        "get_collection",
        lambda name: SimpleNamespace(payload_schema={}, config=SimpleNamespace(params=params)),
    )
    # WHEN the store ensures the products collection
    spec = products_spec(size=384)
    store.ensure_collection(spec)
    # THEN it was created with the cluster layout
    name, kw = calls["create"]
    assert name == "products" and kw == store.collection_config(spec)
    assert (kw["shard_number"], kw["replication_factor"]) == (3, 2)
    # AND every filtered field has its payload index, of the right type
    indexes = calls["indexes"]
    for field in ("category_levels", "brand", "product_id"):
        assert indexes[field] == qm.PayloadSchemaType.KEYWORD
    for field in ("price", "popularity"):
        assert indexes[field] == qm.PayloadSchemaType.FLOAT
    for field in ("in_stock", "is_active"):
        assert indexes[field] == qm.PayloadSchemaType.INTEGER
    assert indexes["created_at"] == qm.PayloadSchemaType.DATETIME
