"""schemathesis over the served OpenAPI: every operation, bounded examples, no server error.

The app is every function's router together, exactly as the local gateway merges their
documents, over real embedded stores (edge, SQLite log, file aggregates) with a small catalog,
so generated requests reach validation, the ranking and the stores. Bodies are described in
the document (events, catalog rows, with examples), so the fuzzer sends real-looking events
and rows rather than ``{}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from recsys.api.app import build_app
from recsys.api.routes import events, products, recommend
from recsys.catalog.embed import DirectEmbedQueue, Embedder
from recsys.core.config import Settings, get_settings
from recsys.services import Services

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CATALOG = [
    {"product_id": f"P{i}", "title": t, "category": c, "price": 3.0 + i}
    for i, (t, c) in enumerate(
        [
            ("Warm white fairy lights", "Home > Lights"),
            ("Enamel coffee mug", "Kitchen > Mugs"),
            ("Paper lantern string", "Home > Lights"),
            ("Cake tin set", "Kitchen > Baking"),
        ]
    )
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    get_settings.cache_clear()
    data = tmp_path_factory.mktemp("fuzz") / "data"
    cfg = Settings(data_dir=Path(data), aggregates_backend="file", events_backend="sqlite")
    services = Services(cfg)
    embedder = Embedder(encoder=services.encoder, store=services.store, settings=cfg)
    services._built["embed_queue"] = DirectEmbedQueue(embedder)
    app = build_app(events.router, products.router, recommend.router, services=services)
    assert TestClient(app).post("/products", json={"products": CATALOG}).status_code == 202
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    services.close()


def test_no_operation_answers_a_server_error(served: Any) -> None:
    # GIVEN every operation of the document
    operations = [result.ok() for result in served.get_all_operations()]
    assert len(operations) >= 10
    failures: list[str] = []
    for operation in operations:
        # WHEN bounded generated requests are sent to it (the same seed every run)
        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    # THEN none answered 5xx
    assert not failures, "\n\n".join(failures)
