"""`recsys reembed` and the nightly run's re-embed, on the moto server (events in DynamoDB,
aggregates in S3) and a real embedded store, with the two shipped encoders."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from recsys.catalog.embed import DirectEmbedQueue, Embedder
from recsys.catalog.ingest import ingest_rows
from recsys.cli import main
from recsys.core.config import Settings
from recsys.services import Services
from recsys.store import open_store_ready
from recsys.store.spaces import MODEL_FIELD, active_model, forget_model

pytestmark = pytest.mark.integration

MINILM = "all-MiniLM-L6-v2-int8"
MULTI = "use-multilingual-v3-int8"
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
ROWS = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,UK",
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,UK",
    "536366,22423,REGENCY CAKESTAND 3 TIER,2,2010-12-03 09:00:00,12.75,13047,UK",
    "536367,71053,WHITE METAL LANTERN,1,2010-12-03 10:00:00,3.39,13047,UK",
]
PRODUCTS = [
    {"product_id": "85123A", "title": "WHITE HANGING HEART T-LIGHT HOLDER", "category": "Home"},
    {"product_id": "71053", "title": "WHITE METAL LANTERN", "category": "Home > Lighting"},
    {"product_id": "22423", "title": "REGENCY CAKESTAND 3 TIER", "category": "Kitchen"},
]
AWS_LIKE = {"RECSYS_EVENTS_BACKEND": "dynamodb", "RECSYS_AGGREGATES_BACKEND": "s3"}


@pytest.fixture(autouse=True)
def _fresh_context() -> Iterator[None]:
    forget_model()
    yield
    forget_model()


@pytest.fixture
def populated(
    stack_env: Callable[..., Settings], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Settings:
    """A MiniLM store: three products, two customers' purchases and their profiles."""
    settings = stack_env(**AWS_LIKE)
    services = Services(settings)
    queue = DirectEmbedQueue(Embedder.from_services(services))
    ingest_rows(PRODUCTS, store=services.store, queue=queue, settings=settings)
    services.close()
    path = tmp_path / "retail.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "\n".join(ROWS) + "\n").encode()))
    assert main(["events", str(path)]) == 0
    capsys.readouterr()
    return settings


def last_json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    out: dict[str, object] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return out


def test_recsys_reembed_moves_the_store_to_the_chosen_encoder(
    populated: Settings, stack_env: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = stack_env(**AWS_LIKE, RECSYS_ENCODER_MODEL="multilingual")
    assert main(["reembed", "--grace-s", "0", "--batch", "2"]) == 0
    report = last_json(capsys)
    assert (report["source"], report["target"]) == (MINILM, MULTI)
    assert report["complete"] and report["switched"]
    assert (report["products_embedded"], report["profiles_rebuilt"]) == (3, 2)
    store = open_store_ready(settings)
    assert active_model(store, settings) == MULTI
    (profile,) = store.retrieve("users", ["17850"], with_vectors=True)
    assert profile.payload[MODEL_FIELD] == MULTI and profile.vectors["long"].shape == (512,)
    assert profile.payload["counts"] == {"purchase": 2}
    store.close()
    # Run again: nothing left to move.
    assert main(["reembed"]) == 0
    again = last_json(capsys)
    assert again["complete"] and not again["switched"] and again["products_embedded"] == 0


def test_the_nightly_run_moves_a_store_whose_encoder_changed(
    populated: Settings, stack_env: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = stack_env(**AWS_LIKE, RECSYS_ENCODER_MODEL="multilingual")
    assert main(["refresh"]) == 0
    report = last_json(capsys)
    moved = report["reembed"]
    assert isinstance(moved, dict) and moved["complete"] and moved["target"] == MULTI
    # The refresh after it ran in the new space: the catalog mean is the new encoder's.
    assert report["events"] == 4
    from recsys.aggregates.store import AggregatesStore

    mean = AggregatesStore(settings).load(max_age_s=0).item_mean
    assert mean is not None and len(mean) == 512
    store = open_store_ready(settings)
    assert active_model(store, settings) == MULTI
    store.close()
    # The next night there is nothing to move.
    assert main(["refresh"]) == 0
    assert "reembed" not in last_json(capsys)
