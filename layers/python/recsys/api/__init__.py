"""HTTP API: FastAPI routers shared by the Lambda handlers (via Mangum) and the local server."""

from recsys.api.app import build_app

__all__ = ["build_app"]
