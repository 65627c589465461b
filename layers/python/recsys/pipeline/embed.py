"""Embedding products and writing them to the vector store — idempotent on redelivery.

Point ids derive from the product id and writes are upserts, so a message delivered twice
writes the same point twice. The new payload is merged over the stored one, so fields other
jobs own (``popularity``, ``trending``, …) and the first ``created_at`` survive re-embedding;
a message older than what is stored (``updated_at``) is skipped, so an out-of-order
redelivery cannot roll a product back. (A message still in flight when its product is deleted
writes the product back; DELETE it again, or deactivate with ``is_active: false`` instead.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from recsys.store.base import PointIn, VectorStore, products_spec
from recsys.text import product_text

if TYPE_CHECKING:
    from recsys.config import Settings
    from recsys.pipeline.queue import EmbedItem

__all__ = ["Embedder", "TextEncoderLike", "embed_products", "prepare_points", "write_points"]


class TextEncoderLike(Protocol):
    """What embedding needs of an encoder (``recsys.encoder.TextEncoder`` fits)."""

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """``(len(texts), dim)`` unit-length float32 rows."""
        ...


def prepare_points(
    products: Sequence[EmbedItem], *, store: VectorStore, collection: str
) -> tuple[list[PointIn], list[str]]:
    """Points to write (payload merged over the stored one, vectors still empty) and their
    texts; products older than what is stored are left out."""
    latest: dict[str, EmbedItem] = {}
    for item in products:  # a product repeated in one batch: the last version wins
        latest[item.product_id] = item
    stored = {r.key: r.payload for r in store.retrieve(collection, list(latest))}
    points: list[PointIn] = []
    texts: list[str] = []
    for key, item in latest.items():
        old = stored.get(key, {})
        new_at, old_at = item.payload.get("updated_at"), old.get("updated_at")
        if isinstance(new_at, str) and isinstance(old_at, str) and old_at > new_at:
            continue
        payload = {**old, **item.payload}
        payload.setdefault("created_at", payload.get("updated_at"))
        points.append(PointIn(key=key, vectors={}, payload=payload))
        # Every embedded field is in the new payload (None when absent), so the merge cannot
        # change the text: one built at ingest can be used as is.
        texts.append(item.text if item.text is not None else product_text(payload))
    return points, texts


def write_points(
    points: Sequence[PointIn],
    vectors: npt.NDArray[np.float32],
    *,
    store: VectorStore,
    collection: str,
) -> int:
    """Attach ``vectors`` (one row per point) as "text" and upsert; returns the count."""
    for point, vector in zip(points, vectors, strict=True):
        point.vectors = {"text": vector}
    store.upsert(collection, points)
    return len(points)


def embed_products(
    products: Sequence[EmbedItem],
    *,
    encoder: TextEncoderLike,
    store: VectorStore,
    collection: str = "products",
) -> int:
    """Encode and upsert ``products``; returns how many points were written."""
    points, texts = prepare_points(products, store=store, collection=collection)
    if not points:
        return 0
    return write_points(points, encoder.encode(texts), store=store, collection=collection)


class Embedder:
    """An encoder and a store bound together, the products collection ensured once."""

    def __init__(self, *, encoder: TextEncoderLike, store: VectorStore, settings: Settings) -> None:
        self.encoder = encoder
        self.store = store
        self.collection = settings.products_collection
        store.ensure_collection(products_spec(settings.products_collection, settings.vector_size))

    def __call__(self, products: Sequence[EmbedItem]) -> int:
        """Embed and store ``products``; returns how many points were written."""
        return embed_products(
            products, encoder=self.encoder, store=self.store, collection=self.collection
        )

    def prepare(self, products: Sequence[EmbedItem]) -> tuple[list[PointIn], list[str]]:
        """:func:`prepare_points` on this store."""
        return prepare_points(products, store=self.store, collection=self.collection)

    def write(self, points: Sequence[PointIn], vectors: npt.NDArray[np.float32]) -> int:
        """:func:`write_points` on this store."""
        return write_points(points, vectors, store=self.store, collection=self.collection)

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        """The process-wide encoder and store for ``settings``."""
        from recsys.encoder import get_encoder
        from recsys.store import get_store

        return cls(encoder=get_encoder(settings), store=get_store(settings), settings=settings)
