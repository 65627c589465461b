"""Vector store: one interface, backends chosen by settings (see ``open_store``)."""

from recsys.store.base import (
    CollectionSpec,
    Filters,
    PointIn,
    Record,
    VectorStore,
    point_id,
    products_spec,
    users_spec,
)

__all__ = [
    "CollectionSpec",
    "Filters",
    "PointIn",
    "Record",
    "VectorStore",
    "point_id",
    "products_spec",
    "users_spec",
]
