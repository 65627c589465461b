"""The local stack's landing page and API docs load nothing from outside the stack."""

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from recsys.local.docs import ASSETS, mount_docs


def _client() -> TestClient:
    app = FastAPI(title="t", docs_url=None, redoc_url=None)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    mount_docs(app, title="recsys")
    return TestClient(app)


def test_docs_pages_use_only_assets_the_stack_serves() -> None:
    client = _client()
    for page in ("/docs", "/redoc"):
        # GIVEN the docs page
        html = client.get(page).text
        # THEN every script, stylesheet and icon it loads is a path on this server
        urls = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)["\']', html)
        assert urls, page
        assert all(u.startswith(ASSETS) for u in urls), (page, urls)
        # AND each of those assets is there, non-trivially sized
        for url in urls:
            reply = client.get(url)
            assert reply.status_code == 200, url
            assert len(reply.content) > 1000, url
        # AND the page points the viewer at the stack's own OpenAPI document
        assert "/openapi.json" in html


def test_landing_page_links_docs_shop_and_dashboard() -> None:
    reply = _client().get("/")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    links = set(re.findall(r'href="([^"]+)"', reply.text))
    assert {"/docs", "/redoc", "/shop/", "/dashboard/", "/health"} <= links
