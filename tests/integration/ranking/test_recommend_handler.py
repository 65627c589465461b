"""The recommend Lambda handler invoked with the canonical API Gateway sample events."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from recsys.catalog.schema import validate_rows
from recsys.core.config import Settings
from recsys.encoder import get_encoder
from recsys.local.invoke import import_file
from recsys.local.provision import Provisioned
from recsys.store import open_store_ready
from recsys.store.base import PointIn

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
GET_EVENTS = [
    "apigw_get_recommendations",
    "apigw_get_similar",
    "apigw_get_bought_together",
    "apigw_get_trending",
    "apigw_get_search",
    "apigw_get_health",
    "apigw_post_cart",
]


def load_handler() -> ModuleType:
    return import_file(
        ROOT / "functions" / "recommend" / "app.py", f"lambda_rec_{uuid.uuid4().hex[:6]}"
    )


@pytest.fixture
def handler(
    aws_stack: tuple[Settings, Provisioned], monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    settings, _ = aws_stack
    for name, value in {
        "RECSYS_DATA_DIR": str(settings.data_dir),
        "RECSYS_AWS_ENDPOINT_URL": str(settings.aws_endpoint_url),
        "RECSYS_CATALOG_BUCKET": settings.catalog_bucket,
    }.items():
        monkeypatch.setenv(name, value)
    # A few sample products, so the sample events' product ids exist.
    products, _ = validate_rows(
        [
            {"product_id": "85123A", "title": "WHITE HANGING HEART T-LIGHT HOLDER",
             "category": "Home > Candles", "price": 2.55},
            {"product_id": "71053", "title": "WHITE METAL LANTERN",
             "category": "Home > Lighting", "price": 3.39},
            {"product_id": "22423", "title": "REGENCY CAKESTAND 3 TIER",
             "category": "Kitchen & Dining > Baking", "price": 12.75},
        ]
    )  # fmt: skip
    from recsys.core.config import get_settings

    get_settings.cache_clear()
    live = get_settings()
    vecs = get_encoder(live).encode([p.text for p in products])
    store = open_store_ready(live)
    store.upsert(
        live.products_collection,
        [
            PointIn(p.product_id, {"text": v}, p.payload)
            for p, v in zip(products, vecs, strict=True)
        ],
    )
    module = load_handler()
    yield module
    module.services.close()
    store.close()


@pytest.mark.parametrize("name", GET_EVENTS)
def test_sample_event_gets_a_list_reply(
    handler: ModuleType, load_event: Callable[[str], dict[str, Any]], name: str
) -> None:
    # GIVEN the canonical API Gateway event and a catalog holding its products
    event = load_event(name)
    # WHEN the Lambda entry point handles it
    result = handler.handler(event, None)
    # THEN it answers 200 with the documented shape
    assert result["statusCode"] == 200, result
    body = json.loads(result["body"])
    if name == "apigw_get_health":
        assert body["status"] == "ok" and body["products"] == 3
        return
    shape = {"request_id", "strategy", "variant", "degraded", "items"}
    # Search also says whether its items match the query.
    assert set(body) == (shape | {"matched"} if name == "apigw_get_search" else shape)
    assert body["items"], body
    assert "cache-control" in {k.lower() for k in result["headers"]}


def test_buy_again_sample_event_lists_the_users_purchases(
    handler: ModuleType, load_event: Callable[[str], dict[str, Any]]
) -> None:
    # GIVEN customer 12347's stored profile: the cakestand bought three times, the holder once
    import numpy as np

    settings = handler.services.settings
    long = np.zeros(settings.vector_size, dtype=np.float32)
    long[0] = 1.0
    handler.services.store.upsert(
        settings.users_collection,
        [
            PointIn(
                "12347",
                {"long": long, "short": long},
                {
                    "kind": "user",
                    "owner": "u#12347",
                    "recent_purchases": ["85123A", "22423"],
                    "purchase_stats": {
                        "85123A": [1, 1.32e9, 1.32e9, "o#2"],
                        "22423": [3, 1.30e9, 1.31e9, "o#1"],
                    },
                    "last_event_ts": 1.32e9,
                    "profile_version": 1,
                },
            )
        ],
    )
    # WHEN the Lambda entry point handles GET /users/12347/buy-again
    result = handler.handler(load_event("apigw_get_buy_again"), None)
    # THEN both purchases come back in a list reply, the one bought three times first
    assert result["statusCode"] == 200, result
    body = json.loads(result["body"])
    assert set(body) == {"request_id", "strategy", "variant", "degraded", "items"}
    assert body["strategy"] == "buy_again"
    assert [i["product_id"] for i in body["items"]] == ["22423", "85123A"]
    assert body["items"][0]["reason"] == "buy it again: you bought this 3 times"
