"""Catalog ingest: validate rows, skip re-embedding what did not change, queue the rest.

Rows stream through in chunks of ``settings.ingest_chunk_size``: each chunk is validated, the
stored ``content_hash`` of its products is read in one ``retrieve``, products whose embedding
text is unchanged get a payload-only update (price, stock, flags…) and the others go to the
embed queue. Nothing is held beyond one chunk, so a file of any size streams through.

Entry points: :func:`ingest_rows` (the core) and :class:`CatalogService` (what the ingest Lambda
and the HTTP routes use: POST rows, DELETE a product, S3 uploads); ``recsys ingest FILE`` is
:mod:`recsys.cli.ingest`.

DELETE removes the point from the store (the product is gone; recommendations cannot return
it). To hide a product temporarily, POST it with ``is_active: false`` instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from recsys.catalog.messages import EmbedItem, EmbedQueue
from recsys.catalog.readers import detect_format, iter_s3_body
from recsys.catalog.schema import NumberedRow, Product, Rejection, iter_validated
from recsys.core.errors import BatchTooLargeError, NotFoundError
from recsys.store import ensure_collections
from recsys.store.base import VectorStore

if TYPE_CHECKING:
    from recsys.core.config import Settings

__all__ = [
    "CatalogService",
    "IngestResult",
    "delete_product",
    "ingest_numbered",
    "ingest_rows",
    "is_s3_event",
]

#: Where rejected rows of an S3 upload are written (outside the ingested prefix).
REJECTS_PREFIX = "rejects/"


@dataclass
class IngestResult:
    """What happened to the rows: sent for embedding, payload-only updates, rejected."""

    accepted: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def merge(self, other: IngestResult) -> None:
        """Add ``other``'s counts and rejections to this one."""
        self.accepted += other.accepted
        self.unchanged += other.unchanged
        self.rejected.extend(other.rejected)

    def as_dict(
        self, *, position: str = "index", max_rejected: int | None = None
    ) -> dict[str, Any]:
        """The HTTP reply shape: ``{accepted, unchanged, rejected: [{index, field, reason}]}``."""
        shown = self.rejected if max_rejected is None else self.rejected[:max_rejected]
        return {
            "accepted": self.accepted,
            "unchanged": self.unchanged,
            "rejected": [r.as_dict(position=position) for r in shown],
        }


def _chunks(items: Iterable[Product | Rejection], size: int) -> Iterator[list[Product | Rejection]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _ingest_chunk(
    chunk: Sequence[Product | Rejection], *, store: VectorStore, queue: EmbedQueue, collection: str
) -> IngestResult:
    result = IngestResult()
    latest: dict[str, Product] = {}
    for out in chunk:
        if isinstance(out, Rejection):
            result.rejected.append(out)
        else:
            # A product listed twice in one chunk: the later row wins, counted once.
            latest.pop(out.product_id, None)
            latest[out.product_id] = out
    if not latest:
        return result
    stored = {
        r.key: r.payload.get("content_hash") for r in store.retrieve(collection, list(latest))
    }
    to_embed: list[EmbedItem] = []
    for key, product in latest.items():
        if stored.get(key) == product.content_hash:
            store.set_payload(collection, key, product.payload)
            result.unchanged += 1
        else:
            # Built from a validated Product: skip re-validating the payload dict.
            to_embed.append(EmbedItem.built(key, product.payload, product.text))
    queue.send(to_embed)
    result.accepted += len(to_embed)
    return result


def ingest_numbered(
    rows: Iterable[NumberedRow],
    *,
    store: VectorStore,
    queue: EmbedQueue,
    settings: Settings,
    progress: Callable[[int], None] | None = None,
) -> IngestResult:
    """Ingest rows that carry their own position (file line or list index)."""
    result = IngestResult()
    collection = settings.products_collection
    for chunk in _chunks(iter_validated(rows), settings.ingest_chunk_size):
        result.merge(_ingest_chunk(chunk, store=store, queue=queue, collection=collection))
        if progress is not None:
            progress(len(chunk))
    queue.flush()
    return result


def ingest_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    store: VectorStore,
    queue: EmbedQueue,
    settings: Settings,
) -> IngestResult:
    """Validate ``rows``, update unchanged products in place, queue the rest for embedding.

    Rejections carry each row's 0-based position in ``rows``.
    """
    return ingest_numbered(enumerate(rows), store=store, queue=queue, settings=settings)


def delete_product(product_id: str, *, store: VectorStore, settings: Settings) -> None:
    """Remove a product from the store; NotFoundError when it is not there."""
    collection = settings.products_collection
    if not store.retrieve(collection, [product_id]):
        raise NotFoundError(f"product {product_id!r} not found")
    store.delete(collection, [product_id])


# --- the service the ingest Lambda and the HTTP routes share ------------------------------------


def is_s3_event(event: Mapping[str, Any]) -> bool:
    """True for an S3 notification event (``Records`` carrying ``s3``)."""
    records = event.get("Records")
    return isinstance(records, list) and bool(records) and all("s3" in r for r in records)


class CatalogService:
    """Ingest and delete against one store and one embed queue."""

    def __init__(
        self, *, store: VectorStore, queue: EmbedQueue, settings: Settings, s3: Any = None
    ) -> None:
        self.store = store
        self.queue = queue
        self.settings = settings
        self.s3 = s3
        ensure_collections(store, settings)

    def ingest(self, rows: Sequence[Mapping[str, Any]]) -> IngestResult:
        """Ingest a list of rows (POST /products); more than ``max_post_products`` is refused."""
        limit = self.settings.max_post_products
        if len(rows) > limit:
            raise BatchTooLargeError(
                f"{len(rows)} products in one request; at most {limit} are accepted — split "
                "the batch, or upload a file to the catalog bucket for bulk loads",
                limit=limit,
                size=len(rows),
            )
        return ingest_rows(rows, store=self.store, queue=self.queue, settings=self.settings)

    def delete(self, product_id: str) -> None:
        """Remove a product (DELETE /products/{product_id})."""
        delete_product(product_id, store=self.store, settings=self.settings)

    def ingest_s3_object(self, bucket: str, key: str) -> dict[str, Any]:
        """Stream one uploaded object through ingest; rejected rows go to ``rejects/{key}``."""
        s3 = self._s3_client()
        prefix = self.settings.catalog_upload_prefix
        if not key.startswith(prefix):
            return {"bucket": bucket, "key": key, "skipped": f"outside {prefix!r}"}
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        fmt = detect_format(key)
        result = ingest_numbered(
            iter_s3_body(body, key=key, fmt=fmt),
            store=self.store,
            queue=self.queue,
            settings=self.settings,
        )
        reply: dict[str, Any] = {"bucket": bucket, "key": key, **result.as_dict(position="row")}
        if result.rejected:
            rejects_key = f"{REJECTS_PREFIX}{key}.jsonl"
            lines = "".join(json.dumps(r.as_dict(position="row")) + "\n" for r in result.rejected)
            s3.put_object(Bucket=bucket, Key=rejects_key, Body=lines.encode("utf-8"))
            reply["rejects_key"] = rejects_key
            reply["rejected"] = reply["rejected"][:20]
        reply["rejected_count"] = len(result.rejected)
        return reply

    def _s3_client(self) -> Any:
        """The S3 client, made at the first upload: containers serving only HTTP never need it."""
        if self.s3 is None:
            from recsys.core import aws

            self.s3 = aws.client("s3", self.settings)
        return self.s3

    def handle_s3_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Ingest every object of an S3 ObjectCreated notification."""
        files = []
        for record in event["Records"]:
            s3 = record["s3"]
            # Keys arrive URL-encoded in notifications ("my+file.csv" for "my file.csv").
            key = unquote_plus(s3["object"]["key"])
            files.append(self.ingest_s3_object(s3["bucket"]["name"], key))
        return {"files": files}
