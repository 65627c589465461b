"""Request and reply bodies of the HTTP API, named by role (``…In`` / ``…Out``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from recsys.api.bodies import PRODUCTS_EXAMPLE, product_schema

__all__ = [
    "CartIn",
    "DeletedOut",
    "ErasedOut",
    "EventsIn",
    "EventsOut",
    "IngestOut",
    "ItemOut",
    "ProductsIn",
    "RecommendationsOut",
    "RejectedEvent",
    "RejectedRow",
]


# --- catalog ---------------------------------------------------------------------------------


class ProductsIn(BaseModel):
    """Body of POST /products: rows are validated one by one, so each stays a free object."""

    model_config = ConfigDict(json_schema_extra={"example": PRODUCTS_EXAMPLE})

    # Items stay Any: a row that is not an object is rejected alone, not the whole request.
    # The document still shows what a row is (recsys.api.bodies).
    products: list[Any] = Field(
        description="Catalog rows; each is validated on its own (bad rows are listed in "
        "`rejected` with index, field and reason).",
        json_schema_extra={"items": product_schema()},
    )


class RejectedRow(BaseModel):
    """A row that was not accepted."""

    index: int
    field: str
    reason: str
    product_id: str | None = None


class IngestOut(BaseModel):
    """Reply of POST /products."""

    accepted: int = Field(description="Queued for (re-)embedding.")
    unchanged: int = Field(description="Embedding text unchanged: payload updated in place.")
    rejected: list[RejectedRow]


class DeletedOut(BaseModel):
    """Reply of DELETE /products/{product_id}."""

    product_id: str
    deleted: bool = True


# --- events ----------------------------------------------------------------------------------


class EventsIn(BaseModel):
    """Body of POST /events: each event is validated on its own, so each stays a free value."""

    events: list[Any]


class RejectedEvent(BaseModel):
    """An event that was not accepted."""

    index: int
    field: str | None
    reason: str


class EventsOut(BaseModel):
    """Reply of POST /events."""

    accepted: int = Field(description="Newly logged.")
    duplicates: int = Field(description="Already logged (same event_id): ignored.")
    rejected: list[RejectedEvent]


class ErasedOut(BaseModel):
    """Reply of DELETE /users/{user_id}."""

    user_id: str
    events_deleted: int
    profile_deleted: bool


# --- recommendations -------------------------------------------------------------------------


class ItemOut(BaseModel):
    """One recommended product."""

    product_id: str
    score: float
    reason: str
    title: str | None = None
    category: str | None = None
    price: float | None = None
    currency: str | None = None
    brand: str | None = None
    in_stock: bool | None = None
    image_url: str | None = None
    match: bool | None = Field(
        default=None,
        description="Search only: whether the product matches the query (false: one of the "
        "nearest products offered when nothing matched).",
    )


class RecommendationsOut(BaseModel):
    """Every list reply."""

    request_id: str = Field(description="Send it back as context.request_id on its events.")
    strategy: str
    variant: str = Field(description='The experiment variant that served it ("default": none).')
    degraded: bool
    matched: bool | None = Field(
        default=None,
        description="Search only: false when nothing matched the query — the items are then "
        'the nearest products, to show as "no exact match" (strategy search:fallback), or none '
        "(search:no-match).",
    )
    items: list[ItemOut]


class CartIn(BaseModel):
    """Body of POST /recommendations/cart."""

    product_ids: list[str] = Field(min_length=1, max_length=100)
    user_id: str | None = None
    session_id: str | None = Field(
        default=None, description="An anonymous shopper (assigns the experiment variant)."
    )
    limit: int = Field(default=10, ge=1, le=100)
