"""Dependencies shared by the routers.

``ServicesDep`` / ``RecommenderDep``: the app's :class:`~recsys.services.Services` (built once
per process by the handler file and kept in ``app.state.services`` by ``build_app``) and the
read API's recommender on it. Async, so FastAPI never hops to a worker thread for them.

Everything a route uses comes from the app's :class:`~recsys.services.Services`
(``app.state.services``, set by :func:`recsys.api.app.build_app`) through the aliases here:
``ServicesDep``, ``SettingsDep``, ``RecommenderDep``. They are ``async``: a sync dependency
costs a worker-thread hop per request, more than the look-up itself.

``require_api_key`` is THE check of ``RECSYS_API_KEY``: every route that writes, erases or
administers declares ``dependencies=[ApiKeyDep]`` (or ``_: ApiKeyAuth``) and nothing else
compares keys. With the setting empty every route is open (a laptop, or AWS, where the HTTP
API's JWT authorizer guards these routes instead); with it set, a request without the header
``X-Api-Key: <key>`` — or with another key — gets 401. Reads never depend on it.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from recsys.core.config import Settings, get_settings
from recsys.ranking.cached import CachedRecommender
from recsys.services import Services

__all__ = [
    "API_KEY_HEADER",
    "ApiKeyAuth",
    "ApiKeyDep",
    "RecommenderDep",
    "ServicesDep",
    "SettingsDep",
    "get_services",
    "require_api_key",
]

API_KEY_HEADER = "X-Api-Key"

# auto_error=False: the scheme is declared in the OpenAPI (so clients and fuzzers know the
# header) but the decision — open when no key is configured — is ours.
_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    scheme_name="ApiKey",
    description="Required on writes, erasure and admin routes when RECSYS_API_KEY is set.",
)


async def require_api_key(
    presented: Annotated[str | None, Security(_api_key_header)] = None,
) -> None:
    """401 unless ``X-Api-Key`` equals ``RECSYS_API_KEY`` (no-op when the setting is empty).

    Async: it never blocks, and a sync dependency would cost a worker-thread hop per request.
    The comparison takes the same time whatever the presented key shares with the real one.
    """
    configured = get_settings().api_key
    if configured is None or not configured.get_secret_value():
        return
    expected = configured.get_secret_value().encode()
    if presented is None or not hmac.compare_digest(presented.encode(), expected):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail=[{"field": API_KEY_HEADER, "reason": f"missing or wrong {API_KEY_HEADER}"}],
            headers={"WWW-Authenticate": API_KEY_HEADER},
        )


#: For ``dependencies=[ApiKeyDep]`` on a route or a router.
ApiKeyDep = Depends(require_api_key)
#: For a route parameter: ``_: ApiKeyAuth``.
ApiKeyAuth = Annotated[None, Depends(require_api_key)]


async def get_services(request: Request) -> Services:
    """The app's composition root (tests build the app over their own)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_app_settings(services: ServicesDep) -> Settings:
    """The settings the app was built with."""
    return services.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_recommender(request: Request) -> CachedRecommender:
    """The read API's recommender (one look-up: the hot path's only dependency)."""
    services: Services = request.app.state.services
    return services.recommender


RecommenderDep = Annotated[CachedRecommender, Depends(get_recommender)]
