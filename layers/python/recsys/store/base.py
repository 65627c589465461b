"""The vector-store contract every backend honours (qdrant-client, qdrant-edge).

Keys are the store's own string ids (product_id, user_id); backends derive point ids from them
deterministically and keep the key in the payload under ``key_field``. Boolean flags
(``FLAG_FIELDS``) are stored as 0/1 integers — qdrant-edge cannot match booleans — and are
returned as ``bool``; callers never see the difference.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from recsys.core.types import Vector

__all__ = [
    "FLAG_FIELDS",
    "CollectionSpec",
    "Filters",
    "PointIn",
    "Record",
    "SparseVector",
    "Vector",
    "VectorStore",
    "point_id",
    "products_spec",
    "users_spec",
]

#: Namespace for deterministic point ids: uuid5(NAMESPACE, f"{collection}:{key}").
POINT_NAMESPACE = uuid.UUID("6f1c2e0a-8d1b-4b7e-9a53-5f0b1c9e7d42")

#: Payload flags stored as 0/1 integers.
FLAG_FIELDS = ("in_stock", "is_active")


@lru_cache(maxsize=65_536)
def point_id(collection: str, key: str) -> str:
    """The deterministic point id (a UUID string) of ``key`` in ``collection``.

    Cached: a personalised request maps about a hundred keys, and uuid5 is SHA-1 plus parsing.
    """
    return str(uuid.uuid5(POINT_NAMESPACE, f"{collection}:{key}"))


@dataclass(frozen=True)
class SparseVector:
    """A sparse vector: distinct indices and their weights (BM25 term weights for "keywords")."""

    indices: list[int]
    values: list[float]


@dataclass(frozen=True)
class CollectionSpec:
    """A collection: its named dense vectors (name → size, cosine), key field and indexes.

    ``sparse_vectors`` are scored by dot product with the store's IDF modifier on (BM25 when the
    weights are BM25 term weights, see :mod:`recsys.search.keywords`). A collection created
    before it had them opens without them (:meth:`VectorStore.has_sparse` says so).
    """

    name: str
    vectors: Mapping[str, int]
    key_field: str
    sparse_vectors: Sequence[str] = ()
    keyword_indexes: Sequence[str] = ()
    float_indexes: Sequence[str] = ()
    integer_indexes: Sequence[str] = ()
    datetime_indexes: Sequence[str] = ()
    quantize: bool = True


def products_spec(name: str = "products", size: int = 384) -> CollectionSpec:
    """`products`: one point per product, vector "text"."""
    return CollectionSpec(
        name=name,
        vectors={"text": size},
        key_field="product_id",
        sparse_vectors=("keywords",),
        keyword_indexes=(
            "product_id",
            "category",
            "category_levels",
            "category_keys",
            "brand",
            "brand_key",
        ),
        float_indexes=("price", "popularity", "trending"),
        integer_indexes=FLAG_FIELDS,
        datetime_indexes=("created_at", "updated_at"),
    )


def users_spec(name: str = "users", size: int = 384) -> CollectionSpec:
    """`users`: one point per user or anonymous session; long- and short-term vectors."""
    return CollectionSpec(
        name=name,
        vectors={"long": size, "short": size},
        key_field="user_id",
        keyword_indexes=("user_id", "kind"),
        datetime_indexes=("last_event_at",),
        quantize=False,
    )


@dataclass(frozen=True)
class Filters:
    """Conditions on product payloads; ``None`` means "no condition".

    ``categories`` matches a product whose category path has any of them at any level, case
    aside: a prefix ("home > kitchen"), a level's name ("Kitchen") or a word of one ("kitchen"
    selects "Kitchen & Dining"); payload ``category_keys`` holds them case-folded, and products
    written before it existed match on ``category_levels`` (every prefix, exact case).
    ``brands`` matches the brand case aside (payload ``brand_key``; ``brand`` for older ones).
    """

    categories: Sequence[str] | None = None
    brands: Sequence[str] | None = None
    price_min: float | None = None
    price_max: float | None = None
    in_stock: bool | None = None
    is_active: bool | None = True
    exclude_keys: Sequence[str] = ()


@dataclass
class PointIn:
    """A point to write: its key, named vectors and payload."""

    key: str
    vectors: Mapping[str, Vector]
    payload: dict[str, Any] = field(default_factory=dict)
    #: Named sparse vectors (only those the collection declares).
    sparse: Mapping[str, SparseVector] = field(default_factory=dict)


@dataclass
class Record:
    """A point read back: key, payload, named vectors (when asked) and score (for searches)."""

    key: str
    payload: dict[str, Any]
    vectors: dict[str, Vector] = field(default_factory=dict)
    score: float = 0.0


class VectorStore:
    """Operations the system needs. Backends override every method."""

    def ensure_collection(self, spec: CollectionSpec) -> None:
        """Create the collection and its payload indexes if absent (idempotent)."""
        raise NotImplementedError

    def upsert(self, collection: str, points: Sequence[PointIn]) -> None:
        """Insert or replace points (vectors and payload) in one batch."""
        raise NotImplementedError

    def set_payload(self, collection: str, key: str, payload: Mapping[str, Any]) -> None:
        """Merge ``payload`` into an existing point's payload; vectors untouched."""
        raise NotImplementedError

    def delete(self, collection: str, keys: Sequence[str]) -> None:
        """Delete points by key; unknown keys are ignored."""
        raise NotImplementedError

    def retrieve(
        self, collection: str, keys: Sequence[str], *, with_vectors: bool = False
    ) -> list[Record]:
        """Points by key, in the order asked; unknown keys are left out."""
        raise NotImplementedError

    def search(
        self,
        collection: str,
        vector: Vector,
        *,
        using: str,
        limit: int,
        filters: Filters | None = None,
        with_vectors: bool = False,
    ) -> list[Record]:
        """Top-``limit`` by cosine similarity of the named vector ``using``, filtered."""
        raise NotImplementedError

    def recommend(
        self,
        collection: str,
        *,
        positive: Sequence[str],
        negative: Sequence[str] = (),
        using: str,
        limit: int,
        filters: Filters | None = None,
    ) -> list[Record]:
        """Nearest to the examples (positive keys, away from negative ones); examples excluded."""
        raise NotImplementedError

    def has_sparse(self, collection: str, name: str) -> bool:
        """Whether the open collection holds the sparse vector ``name``."""
        raise NotImplementedError

    def search_sparse(
        self,
        collection: str,
        vector: SparseVector,
        *,
        using: str,
        limit: int,
        filters: Filters | None = None,
    ) -> list[Record]:
        """Top-``limit`` by Σ idf · weight over the indices ``vector`` shares with each point
        (points sharing none are not returned), filtered."""
        raise NotImplementedError

    def search_sparse_batch(
        self, collection: str, vectors: Sequence[SparseVector], *, using: str, limit: int
    ) -> list[list[Record]]:
        """:meth:`search_sparse` for several vectors at once, unfiltered (one round trip)."""
        raise NotImplementedError

    def facet(
        self, collection: str, key: str, *, limit: int, filters: Filters | None = None
    ) -> list[tuple[Any, int]]:
        """The most frequent values of the keyword-indexed payload field ``key`` and how many
        matching points have each, most frequent first (exact counts)."""
        raise NotImplementedError

    def count(self, collection: str, filters: Filters | None = None) -> int:
        """Exact number of points matching ``filters``."""
        raise NotImplementedError

    def scroll(
        self,
        collection: str,
        *,
        filters: Filters | None = None,
        batch_size: int = 256,
        with_vectors: bool = False,
    ) -> Iterator[Record]:
        """Every matching point, in batches, without loading the collection at once."""
        raise NotImplementedError

    def optimize(self) -> None:
        """Build search indexes now (HNSW in qdrant-edge); a no-op where the server does it."""

    def close(self) -> None:
        """Flush and release files or connections."""
