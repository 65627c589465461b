"""The read side of the API: recommendations, similar items, bought together, cart, trending,
search and health.

Every list reply is ``{"request_id", "strategy", "degraded", "items": [...]}``: request_id and
strategy let the storefront send impressions and clicks back with them (an event's ``context``)
so they can be attributed. Replies carry ``Cache-Control`` for the storefront's own caches
(private for per-user lists, public for per-product ones, ``no-store`` when degraded). Each
route asks the app's :class:`~recsys.ranking.cached.CachedRecommender` once: profile read,
server-side cache and degradation live there.

The routes are ``async def`` although the recommender calls the store, the encoder and Redis
synchronously: a Lambda container serves one request at a time, so a hop to FastAPI's worker
thread buys no concurrency and costs a noticeable share of a personalised reply
(docs/BENCHMARKS.md, "recommend"). Locally the read routes share uvicorn's loop, one at a time.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from recsys.api.deps import RecommenderDep
from recsys.api.schemas import CartIn, RecommendationsOut
from recsys.ranking.cached import Served
from recsys.store.base import Filters

__all__ = ["router"]

Limit = Annotated[int, Query(ge=1, le=100, description="How many items.")]


async def _filters(
    category: str | None = Query(None, description="Category at any level of its path."),
    brand: str | None = None,
    price_min: float | None = Query(None, ge=0),
    price_max: float | None = Query(None, ge=0),
    in_stock: bool = Query(True, description="Only products in stock (false: any)."),
) -> Filters:
    return Filters(
        categories=[category] if category else None,
        brands=[brand] if brand else None,
        price_min=price_min,
        price_max=price_max,
        in_stock=True if in_stock else None,
    )


FiltersDep = Annotated[Filters, Depends(_filters)]


def _response(served: Served) -> Response:
    # Serialised here and returned as a Response, so FastAPI skips re-validating it against
    # RecommendationsOut (kept on the routes for the OpenAPI schema): the items were built from
    # typed payloads already, and validation was most of a cache hit's cost.
    request_id = uuid.uuid4().hex
    scope = "private" if served.private else "public"
    body = {"request_id": request_id, "strategy": served.strategy, "degraded": served.degraded}
    body["items"] = served.items
    no_store = served.degraded or served.max_age <= 0
    return Response(
        content=json.dumps(body, separators=(",", ":"), allow_nan=False),
        media_type="application/json",
        headers={
            "X-Request-ID": request_id,
            "X-Cache": served.cache_state,
            "Cache-Control": "no-store" if no_store else f"{scope}, max-age={served.max_age}",
        },
    )


router = APIRouter(tags=["recommendations"])


@router.get("/users/{user_id}/recommendations", response_model=RecommendationsOut)
async def recommend_for_user(
    user_id: str,
    rec: RecommenderDep,
    filters: FiltersDep,
    limit: Limit = 10,
    diversity: Annotated[float | None, Query(ge=0, le=1)] = None,
) -> Response:
    """Personalised list ("for you"); new users and outages get trending / popular."""
    return _response(rec.for_user(user_id, limit=limit, filters=filters, diversity=diversity))


@router.get("/products/{product_id}/similar", response_model=RecommendationsOut)
async def similar_products(
    product_id: str, rec: RecommenderDep, filters: FiltersDep, limit: Limit = 10
) -> Response:
    """Products whose embedding is nearest to this one's."""
    return _response(rec.similar(product_id, limit=limit, filters=filters))


@router.get("/products/{product_id}/bought-together", response_model=RecommendationsOut)
async def bought_together(product_id: str, rec: RecommenderDep, limit: Limit = 10) -> Response:
    """Frequently bought together; complementary similar items when support is thin."""
    return _response(rec.bought_together(product_id, limit=limit))


@router.post("/recommendations/cart", response_model=RecommendationsOut)
async def cart_recommendations(body: CartIn, rec: RecommenderDep) -> Response:
    """Complements of the products in a cart, leaning to the user's taste when known."""
    return _response(rec.cart(body.product_ids, user_id=body.user_id, limit=body.limit))


@router.get("/trending", response_model=RecommendationsOut)
async def trending(rec: RecommenderDep, limit: Limit = 10, category: str | None = None) -> Response:
    """Products selling above their usual pace (popular ones when few trend)."""
    return _response(rec.trending(limit=limit, category=category))


@router.get("/search", response_model=RecommendationsOut)
async def search(
    rec: RecommenderDep,
    filters: FiltersDep,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    user_id: str | None = None,
    limit: Limit = 10,
) -> Response:
    """Semantic search over product texts, blended 70/30 with the user's long-term taste."""
    return _response(rec.search(q, user_id=user_id, limit=limit, filters=filters))


@router.get("/health")
async def health(rec: RecommenderDep) -> dict[str, Any]:
    """Liveness plus what each dependency says (a failing one does not fail the check)."""
    return rec.health()
