"""Embedding products and writing them to the vector store — idempotent on redelivery.

Point ids derive from the product id and writes are upserts, so a message delivered twice
writes the same point twice. The new payload is merged over the stored one, so fields other
jobs own (``popularity``, ``trending``, …) and the first ``created_at`` survive re-embedding;
a message older than what is stored (``updated_at``) is skipped, so an out-of-order
redelivery cannot roll a product back. (A message still in flight when its product is deleted
writes the product back; DELETE it again, or deactivate with ``is_active: false`` instead.)

Each point gets the vectors its collection declares: "text" from the space's encoder and, when
the products carry a second encoder's (``text__<model>``, :mod:`recsys.store.spaces`), that
one too (:func:`recsys.catalog.encoding.second_vectors_for`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from recsys.catalog.text import product_text
from recsys.core.types import Encoder
from recsys.search.keywords import KEYWORDS, keyword_vector
from recsys.store import ensure_collections
from recsys.store.base import PointIn, VectorStore

if TYPE_CHECKING:
    from recsys.catalog.messages import EmbedItem
    from recsys.core.config import Settings
    from recsys.services import Services

__all__ = [
    "DirectEmbedQueue",
    "Embedder",
    "embed_products",
    "prepare_points",
    "write_points",
]


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


#: A batch's vectors: "text" (one row per point) and any second encoder's, by vector name.
Vectors = Mapping[str, npt.NDArray[np.float32]]


def write_points(
    points: Sequence[PointIn],
    vectors: npt.NDArray[np.float32],
    *,
    store: VectorStore,
    collection: str,
    extra: Vectors | None = None,
    model: str | None = None,
) -> int:
    """Attach ``vectors`` (one row per point) as "text", the ``extra`` named vectors (a second
    encoder's), and the BM25 "keywords" of each product's text, and upsert (``model``: the
    encoder of "text", for the store's space check; None: what the context noted); returns
    the count."""
    extra = extra or {}
    for i, (point, vector) in enumerate(zip(points, vectors, strict=True)):
        point.vectors = {"text": vector, **{name: rows[i] for name, rows in extra.items()}}
        point.sparse = {KEYWORDS: keyword_vector(point.payload, point.key)}
    store.upsert(collection, points, model=model)
    return len(points)


def encode_all(
    texts: Sequence[str],
    *,
    encoder: Encoder,
    store: VectorStore,
    collection: str,
    settings: Settings | None,
) -> tuple[npt.NDArray[np.float32], Vectors]:
    """``texts`` by ``encoder`` ("text") and, with ``settings``, by each second encoder the
    collection declares."""
    from recsys.catalog.encoding import second_vectors_for

    vectors = encoder.encode(texts)
    extra = second_vectors_for(store, collection, texts, settings) if settings else {}
    return vectors, extra


def embed_products(
    products: Sequence[EmbedItem],
    *,
    encoder: Encoder,
    store: VectorStore,
    collection: str = "products",
    settings: Settings | None = None,
) -> int:
    """Encode and upsert ``products`` (with ``settings``, a second encoder's vectors too when
    the collection declares one); returns how many points were written."""
    points, texts = prepare_points(products, store=store, collection=collection)
    if not points:
        return 0
    vectors, extra = encode_all(
        texts, encoder=encoder, store=store, collection=collection, settings=settings
    )
    return write_points(points, vectors, store=store, collection=collection, extra=extra)


class Embedder:
    """An encoder and a store bound together, the store's collections ensured once."""

    def __init__(self, *, encoder: Encoder, store: VectorStore, settings: Settings) -> None:
        self.encoder = encoder
        self.store = store
        self.settings = settings
        self.collection = settings.products_collection
        ensure_collections(store, settings)

    def __call__(self, products: Sequence[EmbedItem]) -> int:
        """Embed and store ``products``; returns how many points were written."""
        points, texts = self.prepare(products)
        return self.write(points, *self.encode(texts)) if points else 0

    def prepare(self, products: Sequence[EmbedItem]) -> tuple[list[PointIn], list[str]]:
        """:func:`prepare_points` on this store."""
        return prepare_points(products, store=self.store, collection=self.collection)

    def encode(self, texts: Sequence[str]) -> tuple[npt.NDArray[np.float32], Vectors]:
        """:func:`encode_all` on this store (the vectors its products collection declares)."""
        return encode_all(
            texts,
            encoder=self.encoder,
            store=self.store,
            collection=self.collection,
            settings=self.settings,
        )

    def write(
        self,
        points: Sequence[PointIn],
        vectors: npt.NDArray[np.float32],
        extra: Vectors | None = None,
    ) -> int:
        """:func:`write_points` on this store."""
        return write_points(
            points, vectors, store=self.store, collection=self.collection, extra=extra
        )

    @classmethod
    def from_services(cls, services: Services) -> Embedder:
        """Over ``services``' store, with the encoder of its space, loaded now (every embed
        needs it)."""
        from recsys.catalog.encoding import SpaceEncoder
        from recsys.encoder import get_encoder

        store = services.store
        encoder = SpaceEncoder(lambda: store, services.settings)
        get_encoder(encoder.current().settings)
        return cls(encoder=encoder, store=store, settings=services.settings)


class DirectEmbedQueue:
    """Embeds in this process, no queue in between: ``embedder`` gets each chunk.

    With ``background=True`` only the encoder runs on a worker thread (ONNX Runtime and the
    tokenizer release the GIL); this thread keeps reading, validating and writing earlier
    chunks meanwhile, at most ``max_pending`` chunks behind. :meth:`flush` writes what is left
    and re-raises the first failure. Writes keep the order chunks were sent in.
    """

    def __init__(
        self, embedder: Embedder, *, background: bool = False, max_pending: int = 2
    ) -> None:
        self._embedder = embedder
        self._max_pending = max_pending
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="encode") if background else None
        self._pending: deque[
            tuple[list[PointIn], Future[tuple[npt.NDArray[np.float32], Vectors]]]
        ] = deque()
        #: Products embedded since creation.
        self.embedded = 0

    def send(self, items: Sequence[EmbedItem]) -> None:
        """Embed ``items`` now, or start encoding them on the worker."""
        if not items:
            return
        if self._pool is None:
            self.embedded += self._embedder(items)
            return
        points, texts = self._embedder.prepare(items)
        if not points:
            return
        while len(self._pending) >= self._max_pending:
            self._write_oldest()
        self._pending.append((points, self._pool.submit(self._embedder.encode, texts)))

    def _write_oldest(self) -> None:
        points, encoded = self._pending.popleft()
        vectors, extra = encoded.result()
        self.embedded += self._embedder.write(points, vectors, extra)

    def flush(self) -> None:
        """Write every chunk still being encoded; re-raise the first failure."""
        while self._pending:
            self._write_oldest()

    def close(self) -> None:
        """Flush, then stop the worker."""
        try:
            self.flush()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
