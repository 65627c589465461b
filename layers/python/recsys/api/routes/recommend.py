"""The read side of the API: recommendations, similar items, bought together, cart, trending,
search and health.

Every list reply is ``{"request_id", "strategy", "degraded", "items": [...]}``: request_id and
strategy let the storefront send impressions and clicks back with them (an event's ``context``)
so they can be attributed. Replies carry ``Cache-Control`` for the storefront's own caches
(private for per-user lists, public for per-product ones, ``no-store`` when degraded) and are
cached server-side under keys that include the user's ``profile_version``.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from recsys.cache import Cache, cache_key, make_cache
from recsys.core.config import Settings, get_settings
from recsys.ranking.service import Recommender, Reply
from recsys.ranking.types import Scored
from recsys.store.base import Filters

__all__ = [
    "ItemOut",
    "RecommendContext",
    "RecommendationsOut",
    "get_context",
    "load_context",
    "router",
    "set_context",
]

#: Payload fields copied into each item of a reply.
ITEM_FIELDS = ("title", "category", "price", "currency", "brand", "in_stock", "image_url")


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


class RecommendationsOut(BaseModel):
    """Every list reply."""

    request_id: str
    strategy: str
    degraded: bool
    items: list[ItemOut]


class CartIn(BaseModel):
    """Body of POST /recommendations/cart."""

    product_ids: list[str] = Field(min_length=1, max_length=100)
    user_id: str | None = None
    limit: int = Field(default=10, ge=1, le=100)


class RecommendContext:
    """The recommender and the reply cache of this process."""

    def __init__(self, *, settings: Settings, recommender: Recommender, cache: Cache) -> None:
        self.settings = settings
        self.recommender = recommender
        self.cache = cache


def build_context(settings: Settings) -> RecommendContext:
    """Wire the production dependencies (store, aggregates in S3, encoder, cache)."""
    from recsys.aggregates.compute import load_aggregates
    from recsys.encoder import get_encoder
    from recsys.store import get_store

    recommender = Recommender(
        settings=settings,
        store=lambda: get_store(settings),
        aggregates=lambda: load_aggregates(settings),
        encoder=lambda: get_encoder(settings),
    )
    return RecommendContext(settings=settings, recommender=recommender, cache=make_cache(settings))


_context: RecommendContext | None = None
_lock = threading.Lock()


def load_context() -> RecommendContext:
    """The process-wide context, built on first call (the handler calls it at cold start)."""
    global _context
    with _lock:
        if _context is None:
            _context = build_context(get_settings())
        return _context


async def get_context() -> RecommendContext:
    """The context as a dependency (tests override it).

    Async because it never blocks once built: FastAPI runs sync dependencies in a worker
    thread, a hand-off that costs more than the lookup itself.
    """
    return load_context()


def set_context(ctx: RecommendContext | None) -> None:
    """Install (or clear) the process-wide context, e.g. a benchmark's own wiring.

    Preferred over ``app.dependency_overrides`` on hot paths: with any override present,
    FastAPI re-analyses every sub-dependency on every request (≈ 1 ms here).
    """
    global _context
    with _lock:
        _context = ctx


ContextDep = Annotated[RecommendContext, Depends(get_context)]
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


def _item(s: Scored) -> dict[str, Any]:
    out: dict[str, Any] = {"product_id": s.product_id, "score": s.score, "reason": s.reason}
    for name in ITEM_FIELDS:
        value = s.payload.get(name)
        if value is not None:
            out[name] = value
    return out


def _reply(
    reply_items: list[dict[str, Any]],
    *,
    strategy: str,
    degraded: bool,
    max_age: int,
    private: bool,
    cache_state: str,
) -> Response:
    # The reply is serialised here and returned as a Response, so FastAPI skips re-validating
    # it against RecommendationsOut (kept on the routes for the OpenAPI schema): the items were
    # built from typed payloads already, and validation was most of a cache hit's cost.
    request_id = uuid.uuid4().hex
    scope = "private" if private else "public"
    body = {"request_id": request_id, "strategy": strategy, "degraded": degraded}
    body["items"] = reply_items
    return Response(
        content=json.dumps(body, separators=(",", ":"), allow_nan=False),
        media_type="application/json",
        headers={
            "X-Request-ID": request_id,
            "X-Cache": cache_state,
            "Cache-Control": (
                "no-store" if degraded or max_age <= 0 else f"{scope}, max-age={max_age}"
            ),
        },
    )


def _cached(
    ctx: RecommendContext,
    *,
    key: str | None,
    ttl: int,
    private: bool,
    compute: Callable[[], Reply],
) -> Response:
    """Serve from the cache, or compute, store (unless degraded) and serve."""
    if key is not None and ttl > 0:
        hit = ctx.cache.get(key)
        if isinstance(hit, dict):
            return _reply(
                hit["items"],
                strategy=hit["strategy"],
                degraded=False,
                max_age=ttl,
                private=private,
                cache_state="hit",
            )
    reply = compute()
    items = [_item(s) for s in reply.items]
    if key is not None and ttl > 0 and not reply.degraded:
        ctx.cache.set(key, {"strategy": reply.strategy, "items": items}, ttl_s=ttl)
    return _reply(
        items,
        strategy=reply.strategy,
        degraded=reply.degraded,
        max_age=ttl,
        private=private,
        cache_state="miss",
    )


def _params(filters: Filters, **extra: Any) -> dict[str, Any]:
    return {
        "categories": filters.categories,
        "brands": filters.brands,
        "price_min": filters.price_min,
        "price_max": filters.price_max,
        "in_stock": filters.in_stock,
        **extra,
    }


# The routes are ``async def`` although they call the store, the encoder and Redis
# synchronously: a Lambda container serves one request at a time, so a hop to FastAPI's worker
# thread buys no concurrency, and it cost ≈ 3 ms of a ≈ 10 ms personalised reply here
# (bench/recommend.py). Locally the read routes share uvicorn's loop, one at a time.
router = APIRouter(tags=["recommendations"])


@router.get("/users/{user_id}/recommendations", response_model=RecommendationsOut)
async def recommend_for_user(
    user_id: str,
    ctx: ContextDep,
    filters: FiltersDep,
    limit: Limit = 10,
    diversity: Annotated[float | None, Query(ge=0, le=1)] = None,
) -> Response:
    """Personalised list ("for you"); new users and outages get trending / popular."""
    rec = ctx.recommender
    problems: list[str] = []
    record = rec.profile(user_id, problems)
    key = None
    if not problems:
        version = record.payload.get("profile_version", 0) if record else "none"
        key = cache_key(
            ctx.settings.cache_prefix,
            "user",
            subject=user_id,
            version=version,
            params=_params(filters, limit=limit, diversity=diversity),
        )

    def compute() -> Reply:
        if problems:
            reply = rec.for_user(user_id, limit=limit, filters=filters, diversity=diversity)
            reply.degraded = True
            return reply
        return rec.for_user(
            user_id, limit=limit, filters=filters, diversity=diversity, record=record
        )

    return _cached(
        ctx,
        key=key,
        ttl=ctx.settings.cache_ttl_recommend_s,
        private=True,
        compute=compute,
    )


@router.get("/products/{product_id}/similar", response_model=RecommendationsOut)
async def similar_products(
    product_id: str,
    ctx: ContextDep,
    filters: FiltersDep,
    limit: Limit = 10,
) -> Response:
    """Products whose embedding is nearest to this one's."""
    key = cache_key(
        ctx.settings.cache_prefix,
        "similar",
        subject=product_id,
        params=_params(filters, limit=limit),
    )
    return _cached(
        ctx,
        key=key,
        ttl=ctx.settings.cache_ttl_similar_s,
        private=False,
        compute=lambda: ctx.recommender.similar(product_id, limit=limit, filters=filters),
    )


@router.get("/products/{product_id}/bought-together", response_model=RecommendationsOut)
async def bought_together(product_id: str, ctx: ContextDep, limit: Limit = 10) -> Response:
    """Frequently bought together; complementary similar items when support is thin."""
    key = cache_key(
        ctx.settings.cache_prefix, "together", subject=product_id, params={"limit": limit}
    )
    return _cached(
        ctx,
        key=key,
        ttl=ctx.settings.cache_ttl_similar_s,
        private=False,
        compute=lambda: ctx.recommender.bought_together(product_id, limit=limit),
    )


@router.post("/recommendations/cart", response_model=RecommendationsOut)
async def cart_recommendations(body: CartIn, ctx: ContextDep) -> Response:
    """Complements of the products in a cart, leaning to the user's taste when known."""
    return _cached(
        ctx,
        key=None,
        ttl=0,
        private=True,
        compute=lambda: ctx.recommender.cart(
            body.product_ids, user_id=body.user_id, limit=body.limit
        ),
    )


@router.get("/trending", response_model=RecommendationsOut)
async def trending(
    ctx: ContextDep,
    limit: Limit = 10,
    category: str | None = None,
) -> Response:
    """Products selling above their usual pace (popular ones when few trend)."""
    key = cache_key(
        ctx.settings.cache_prefix,
        "trending",
        subject=category or "*",
        params={"limit": limit},
    )
    return _cached(
        ctx,
        key=key,
        ttl=ctx.settings.cache_ttl_trending_s,
        private=False,
        compute=lambda: ctx.recommender.trending(limit=limit, category=category),
    )


@router.get("/search", response_model=RecommendationsOut)
async def search(
    ctx: ContextDep,
    filters: FiltersDep,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    user_id: str | None = None,
    limit: Limit = 10,
) -> Response:
    """Semantic search over product texts, blended 70/30 with the user's long-term taste."""
    rec = ctx.recommender
    key = None
    if user_id is None:
        key = cache_key(
            ctx.settings.cache_prefix,
            "search",
            subject="*",
            params=_params(filters, q=q.strip().lower(), limit=limit),
        )
    return _cached(
        ctx,
        key=key,
        ttl=ctx.settings.cache_ttl_search_s,
        private=user_id is not None,
        compute=lambda: rec.search(q, user_id=user_id, limit=limit, filters=filters),
    )


@router.get("/health")
async def health(ctx: ContextDep) -> dict[str, Any]:
    """Liveness plus what each dependency says (a failing one does not fail the check)."""
    rec = ctx.recommender
    status: dict[str, Any] = {"status": "ok", "cache": ctx.cache.backend}
    try:
        status["products"] = rec.store().count(ctx.settings.products_collection)
    except Exception as exc:
        status["status"] = "degraded"
        status["store_error"] = str(exc)[:200]
    return status
