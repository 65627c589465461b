"""POST /products and DELETE /products/{product_id} — the catalog's HTTP side.

POST validates and routes rows (see :mod:`recsys.catalog.ingest`) and answers 202: embedding
happens asynchronously behind the embed queue. Bad rows are listed, never fatal; a batch over
``max_post_products`` is refused whole with 413 (so is a body over ``products_max_body_bytes``,
by the request guard). Both are writes: ``RECSYS_API_KEY`` guards them (:mod:`recsys.api.deps`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from recsys.api.bodies import ProductIdPath
from recsys.api.deps import ApiKeyDep, ServicesDep
from recsys.api.schemas import DeletedOut, IngestOut, ProductsIn
from recsys.core.errors import BatchTooLargeError

__all__ = ["router"]

router = APIRouter(prefix="/products", tags=["products"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestOut,
    responses={
        401: {"description": "RECSYS_API_KEY is set and X-Api-Key is missing or wrong."},
        413: {"description": "More products or bytes than one request may carry."},
        415: {"description": "The body is not application/json."},
    },
    dependencies=[ApiKeyDep],
)
def post_products(body: ProductsIn, services: ServicesDep) -> Any:
    """Upsert products; changed ones are embedded asynchronously."""
    try:
        result = services.catalog.ingest(body.products)
    except BatchTooLargeError as exc:
        return JSONResponse(
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
            content={"detail": [{"field": exc.field, "reason": exc.reason, "limit": exc.limit}]},
        )
    return result.as_dict()


@router.delete(
    "/{product_id}",
    response_model=DeletedOut,
    responses={401: {"description": "RECSYS_API_KEY is set and X-Api-Key is missing or wrong."}},
    dependencies=[ApiKeyDep],
)
def delete_product(product_id: ProductIdPath, services: ServicesDep) -> DeletedOut:
    """Remove a product from the store (404 when unknown)."""
    services.catalog.delete(product_id)
    return DeletedOut(product_id=product_id)
