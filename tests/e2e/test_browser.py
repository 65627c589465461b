"""The demo shop and the operator dashboard in a real headless Chromium (Debian's package,
driven over the DevTools protocol: tests/e2e/cdp.py), against `recsys up` with an experiment.

The shop must show recommendation lists, a real mouse click on one of their items must come
back as an attributed click in GET /stats (strategy and variant of that list), and the
dashboard must draw its plots. With RECSYS_UPDATE_SCREENSHOTS=1 the screenshots are written
to docs/ (shop.png, dashboard.png); otherwise into the test's tmp dir.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cdp import CHROMIUM, Page
from retail_table import ONLINE_RETAIL as RETAIL
from retail_table import online_retail_catalog

from recsys.local.moto import free_port

# Loading a small shop through the queues takes minutes on a busy two-core machine.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = {
    "name": "diversity-demo",
    "variants": {"a": {"share": 0.5}, "b": {"share": 0.5, "ranking_diversity": 0.6}},
}
#: The shop's default demo customers (local/web/shop/shop.js), the busiest of the last week.
CUSTOMERS = ("14096", "17841", "13521", "14911", "12748")


def _history(days: float = 21.0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A small shop: the demo customers' last weeks and the catalog of what anyone bought then."""
    from recsys.datasets.retail_events import read_retail_events

    events = list(read_retail_events(RETAIL))
    end = max(e["timestamp"] for e in events)
    recent = [e for e in events if e["timestamp"] >= end - days * 86400]
    mine = [e for e in recent if e.get("user_id") in CUSTOMERS]
    others = [e for e in recent if e.get("user_id") not in CUSTOMERS][:1500]
    keep = {e["product_id"] for e in mine + others}
    catalog = [p for p in online_retail_catalog() if p["product_id"] in keep]
    return catalog, mine + others


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    if not RETAIL.is_file():
        pytest.skip(f"Online Retail data not found at {RETAIL}")
    tmp = tmp_path_factory.mktemp("browser")
    port = free_port()
    env = {
        **os.environ,
        "RECSYS_DATA_DIR": str(tmp / "data"),
        "RECSYS_LOCAL_REFRESH_INTERVAL_S": "0",
        "RECSYS_REDIS_URL": "",
        "RECSYS_EXPERIMENT": json.dumps(EXPERIMENT),
    }
    env.pop("RECSYS_AWS_ENDPOINT_URL", None)
    env.pop("RECSYS_API_KEY", None)
    log = (tmp / "stack.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "recsys.cli", "up", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"recsys up exited: {(tmp / 'stack.log').read_text()[-3000:]}")
            try:
                if http.get("/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("recsys up did not answer GET /health within 180 s")
            time.sleep(0.5)
        catalog, events = _history()
        for i in range(0, len(catalog), 500):
            assert (
                http.post("/products", json={"products": catalog[i : i + 500]}).status_code == 202
            )
        http.get("/_local/status", params={"wait_s": 300})
        for i in range(0, len(events), 500):
            assert http.post("/events", json={"events": events[i : i + 500]}).status_code == 202
        http.get("/_local/status", params={"wait_s": 300})
        try:  # popularity and co-purchase for the fallbacks and "bought together"
            http.post("/_local/refresh", json={})
        except httpx.HTTPError as exc:
            print(f"nightly job failed ({exc}); the shop falls back to catalog order")
        http.get("/_local/status", params={"wait_s": 300})
        yield http
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def page() -> Iterator[Page]:
    p = Page(width=1360, height=900)
    try:
        yield p
    finally:
        p.close()


def _base(http: httpx.Client) -> str:
    return str(http.base_url).rstrip("/")


def _shots() -> Path | None:
    return ROOT / "docs" if os.environ.get("RECSYS_UPDATE_SCREENSHOTS") == "1" else None


def _stats(http: httpx.Client) -> dict[str, Any]:
    reply = http.get("/stats", params={"days": 1})
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def test_the_shop_shows_recommendations_and_a_click_is_attributed_in_stats(
    stack: httpx.Client, page: Page, tmp_path: Path
) -> None:
    http = stack
    before = _stats(http)
    # GIVEN a logged-in demo customer on the shop's home page
    page.goto(f"{_base(http)}/shop/")
    page.wait("document.body.dataset.ready === '1'")
    page.js(f"localStorage.setItem('recsys.user', '{CUSTOMERS[1]}'); true")
    page.goto(f"{_base(http)}/shop/")
    page.wait(
        "document.body.dataset.ready === '1' && document.querySelectorAll('.card').length > 5"
    )
    lists = page.js(
        "[...document.querySelectorAll('section.list')].map(s => ({strategy: s.dataset.strategy,"
        " variant: s.dataset.variant, rid: s.dataset.requestId,"
        " items: s.querySelectorAll('.card').length}))"
    )
    # THEN it shows "for you" and popular lists, each tagged with its variant
    assert len(lists) >= 2 and all(entry["items"] > 0 for entry in lists), lists
    assert {entry["variant"] for entry in lists} <= {"a", "b"}
    first = lists[0]
    # WHEN the shopper clicks the second item of the first list (a real mouse click)
    page.click("section.list:first-of-type .card:nth-child(2) .title")
    page.wait("location.hash.startsWith('#/p/') && document.body.dataset.ready === '1'")
    page.wait("(window.__recsysSent || 0) > 0 && window.__recsys.sender.queue.length === 0")
    page.js("window.__recsys.sender.flush().then(() => true)")
    shot_dir = _shots() or tmp_path
    page.screenshot(shot_dir / "shop-product.png" if _shots() is None else tmp_path / "p.png")
    # THEN GET /stats counts the click (and the impressions) for that list's strategy and variant
    deadline = time.monotonic() + 30
    while True:
        after = _stats(http)
        s_before = before["strategies"].get(first["strategy"], {})
        s_after = after["strategies"].get(first["strategy"], {})
        if s_after.get("clicks", 0) > s_before.get("clicks", 0) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert s_after["clicks"] == s_before.get("clicks", 0) + 1, (s_before, s_after)
    assert s_after["impressions"] > s_before.get("impressions", 0)
    v_before = before["variants"].get(first["variant"], {}).get("clicks", 0)
    assert after["variants"][first["variant"]]["clicks"] == v_before + 1
    assert not page.errors, page.errors
    # a screenshot of the home page for the docs, with "show why" on (strategy, variant, reason)
    page.js("localStorage.setItem('recsys.explain', '1'); true")
    page.goto(f"{_base(http)}/shop/")
    page.wait(
        "document.body.dataset.ready === '1' && document.querySelectorAll('.card').length > 5"
    )
    time.sleep(0.5)
    page.screenshot(shot_dir / "shop.png", full_page=False)


def test_the_dashboard_draws_its_plots(stack: httpx.Client, page: Page, tmp_path: Path) -> None:
    http = stack
    # GIVEN some attributed traffic: a few shoppers see lists, click, buy
    now = time.time()
    events: list[dict[str, Any]] = []
    for n, user in enumerate(CUSTOMERS * 4):
        body = http.get(f"/users/{user}/recommendations", params={"limit": 8}).json()
        for pos, item in enumerate(body["items"]):
            ctx = {"request_id": body["request_id"], "position": pos}
            events.append(
                {
                    "type": "impression",
                    "user_id": user,
                    "product_id": item["product_id"],
                    "timestamp": now,
                    "context": ctx,
                }
            )
            if (pos + n) % 4 == 0:
                events.append(
                    {
                        "type": "click",
                        "user_id": user,
                        "product_id": item["product_id"],
                        "timestamp": now + 1,
                        "context": ctx,
                    }
                )
            if (pos + n) % 8 == 0:
                events.append(
                    {
                        "type": "purchase",
                        "user_id": user,
                        "product_id": item["product_id"],
                        "timestamp": now + 2,
                        "quantity": 2,
                        "price": item.get("price") or 1.0,
                    }
                )
    assert http.post("/events", json={"events": events}).status_code == 202
    # WHEN the dashboard loads
    page.goto(f"{_base(http)}/dashboard/")
    page.wait("document.body.dataset.ready === '1'", timeout_s=60)
    # THEN every panel has drawn: lines, bars, intervals, rings, with data in them
    drawn = page.js(
        "Object.fromEntries([...document.querySelectorAll('.panel')].map(p =>"
        " [p.id, p.querySelectorAll('svg').length]))"
    )
    for panel in (
        "exp-rates",
        "exp-diff",
        "ctr-strategy",
        "conv-variant",
        "by-strategy",
        "latency",
        "rings",
        "queues",
        "ranking",
    ):
        assert drawn.get(panel, 0) >= 1, (panel, drawn)
    marks = page.js(
        "({dots: document.querySelectorAll('#ctr-strategy circle').length,"
        " bars: document.querySelectorAll('#latency rect').length,"
        " tiles: document.querySelectorAll('.tile').length,"
        " empty: [...document.querySelectorAll('#by-strategy text.empty')].length})"
    )
    assert marks["dots"] >= 1 and marks["bars"] >= 3 and marks["tiles"] >= 6, marks
    assert marks["empty"] == 0
    assert not page.errors, page.errors
    page.screenshot((_shots() or tmp_path) / "dashboard.png")
    if _shots() is None:
        shutil.rmtree(tmp_path, ignore_errors=True)
