"""The local stack's own routes (``/_local/...``) and the OpenAPI document of every route."""

from __future__ import annotations

from typing import Any, Protocol

from recsys import __version__
from recsys.local.gateway import Mount, merged_openapi


class AdminTarget(Protocol):
    """What the admin routes drive (:class:`recsys.local.runtime.LocalRuntime`)."""

    def refresh(self) -> list[dict[str, Any]]: ...
    def is_idle(self) -> bool: ...
    def wait_idle(self, timeout_s: float) -> bool: ...
    def status(self) -> dict[str, Any]: ...


def admin_app(stack: AdminTarget, mounts: list[Mount]) -> Any:
    """The admin routes over ``stack``, with an OpenAPI document merging every mount's."""
    from fastapi import FastAPI, Query
    from fastapi.openapi.utils import get_openapi

    admin = FastAPI(title="recsys (local stack)", version=__version__)

    @admin.post("/_local/refresh", tags=["local"])
    def refresh() -> dict[str, Any]:
        """Run the nightly job now (local only; on AWS it is an EventBridge schedule)."""
        return {"runs": stack.refresh()}

    @admin.get("/_local/status", tags=["local"])
    def status(wait_s: float = Query(default=0.0, ge=0, le=600)) -> dict[str, Any]:
        """Queues, pollers, functions; with wait_s, first wait until the queues are drained."""
        idle = stack.wait_idle(wait_s) if wait_s else stack.is_idle()
        return {"idle": idle, **stack.status()}

    def openapi() -> dict[str, Any]:
        if admin.openapi_schema is None:
            doc = merged_openapi(mounts, title="recsys (local stack)", version=__version__)
            own = get_openapi(title=admin.title, version=admin.version, routes=admin.routes)
            doc["paths"].update(own.get("paths", {}))
            doc["components"]["schemas"].update(own.get("components", {}).get("schemas", {}))
            admin.openapi_schema = doc
        return admin.openapi_schema

    admin.openapi = openapi  # type: ignore[method-assign]
    return admin
