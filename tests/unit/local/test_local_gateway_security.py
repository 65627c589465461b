"""The local gateway as a browser and an attacker meet it: CORS from the allow-list only, admin
routes off the public document and behind the key, JSON-only admin writes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from recsys.core.config import get_settings
from recsys.local.admin import admin_app
from recsys.local.gateway import Gateway, Mount
from recsys.local.template import HttpRoute


class _Stack:
    def refresh(self) -> list[dict[str, Any]]:
        return [{"rule": "Nightly", "result": "ran"}]

    def is_idle(self) -> bool:
        return True

    def wait_idle(self, timeout_s: float) -> bool:
        return True

    def status(self) -> dict[str, Any]:
        return {"queues": {}}


def _gateway(*, origins: list[str]) -> TestClient:
    fn = FastAPI()

    @fn.get("/items")
    async def items() -> dict[str, list[str]]:
        return {"items": ["a"]}

    route = HttpRoute(method="GET", path="/items", event="List", authorized=False)
    mounts = [Mount(route=route, function="Web", app=fn, pattern=route.pattern())]
    return TestClient(
        Gateway(mounts, admin_app(_Stack(), mounts), containers=2, cors_origins=origins)
    )


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECSYS_API_KEY", raising=False)
    get_settings.cache_clear()


def test_cors_answers_only_the_allow_listed_origin() -> None:
    http = _gateway(origins=["https://shop.example"])
    ok = http.get("/items", headers={"Origin": "https://shop.example"})
    other = http.get("/items", headers={"Origin": "https://evil.example"})
    assert ok.headers["access-control-allow-origin"] == "https://shop.example"
    assert "access-control-allow-origin" not in other.headers
    preflight = http.options(
        "/items",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400
    # AND with no list at all, no origin gets a grant (the default)
    none = _gateway(origins=[]).get("/items", headers={"Origin": "https://shop.example"})
    assert "access-control-allow-origin" not in none.headers


def test_admin_routes_are_hidden_json_only_and_keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    http = _gateway(origins=[])
    paths = http.get("/openapi.json").json()["paths"]
    assert "/items" in paths and not any(p.startswith("/_local") for p in paths)
    # a cross-site "simple" POST (no JSON) cannot trigger the nightly job
    assert http.post("/_local/refresh").status_code == 415
    assert http.post("/_local/refresh", json={}).status_code == 200
    monkeypatch.setenv("RECSYS_API_KEY", "adm1n")
    get_settings.cache_clear()
    assert http.post("/_local/refresh", json={}).status_code == 401
    assert http.get("/_local/status").status_code == 401
    keyed = http.post("/_local/refresh", json={}, headers={"X-Api-Key": "adm1n"})
    assert keyed.status_code == 200 and keyed.json()["runs"][0]["result"] == "ran"
    assert http.get("/items").status_code == 200  # reads stay open
