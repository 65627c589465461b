"""Ingest Lambda: POST /products, DELETE /products/{product_id} and S3 catalog uploads.

HTTP events go through the FastAPI router (Mangum); S3 ObjectCreated events stream the object
through ingest. The store and queue are built once, at cold start; the S3 client at the
first upload.
"""

from typing import Any

from mangum import Mangum

from recsys.api.app import build_app
from recsys.api.routes import products
from recsys.catalog.ingest import is_s3_event
from recsys.core.observability import instrument
from recsys.services import Services

services = Services()
catalog = services.catalog
app = build_app(products.router, services=services, title="recsys-ingest")
http_handler = Mangum(app, lifespan="off")


@instrument  # metrics (EMF), Lambda context and correlation id in logs, tracing
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    if is_s3_event(event):
        return catalog.handle_s3_event(event)
    return http_handler(event, context)
