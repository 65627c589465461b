"""The read side of the API: recommendations ("for you"), buy again, similar items, bought
together, cart, trending, search and health.

"For you" shows what the shopper has not bought unless the store's ``ranking_buy_again`` (or the
request's ``include_bought``) says otherwise; past purchases have their own list, ``buy-again``.
The ``in_stock`` filter means what it says: true only in stock, false only out of stock, absent
any.

Every list reply is ``{"request_id", "strategy", "variant", "degraded", "items": [...]}``: the
storefront sends request_id back in the ``context`` of the list's impressions, clicks and sales,
and the served list (strategy, variant) is logged under it, so they are attributed
(:mod:`recsys.feedback`). Search replies also say ``matched`` (and each item ``match``): false
for the nearest products offered when nothing matched, and for a degraded reply. With
``RECSYS_EXPERIMENT`` each subject — the user, else the session (``user_id`` / ``session_id``
on routes without one in the path) — is served by its variant's recommender, which ranks with
the variant's settings and caches under its own keys.
Replies carry ``Cache-Control`` for the storefront's own caches
(private for per-user lists, public for per-product ones, ``no-store`` when degraded). Each
route asks the app's :class:`~recsys.ranking.cached.CachedRecommender` once: profile read,
server-side cache and degradation live there.

The routes are ``async def`` although the recommender calls the store, the encoder and Redis
synchronously: a Lambda container serves one request at a time, so a hop to FastAPI's worker
thread buys no concurrency and costs a noticeable share of a personalised reply
(docs/BENCHMARKS.md, "recommend"). Locally each function's requests run in its own pool of
"containers", one request per container (:mod:`recsys.local.containers`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.exceptions import RequestValidationError

from recsys.api.bodies import ProductIdPath, UserIdPath
from recsys.api.deps import ServicesDep
from recsys.api.health import check_health
from recsys.api.schemas import CartIn, RecommendationsOut
from recsys.core.ids import new_request_id
from recsys.feedback.experiments import subject_of
from recsys.ranking.cached import CachedRecommender, Served
from recsys.search import FALLBACK, NO_MATCH
from recsys.services import Services
from recsys.store.base import Filters

__all__ = ["router"]

#: Search strategies whose items (if any) are not matches of the query.
NOT_MATCHED = frozenset({NO_MATCH, FALLBACK})

Limit = Annotated[int, Query(ge=1, le=100, description="How many items.")]
UserId = Annotated[
    str | None, Query(max_length=128, description="The shopper (experiment variant, taste).")
]
SessionId = Annotated[
    str | None, Query(max_length=128, description="An anonymous shopper's session.")
]


async def _filters(
    category: str | None = Query(None, description="Category at any level of its path."),
    brand: str | None = None,
    price_min: float | None = Query(None, ge=0),
    price_max: float | None = Query(None, ge=0),
    in_stock: bool | None = Query(
        None, description="true: only products in stock; false: only out of stock; absent: any."
    ),
) -> Filters:
    if price_min is not None and price_max is not None and price_min > price_max:
        # Contradictory filters are the caller's mistake, not an empty (or degraded) list.
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "price_min"),
                    "msg": f"price_min ({price_min:g}) is above price_max ({price_max:g})",
                    "input": price_min,
                }
            ]
        )
    return Filters(
        categories=[category] if category else None,
        brands=[brand] if brand else None,
        price_min=price_min,
        price_max=price_max,
        in_stock=in_stock,
    )


FiltersDep = Annotated[Filters, Depends(_filters)]


def _variant(
    services: Services, user_id: str | None, session_id: str | None = None
) -> tuple[str, str | None, CachedRecommender]:
    """The subject's variant, the subject, and the recommender that serves the variant."""
    subject = subject_of(user_id, session_id)
    variant = services.feedback.variant(user_id, session_id)
    return variant, subject, services.recommender_for(variant)


def _response(
    served: Served,
    *,
    services: Services,
    endpoint: str,
    variant: str,
    subject: str | None,
    matched: bool | None = None,
) -> Response:
    # Serialised here and returned as a Response, so FastAPI skips re-validating it against
    # RecommendationsOut (kept on the routes for the OpenAPI schema): the items were built from
    # typed payloads already, and validation was most of a cache hit's cost.
    request_id = new_request_id()
    scope = "private" if served.private else "public"
    body = {
        "request_id": request_id,
        "strategy": served.strategy,
        "variant": variant,
        "degraded": served.degraded,
    }
    if matched is not None:
        body["matched"] = matched
    body["items"] = served.items
    services.feedback.served(
        request_id=request_id,
        endpoint=endpoint,
        strategy=served.strategy,
        variant=variant,
        subject=subject,
        items=len(served.items),
        cold=served.cold,
        cache_state=served.cache_state,
        problems=served.problems,
    )
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
    user_id: UserIdPath,
    services: ServicesDep,
    filters: FiltersDep,
    limit: Limit = 10,
    diversity: Annotated[
        float | None,
        Query(ge=0, le=1, description="MMR trade-off: 0 relevance only, 1 most varied."),
    ] = None,
    include_bought: Annotated[
        bool | None,
        Query(
            description="Offer past purchases too (true) or never (false); absent: the store's "
            "ranking_buy_again setting (default false: they are in /buy-again)."
        ),
    ] = None,
) -> Response:
    """Personalised list ("for you"); new users and outages get trending / popular."""
    variant, subject, rec = _variant(services, user_id)
    served = rec.for_user(
        user_id,
        limit=limit,
        filters=filters,
        diversity=diversity,
        include_bought=include_bought,
    )
    return _response(served, services=services, endpoint="user", variant=variant, subject=subject)


@router.get("/users/{user_id}/buy-again", response_model=RecommendationsOut)
async def buy_again(
    user_id: UserIdPath,
    services: ServicesDep,
    filters: FiltersDep,
    limit: Limit = 10,
) -> Response:
    """The shopper's past purchases, the likeliest to be bought again first (how often and how
    lately they bought each, and how often its buyers re-buy it); empty for a shopper who
    bought nothing yet."""
    variant, subject, rec = _variant(services, user_id)
    served = rec.buy_again(user_id, limit=limit, filters=filters)
    return _response(
        served, services=services, endpoint="buy_again", variant=variant, subject=subject
    )


@router.get("/products/{product_id}/similar", response_model=RecommendationsOut)
async def similar_products(
    product_id: ProductIdPath,
    services: ServicesDep,
    filters: FiltersDep,
    limit: Limit = 10,
    user_id: UserId = None,
    session_id: SessionId = None,
) -> Response:
    """Products whose embedding is nearest to this one's."""
    variant, subject, rec = _variant(services, user_id, session_id)
    served = rec.similar(product_id, limit=limit, filters=filters)
    return _response(
        served, services=services, endpoint="similar", variant=variant, subject=subject
    )


@router.get("/products/{product_id}/bought-together", response_model=RecommendationsOut)
async def bought_together(
    product_id: ProductIdPath,
    services: ServicesDep,
    limit: Limit = 10,
    user_id: UserId = None,
    session_id: SessionId = None,
) -> Response:
    """Frequently bought together; complementary similar items when support is thin."""
    variant, subject, rec = _variant(services, user_id, session_id)
    served = rec.bought_together(product_id, limit=limit)
    return _response(
        served, services=services, endpoint="together", variant=variant, subject=subject
    )


@router.post("/recommendations/cart", response_model=RecommendationsOut)
async def cart_recommendations(body: CartIn, services: ServicesDep) -> Response:
    """Complements of the products in a cart, leaning to the user's taste when known."""
    variant, subject, rec = _variant(services, body.user_id, body.session_id)
    served = rec.cart(body.product_ids, user_id=body.user_id, limit=body.limit)
    return _response(served, services=services, endpoint="cart", variant=variant, subject=subject)


@router.get("/trending", response_model=RecommendationsOut)
async def trending(
    services: ServicesDep,
    limit: Limit = 10,
    category: str | None = None,
    user_id: UserId = None,
    session_id: SessionId = None,
) -> Response:
    """Products selling above their usual pace (popular ones when few trend)."""
    variant, subject, rec = _variant(services, user_id, session_id)
    served = rec.trending(limit=limit, category=category)
    return _response(
        served, services=services, endpoint="trending", variant=variant, subject=subject
    )


@router.get("/search", response_model=RecommendationsOut)
async def search(
    services: ServicesDep,
    filters: FiltersDep,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    user_id: UserId = None,
    limit: Limit = 10,
    session_id: SessionId = None,
) -> Response:
    """Search over product texts (meaning in the shopper's language, exact words and codes),
    leaning 30 % towards the user's long-term taste.

    ``matched`` says whether the items match the query; each item's ``match`` says the same.
    When nothing matches, the items are the nearest products (strategy ``search:fallback``:
    show them as "no exact match — you might mean"), or none (``search:no-match``). A degraded
    reply (search unavailable: popular products) is not a match either."""
    variant, subject, rec = _variant(services, user_id, session_id)
    served = rec.search(q, user_id=user_id, limit=limit, filters=filters)
    matched = served.strategy.startswith("search") and served.strategy not in NOT_MATCHED
    items = [{**item, "match": matched} for item in served.items]
    return _response(
        replace(served, items=items),
        services=services,
        endpoint="search",
        variant=variant,
        subject=subject,
        matched=matched,
    )


@router.get("/health")
async def health(services: ServicesDep) -> dict[str, Any]:
    """Liveness plus each dependency's state: vector store, event log, queues, cache
    (:mod:`recsys.api.health`); any one down makes the status ``degraded``, still 200."""
    return check_health(services)
