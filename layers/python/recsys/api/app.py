"""Build a FastAPI app from routers over one :class:`~recsys.services.Services`: each Lambda
mounts its own routers, the local stack mounts every function's app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from recsys import __version__
from recsys.api.guards import BodyGuard, body_limit
from recsys.api.observe import RequestMetrics
from recsys.core.errors import NotFoundError, ValidationError
from recsys.services import Services


def build_app(*routers: APIRouter, services: Services, title: str = "recsys") -> FastAPI:
    """A FastAPI app serving ``routers`` with the package's error mapping; routes read
    ``services`` from ``app.state`` (:mod:`recsys.api.deps`)."""
    app = FastAPI(title=title, version=__version__)
    app.state.services = services
    # Body caps (413 with the limit) and JSON-only writes (415) before any route reads a byte.
    app.add_middleware(BodyGuard, limit_for=body_limit)
    # Latency and status per route template, for every function (recsys.core.observability).
    app.add_middleware(RequestMetrics)
    for router in routers:
        app.include_router(router)

    @app.exception_handler(NotFoundError)
    async def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(ValidationError)
    async def _invalid(_: Request, exc: ValidationError) -> JSONResponse:
        detail = {"field": exc.field, "row": exc.row, "reason": exc.reason}
        return JSONResponse(status_code=422, content={"detail": [detail]})

    return app
