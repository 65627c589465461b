"""GET /stats: the key check, the window bound and the shape the dashboard reads."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from recsys.api.app import build_app
from recsys.api.routes import stats
from recsys.core.config import Settings, get_settings
from recsys.services import Services


@pytest.fixture
def client(make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("RECSYS_API_KEY", "s3cret")  # the key check reads the process settings
    get_settings.cache_clear()
    exp = {
        "name": "t",
        "variants": {"a": {"share": 0.5}, "b": {"share": 0.5, "ranking_w_repeat": 1}},
    }
    settings = make_settings(api_key="s3cret", experiment=json.dumps(exp), stats_max_days=30)
    return TestClient(build_app(stats.router, services=Services(settings)))


def test_stats_needs_the_key_when_one_is_set(client: TestClient) -> None:
    assert client.get("/stats").status_code == 401
    assert client.get("/stats", headers={"X-Api-Key": "wrong"}).status_code == 401
    assert client.get("/stats", headers={"X-Api-Key": "s3cret"}).status_code == 200


def test_stats_reports_groups_experiment_and_ranking_in_the_documented_shape(
    client: TestClient,
) -> None:
    body = client.get("/stats", params={"days": 400}, headers={"X-Api-Key": "s3cret"}).json()
    assert body["days"] == 30  # bounded by stats_max_days
    assert len(body["series"]) == 30
    assert {"strategies", "variants", "experiment", "coverage", "cold_start", "ranking"} <= set(
        body
    )
    assert body["experiment"]["control"] == "a"
    assert set(body["experiment"]["comparisons"]) == {"b"}
    assert body["ranking"]["variants"]["b"] == {"ranking_w_repeat": 1}
    assert "weights" in body["ranking"]["config"]
    assert (
        client.get("/stats", params={"days": 0}, headers={"X-Api-Key": "s3cret"}).status_code == 422
    )
