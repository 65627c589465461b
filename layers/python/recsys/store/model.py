"""The data shapes of the vector store: collections, filters, points in and out.

Keys are the store's own string ids (product_id, user_id); backends derive point ids from them
deterministically (:func:`point_id`) and keep the key in the payload under ``key_field``.
Boolean flags (``FLAG_FIELDS``) are stored as 0/1 integers — qdrant-edge cannot match
booleans — and are returned as ``bool``; callers never see the difference.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from recsys.core.types import Vector

__all__ = [
    "FLAG_FIELDS",
    "CheckedPoint",
    "CollectionSpec",
    "Filters",
    "PointIn",
    "Record",
    "SparseVector",
    "StoredPoint",
    "Vector",
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
    #: The name point ids derive from (:func:`point_id`); empty: ``name``. A collection of an
    #: encoder's space (``products__<model>``) keeps the ids of its logical name (``products``),
    #: so a product has one point id in every space.
    key_space: str = ""
    #: The encoder whose vectors the collection holds (see :mod:`recsys.store.spaces`); None
    #: for a plain collection, whose vectors the store cannot attribute.
    model: str | None = None

    @property
    def id_space(self) -> str:
        """The collection name point ids are derived from."""
        return self.key_space or self.name


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


class StoredPoint(Protocol):
    """What a backend's hooks return for each point (both engines' point types have it)."""

    @property
    def id(self) -> Any: ...
    @property
    def payload(self) -> Mapping[str, Any] | None: ...
    @property
    def vector(self) -> Any: ...


@dataclass(frozen=True)
class CheckedPoint:
    """A point ready to write: its id, checked dense and sparse vectors, encoded payload."""

    id: str
    vectors: dict[str, Vector]
    sparse: dict[str, SparseVector]
    payload: dict[str, Any]
