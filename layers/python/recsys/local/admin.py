"""The local stack's own routes (``/_local/...``) and the OpenAPI document of every route.

The admin routes are not part of the API: they are left out of the OpenAPI document (which
describes exactly the template's routes) and, with ``RECSYS_API_KEY`` set, need the key like
every write. POST /_local/refresh takes ``application/json`` (an empty ``{}`` will do), so a
page on another origin cannot trigger it.
"""

from __future__ import annotations

from typing import Any, Protocol

from recsys import __version__
from recsys.local.docs import mount_docs
from recsys.local.gateway import Mount, merged_openapi
from recsys.local.web import mount_web


class AdminTarget(Protocol):
    """What the admin routes drive (:class:`recsys.local.runtime.LocalRuntime`)."""

    def refresh(self) -> list[dict[str, Any]]: ...
    def is_idle(self) -> bool: ...
    def wait_idle(self, timeout_s: float) -> bool: ...
    def status(self) -> dict[str, Any]: ...


def admin_app(stack: AdminTarget, mounts: list[Mount]) -> Any:
    """The admin routes over ``stack``, with an OpenAPI document merging every mount's."""
    from fastapi import FastAPI, Query

    from recsys.api.deps import ApiKeyDep

    # FastAPI's own /docs and /redoc load their assets from a CDN: the stack serves its own.
    admin = FastAPI(
        title="recsys (local stack)", version=__version__, docs_url=None, redoc_url=None
    )

    @admin.post(
        "/_local/refresh", tags=["local"], include_in_schema=False, dependencies=[ApiKeyDep]
    )
    def refresh() -> dict[str, Any]:
        """Run the nightly job now (local only; on AWS it is an EventBridge schedule)."""
        return {"runs": stack.refresh()}

    @admin.get("/_local/status", tags=["local"], include_in_schema=False, dependencies=[ApiKeyDep])
    def status(wait_s: float = Query(default=0.0, ge=0, le=600)) -> dict[str, Any]:
        """Queues, pollers, functions; with wait_s, first wait until the queues are drained."""
        idle = stack.wait_idle(wait_s) if wait_s else stack.is_idle()
        return {"idle": idle, **stack.status()}

    def openapi() -> dict[str, Any]:
        if admin.openapi_schema is None:
            doc = merged_openapi(mounts, title="recsys (local stack)", version=__version__)
            admin.openapi_schema = doc
        return admin.openapi_schema

    admin.openapi = openapi  # type: ignore[method-assign]
    # The landing page (/), the API docs, the demo shop (/shop/), the operator dashboard
    # (/dashboard/) and the metrics they plot.
    mount_docs(admin, title="recsys")
    mount_web(admin, status=stack.status, dependencies=[ApiKeyDep])
    return admin
