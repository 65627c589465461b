"""The API docs render in a real headless Chromium with the network closed: Swagger UI lists
the operations (grouped by resource) and ReDoc renders them, from assets the server serves
itself. Screenshots go to docs/ with RECSYS_UPDATE_SCREENSHOTS=1 (else the test's tmp dir)."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cdp import CHROMIUM, Page

from recsys.local.moto import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Every route's router in one app, with the local stack's docs pages, under uvicorn."""
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    import uvicorn
    from fastapi import FastAPI

    from recsys.api.routes import events, products, recommend, stats
    from recsys.core.config import Settings
    from recsys.local.docs import mount_docs
    from recsys.services import Services

    app = FastAPI(title="recsys", docs_url=None, redoc_url=None)
    app.state.services = Services(Settings(data_dir=tmp_path_factory.mktemp("docs")))
    for module in (products, events, recommend, stats):
        app.include_router(module.router)
    mount_docs(app, title="recsys")
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def page() -> Iterator[Page]:
    p = Page(width=1280, height=900)
    try:
        yield p
    finally:
        p.close()


def _shot(name: str, tmp_path: Path) -> Path:
    folder = ROOT / "docs" if os.environ.get("RECSYS_UPDATE_SCREENSHOTS") == "1" else tmp_path
    return folder / name


def test_swagger_ui_renders_every_operation_offline(
    server: str, page: Page, tmp_path: Path
) -> None:
    # GIVEN the docs page of a server that serves its own assets
    page.goto(f"{server}/docs")
    # WHEN Swagger UI has rendered the OpenAPI document
    count = page.wait("document.querySelectorAll('.opblock').length", timeout_s=60)
    # THEN every operation of the document is on the page, under its resource's tag
    spec = page.js("fetch('/openapi.json').then(r => r.json())")
    operations = sum(len(ops) for ops in spec["paths"].values())
    assert count == operations and operations >= 10
    tags = page.js(
        "[...document.querySelectorAll('.opblock-tag')].map(e => e.dataset.tag || e.textContent)"
    )
    assert len(tags) >= 4
    assert page.errors == []
    page.screenshot(_shot("api-docs.png", tmp_path), full_page=False)


def test_redoc_renders_the_reference_offline(server: str, page: Page, tmp_path: Path) -> None:
    page.goto(f"{server}/redoc")
    # ReDoc renders one heading per operation in its side menu
    items = page.wait(
        "document.querySelectorAll('[role=menuitem], li[data-item-id]').length", timeout_s=60
    )
    assert items >= 10
    text = page.js("document.body.innerText")
    assert "/events" in text or "events" in text.lower()
    assert page.errors == []
