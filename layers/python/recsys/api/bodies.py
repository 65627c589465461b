"""What the OpenAPI document says about request bodies and ids, with examples.

Bodies are validated one record at a time (a bad event or row is rejected alone), so the
request models keep each record a free value — which on its own would publish ``{}`` as the
schema of an event or a catalog row, and leave clients and fuzzers nothing to go by. Here the
per-record schemas (:class:`~recsys.events.models.EventIn`,
:class:`~recsys.catalog.schema.ProductIn`) are put into the document, with examples, and the id
alphabet (:mod:`recsys.core.ids`) is declared on every path parameter.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from recsys.catalog.schema import ProductIn
from recsys.core.ids import ID_MAX_LENGTH, ID_PATTERN, ID_RULE
from recsys.events.models import EventIn

__all__ = [
    "EVENTS_EXAMPLE",
    "PRODUCTS_EXAMPLE",
    "ProductIdPath",
    "UserIdPath",
    "event_schema",
    "events_request_body",
    "product_schema",
]

EVENTS_EXAMPLE: dict[str, Any] = {
    "events": [
        {
            "event_id": "e-1001",
            "user_id": "u-42",
            "type": "view",
            "product_id": "85123A",
            "timestamp": "2026-11-30T10:15:00Z",
            "context": {"page": "home", "request_id": "3f1c9b0e", "position": 1},
        },
        {"session_id": "s-9f2", "type": "search", "query": "christmas lights"},
        {
            "user_id": "u-42",
            "type": "purchase",
            "product_id": "85123A",
            "order_id": "o-77",
            "quantity": 2,
            "price": 2.55,
        },
    ]
}

PRODUCTS_EXAMPLE: dict[str, Any] = {
    "products": [
        {
            "product_id": "85123A",
            "title": "White hanging heart T-light holder",
            "description": "Cream metal heart with a hook, for a tea light.",
            "category": "Home > Candles & Holders",
            "brand": "Regency",
            "price": 2.55,
            "currency": "GBP",
            "in_stock": True,
            "tags": ["heart", "candle"],
        }
    ]
}


def event_schema() -> dict[str, Any]:
    """JSON Schema of one event (as validated per event)."""
    return EventIn.model_json_schema()


def product_schema() -> dict[str, Any]:
    """JSON Schema of one catalog row (unknown columns are kept: additional properties)."""
    return ProductIn.model_json_schema()


def events_request_body(*, max_events: int) -> dict[str, Any]:
    """``openapi_extra`` of POST /events, which reads its body itself (size first)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["events"],
                        "additionalProperties": False,
                        "properties": {
                            "events": {
                                "type": "array",
                                "maxItems": max_events,
                                "items": event_schema(),
                                "description": "Each event is validated on its own: bad ones "
                                "are listed in `rejected` with index, field and reason.",
                            }
                        },
                    },
                    "example": EVENTS_EXAMPLE,
                }
            },
        }
    }


_ID_DOC = f"{ID_RULE}."
ProductIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=ID_MAX_LENGTH,
        pattern=ID_PATTERN,
        description=_ID_DOC,
        examples=["85123A"],
    ),
]
UserIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=ID_MAX_LENGTH,
        pattern=ID_PATTERN,
        description=_ID_DOC,
        examples=["u-42"],
    ),
]
