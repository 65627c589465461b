"""POST /products and DELETE /products/{product_id} — the catalog's HTTP side.

POST validates and routes rows (see :mod:`recsys.catalog.ingest`) and answers 202: embedding
happens asynchronously behind the embed queue. Bad rows are listed, never fatal; a batch over
``max_post_products`` is refused whole with 413.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from recsys.catalog.ingest import BatchTooLargeError, CatalogService, get_catalog_service

__all__ = ["CatalogDep", "ProductsIn", "catalog_service", "router"]


def catalog_service() -> CatalogService:
    """The process-wide catalog service (tests override this dependency)."""
    return get_catalog_service()


CatalogDep = Annotated[CatalogService, Depends(catalog_service)]


class ProductsIn(BaseModel):
    """Body of POST /products: rows are validated one by one, so each stays a free object."""

    # Items stay Any: a row that is not an object is rejected alone, not the whole request.
    products: list[Any] = Field(description="Catalog rows (see the catalog_row schema).")


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


router = APIRouter(prefix="/products", tags=["products"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestOut,
    responses={413: {"description": "More products than max_post_products in one request."}},
)
def post_products(body: ProductsIn, service: CatalogDep) -> Any:
    """Upsert products; changed ones are embedded asynchronously."""
    try:
        result = service.ingest(body.products)
    except BatchTooLargeError as exc:
        return JSONResponse(
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
            content={"detail": [{"field": exc.field, "reason": exc.reason, "limit": exc.limit}]},
        )
    return result.as_dict()


@router.delete("/{product_id}", response_model=DeletedOut)
def delete_product(product_id: str, service: CatalogDep) -> DeletedOut:
    """Remove a product from the store (404 when unknown)."""
    service.delete(product_id)
    return DeletedOut(product_id=product_id)
