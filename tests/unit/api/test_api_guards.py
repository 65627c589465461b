"""The request guards every app gets: body caps (413), JSON-only writes (415), the API key (401)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from recsys.api.deps import ApiKeyDep
from recsys.api.guards import BodyGuard, is_json
from recsys.core.config import get_settings


def _app() -> Any:
    app = FastAPI()

    @app.post("/small")
    async def small(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/big")
    async def big(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.get("/read")
    async def read() -> dict[str, bool]:
        return {"ok": True}

    @app.delete("/erase/{x}", dependencies=[ApiKeyDep])
    async def erase(x: str) -> dict[str, str]:
        return {"erased": x}

    return BodyGuard(app, limit_for=lambda path: 1000 if path == "/big" else 100)


@pytest.fixture
def http() -> TestClient:
    return TestClient(_app())


def test_bodies_over_the_route_cap_get_413_with_the_limit(http: TestClient) -> None:
    # GIVEN caps of 100 bytes (/small) and 1000 bytes (/big)
    # WHEN bodies at and over the caps arrive (declared length, then streamed without one)
    at_cap = http.post("/small", content=b"[" + b"1" * 98 + b"]", headers=_JSON)
    over = http.post("/small", content=b"[" + b"1" * 99 + b"]", headers=_JSON)
    big_ok = http.post("/big", content=b"1" * 1000, headers=_JSON)
    streamed = http.post("/big", content=iter([b"1" * 600, b"1" * 600]), headers=_JSON)
    # THEN
    assert at_cap.status_code == 200 and at_cap.json() == {"bytes": 100}
    assert over.status_code == 413
    assert over.json()["detail"][0]["limit"] == 100
    assert big_ok.status_code == 200 and big_ok.json() == {"bytes": 1000}
    assert streamed.status_code == 413 and streamed.json()["detail"][0]["limit"] == 1000


_JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_writes_take_json_only(http: TestClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    reply = http.post("/small", content=b"{}", headers=headers)
    assert reply.status_code == 415
    assert reply.json()["detail"][0]["accepted"] == ["application/json"]


def test_json_media_types() -> None:
    assert is_json("application/json") and is_json("Application/JSON; charset=utf-8")
    assert is_json("application/merge-patch+json")
    assert not is_json("text/json-ish") and not is_json("") and not is_json(None)


def test_reads_and_deletes_pass_untouched(http: TestClient) -> None:
    assert http.get("/read").json() == {"ok": True}
    assert http.delete("/erase/a").json() == {"erased": "a"}


def test_the_api_key_guards_only_the_routes_that_declare_it(
    http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN RECSYS_API_KEY set
    monkeypatch.setenv("RECSYS_API_KEY", "s3cret")
    get_settings.cache_clear()
    try:
        # WHEN a guarded route is called without, with a wrong and with the right key
        without = http.delete("/erase/a")
        wrong = http.delete("/erase/a", headers={"X-Api-Key": "s3cre"})
        right = http.delete("/erase/a", headers={"X-Api-Key": "s3cret"})
        read = http.get("/read")
    finally:
        get_settings.cache_clear()
    # THEN only the right key passes; reads stay open
    assert (without.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert without.json()["detail"][0]["field"] == "X-Api-Key"
    assert read.status_code == 200


def test_without_the_setting_guarded_routes_are_open(
    http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECSYS_API_KEY", raising=False)
    get_settings.cache_clear()
    assert http.delete("/erase/a").status_code == 200
