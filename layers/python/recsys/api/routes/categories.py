"""GET /categories: the catalog's category paths, every level, with how many products each holds.

Counted by the store (a facet over the indexed ``category_levels``: exact counts, no scan of the
products here) over active products. Each path can be passed back as the ``category`` filter of
any list route, and so can any level's name or word, case aside ("kitchen").
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from recsys.api.deps import ServicesDep
from recsys.catalog.categories import SEPARATOR
from recsys.store.base import Filters

__all__ = ["CategoriesOut", "CategoryOut", "router"]


class CategoryOut(BaseModel):
    """One category path: ``"Home > Kitchen"``, its depth (2) and its active products."""

    path: str
    name: str
    depth: int
    count: int


class CategoriesOut(BaseModel):
    """Every category path, sorted by path (a parent before its children)."""

    categories: list[CategoryOut]


router = APIRouter(tags=["catalog"])


@router.get("/categories", response_model=CategoriesOut)
async def categories(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Category paths (every prefix of every product's path) with their product counts."""
    store = services.store
    found = store.facet(
        services.settings.products_collection,
        "category_levels",
        limit=limit,
        filters=Filters(is_active=True),
    )
    rows = [
        {
            "path": str(path),
            "name": str(path).rsplit(SEPARATOR, 1)[-1],
            "depth": str(path).count(SEPARATOR) + 1,
            "count": count,
        }
        for path, count in found
    ]
    return {"categories": sorted(rows, key=lambda r: r["path"].split(SEPARATOR))}
