"""Embedding products and writing them to the vector store — idempotent on redelivery.

Point ids derive from the product id and writes are upserts, so a message delivered twice
writes the same point twice. The new payload is merged over the stored one, so fields other
jobs own (``popularity``, ``trending``, …) and the first ``created_at`` survive re-embedding;
a message older than what is stored (``updated_at``) is skipped, so an out-of-order
redelivery cannot roll a product back. (A message still in flight when its product is deleted
writes the product back; DELETE it again, or deactivate with ``is_active: false`` instead.)

Each point gets the vectors its collection declares: "text" from the space's encoder and, when
the products carry a second encoder's (``text__<model>``, :mod:`recsys.store.spaces`), that
one too (:func:`recsys.catalog.encoding.second_vectors_for`). Products written where that
model was not installed lack it; :func:`fill_second_vectors` (the nightly job) adds it.
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
    "fill_second_vectors",
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
    points: Sequence[PointIn],
    texts: Sequence[str],
    *,
    encoder: Encoder,
    store: VectorStore,
    collection: str,
    settings: Settings | None,
) -> tuple[npt.NDArray[np.float32], Vectors]:
    """``texts`` (the points' product texts) by ``encoder`` ("text") and, with ``settings``,
    the points by each second encoder the collection declares, over the text its vector
    embeds."""
    from recsys.catalog.encoding import second_vectors_for

    vectors = encoder.encode(texts)
    payloads = [p.payload for p in points]
    extra = (
        second_vectors_for(store, collection, payloads, settings, texts=texts) if settings else {}
    )
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
        points, texts, encoder=encoder, store=store, collection=collection, settings=settings
    )
    return write_points(points, vectors, store=store, collection=collection, extra=extra)


def fill_second_vectors(
    store: VectorStore, settings: Settings, *, collection: str | None = None, batch_size: int = 256
) -> int:
    """Give the products of ``collection`` (default: the products) that lack a second
    encoder's vector their collection declares — written where its model was not installed —
    that vector, for each model installed here; returns how many products got one.

    Each product is read again just before it is written (its payload and vectors as stored
    then; "text" copied, the keywords recomputed from the same text), so an update that landed
    since the scan is kept, not rolled back."""
    from recsys.catalog.encoding import second_vectors_for
    from recsys.store.spaces import declared_second, installed, space_model

    collection = collection or settings.products_collection
    names = [
        name
        for name, space in declared_second(store, collection).items()
        if installed(space_model(space)) is not None
    ]
    if not names:
        return 0
    lacking = [
        r.key
        for r in store.scroll(collection, batch_size=batch_size, with_vectors=True)
        if any(name not in r.vectors for name in names)
    ]
    filled = 0
    for start in range(0, len(lacking), batch_size):
        records = store.retrieve(collection, lacking[start : start + batch_size], with_vectors=True)
        points = [
            PointIn(key=r.key, vectors=dict(r.vectors), payload=dict(r.payload))
            for r in records
            if "text" in r.vectors and any(name not in r.vectors for name in names)
        ]
        if not points:
            continue
        for name in names:
            todo = [p for p in points if name not in p.vectors]
            if not todo:
                continue
            got = second_vectors_for(
                store, collection, [p.payload for p in todo], settings, only=[name]
            )
            for point, row in zip(todo, got[name], strict=True):
                point.vectors = {**point.vectors, name: row}
        for point in points:
            point.sparse = {KEYWORDS: keyword_vector(point.payload, point.key)}
        # "text" is the stored one, of the model the read just noted.
        store.upsert(collection, points)
        filled += len(points)
    return filled


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
        return self.write(points, *self.encode(points, texts)) if points else 0

    def prepare(self, products: Sequence[EmbedItem]) -> tuple[list[PointIn], list[str]]:
        """:func:`prepare_points` on this store."""
        return prepare_points(products, store=self.store, collection=self.collection)

    def encode(
        self, points: Sequence[PointIn], texts: Sequence[str]
    ) -> tuple[npt.NDArray[np.float32], Vectors]:
        """:func:`encode_all` on this store (the vectors its products collection declares)."""
        return encode_all(
            points,
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
        self._pending.append((points, self._pool.submit(self._embedder.encode, points, texts)))

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
