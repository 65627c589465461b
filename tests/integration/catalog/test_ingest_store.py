"""Ingest and embed on the real embedded store (edge) and encoder, with an in-memory queue."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from recsys.catalog.embed import Embedder
from recsys.catalog.ingest import CatalogService, ingest_rows
from recsys.catalog.messages import EmbedItem, EmbedMessage
from recsys.core.config import Settings
from recsys.core.errors import BatchTooLargeError, NotFoundError
from recsys.encoder import get_encoder
from recsys.store import VectorStore, open_store, products_spec

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parents[3] / "shared" / "schemas"


class RecordingQueue:
    """Keeps what ingest sends, so tests can look at it and embed it when they choose."""

    def __init__(self) -> None:
        self.sent: list[EmbedItem] = []

    def send(self, items: Sequence[EmbedItem]) -> None:
        self.sent.extend(items)

    def flush(self) -> None:
        pass


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(ingest_chunk_size=3, max_post_products=5)


@pytest.fixture
def store(settings: Settings) -> Iterator[VectorStore]:
    s = open_store(settings)
    s.ensure_collection(products_spec(settings.products_collection, settings.vector_size))
    yield s
    s.close()


@pytest.fixture
def embedder(store: VectorStore, settings: Settings) -> Embedder:
    return Embedder(encoder=get_encoder(settings), store=store, settings=settings)


ROWS: list[dict[str, Any]] = [
    {"product_id": "candle", "title": "White heart t-light holder", "category": "Home > Candles"},
    {"product_id": "bag", "title": "Jumbo bag red retrospot", "price": 2.08},
    {"product_id": "bad", "title": "Negative", "price": -1},
    {"product_id": "mug", "title": "Blue enamel mug", "category": "Kitchen > Mugs", "price": 3},
    {"product_id": "cake", "title": "Regency cakestand 3 tier", "tags": "baking;tea"},
]


def test_first_ingest_queues_good_rows_and_reports_bad_ones(
    store: VectorStore, settings: Settings
) -> None:
    # GIVEN an empty store and five rows, one bad, spread over two chunks of three
    queue = RecordingQueue()
    # WHEN they are ingested
    result = ingest_rows(ROWS, store=store, queue=queue, settings=settings)
    # THEN the four good ones are queued and the bad one is reported by position
    assert (result.accepted, result.unchanged) == (4, 0)
    assert [(r.row, r.field) for r in result.rejected] == [(2, "price")]
    assert [i.product_id for i in queue.sent] == ["candle", "bag", "mug", "cake"]
    assert result.as_dict()["rejected"][0] == {
        "index": 2,
        "field": "price",
        "reason": "must be ≥ 0, got -1",
        "product_id": "bad",
    }


def test_reingest_skips_unchanged_text_and_updates_payload_in_place(
    store: VectorStore, settings: Settings, embedder: Embedder
) -> None:
    # GIVEN the catalog ingested and embedded
    queue = RecordingQueue()
    ingest_rows(ROWS, store=store, queue=queue, settings=settings)
    embedder(queue.sent)
    before = {r.key: r for r in store.retrieve("products", ["bag", "mug"], with_vectors=True)}
    # WHEN it comes again with a new price for the bag and a new title for the mug
    rows = [dict(r) for r in ROWS]
    rows[1]["price"] = 1.5
    rows[3]["title"] = "Green enamel mug"
    again = RecordingQueue()
    result = ingest_rows(rows, store=store, queue=again, settings=settings)
    # THEN only the mug is re-sent; the bag's price changed without a re-embed
    assert (result.accepted, result.unchanged, len(result.rejected)) == (1, 3, 1)
    assert [i.product_id for i in again.sent] == ["mug"]
    (bag,) = store.retrieve("products", ["bag"], with_vectors=True)
    assert bag.payload["price"] == 1.5
    assert (bag.vectors["text"] == before["bag"].vectors["text"]).all()
    # AND once the mug is embedded its vector follows its new title
    embedder(again.sent)
    (mug,) = store.retrieve("products", ["mug"], with_vectors=True)
    assert mug.payload["title"] == "Green enamel mug"
    assert not (mug.vectors["text"] == before["mug"].vectors["text"]).all()


def test_redelivered_embed_messages_do_not_duplicate_points(
    store: VectorStore, settings: Settings, embedder: Embedder
) -> None:
    queue = RecordingQueue()
    ingest_rows(ROWS, store=store, queue=queue, settings=settings)
    embedder(queue.sent)
    embedder(queue.sent)  # the same message delivered again
    assert store.count("products") == 4


def test_embedding_keeps_fields_owned_by_other_jobs_and_the_first_created_at(
    store: VectorStore, settings: Settings, embedder: Embedder
) -> None:
    # GIVEN an embedded product that the nightly job gave a popularity
    queue = RecordingQueue()
    ingest_rows([ROWS[0]], store=store, queue=queue, settings=settings)
    embedder(queue.sent)
    store.set_payload("products", "candle", {"popularity": 0.7})
    (first,) = store.retrieve("products", ["candle"])
    # WHEN its title changes and it is re-embedded
    again = RecordingQueue()
    ingest_rows(
        [{**ROWS[0], "title": "Red heart t-light holder"}],
        store=store,
        queue=again,
        settings=settings,
    )
    embedder(again.sent)
    # THEN popularity and created_at survive
    (after,) = store.retrieve("products", ["candle"])
    assert after.payload["popularity"] == 0.7
    assert after.payload["created_at"] == first.payload["created_at"]
    assert after.payload["title"] == "Red heart t-light holder"


def test_an_older_message_arriving_late_does_not_roll_a_product_back(
    store: VectorStore, settings: Settings, embedder: Embedder
) -> None:
    old = EmbedItem(
        product_id="mug",
        payload={"product_id": "mug", "title": "Old mug", "updated_at": "2026-01-01T00:00:00Z"},
    )
    new = EmbedItem(
        product_id="mug",
        payload={"product_id": "mug", "title": "New mug", "updated_at": "2026-01-02T00:00:00Z"},
    )
    assert embedder([new]) == 1
    assert embedder([old]) == 0
    (mug,) = store.retrieve("products", ["mug"])
    assert mug.payload["title"] == "New mug"


def test_a_product_twice_in_one_batch_is_counted_once_with_its_last_version(
    store: VectorStore, settings: Settings
) -> None:
    queue = RecordingQueue()
    rows = [{"product_id": "x", "title": "First"}, {"product_id": "x", "title": "Second"}]
    result = ingest_rows(rows, store=store, queue=queue, settings=settings)
    assert result.accepted == 1
    assert [i.payload["title"] for i in queue.sent] == ["Second"]


def test_delete_removes_the_product_and_unknown_ids_are_not_found(
    store: VectorStore, settings: Settings, embedder: Embedder
) -> None:
    service = CatalogService(store=store, queue=RecordingQueue(), settings=settings)
    queue = RecordingQueue()
    ingest_rows(ROWS, store=store, queue=queue, settings=settings)
    embedder(queue.sent)
    service.delete("mug")
    assert store.retrieve("products", ["mug"]) == []
    with pytest.raises(NotFoundError, match="product 'mug' not found"):
        service.delete("mug")


def test_post_batches_over_the_limit_are_refused_whole(
    store: VectorStore, settings: Settings
) -> None:
    queue = RecordingQueue()
    service = CatalogService(store=store, queue=queue, settings=settings)
    rows = [{"product_id": str(i), "title": "t"} for i in range(6)]
    with pytest.raises(BatchTooLargeError, match="6 products in one request; at most 5") as exc:
        service.ingest(rows)
    assert (exc.value.limit, exc.value.size, exc.value.field) == (5, 6, "products")
    assert queue.sent == []


def test_schemas_agree_with_the_models(load_event: Callable[[str], dict[str, Any]]) -> None:
    # The embed message schema is the model's own, so the file cannot drift from the code.
    on_disk = json.loads((SCHEMAS / "embed_message.json").read_text())
    generated = EmbedMessage.model_json_schema()
    assert on_disk["properties"] == generated["properties"]
    assert on_disk["$defs"] == generated["$defs"]
    # The sample POST body: rows the schema accepts are the rows validation accepts.
    row_schema = json.loads((SCHEMAS / "catalog_row.json").read_text())
    body = json.loads(load_event("apigw_post_products")["body"])
    verdicts = [jsonschema.Draft202012Validator(row_schema).is_valid(r) for r in body["products"]]
    assert verdicts == [True, True, False]
