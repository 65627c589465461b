"""The local stack's front door: a landing page at ``/`` and the API docs (Swagger UI at
``/docs``, ReDoc at ``/redoc``) rendered from assets served by the stack itself — the
``fastapi-offline`` package ships them — so the pages work with no network at all.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

__all__ = ["ASSETS", "mount_docs"]

#: Where the local pages' own files live (the landing page among them).
WEB_DIR = Path(__file__).resolve().parent / "web"
#: URL prefix of the Swagger UI / ReDoc assets.
ASSETS = "/_static/docs"


def _assets_dir() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def mount_docs(app: FastAPI, *, title: str, openapi_url: str = "/openapi.json") -> None:
    """Add ``/``, ``/docs``, ``/redoc`` and the assets to ``app`` (built with
    ``docs_url=None, redoc_url=None`` so FastAPI's CDN-loading pages are not there)."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.responses import FileResponse, HTMLResponse
    from fastapi.staticfiles import StaticFiles

    app.mount(ASSETS, StaticFiles(directory=_assets_dir()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} — API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} — API reference",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    @app.get("/", include_in_schema=False)
    def landing() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")
