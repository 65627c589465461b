"""`recsys refresh` with each aggregates engine: the DuckDB SQL path saves what Python saves."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from recsys.aggregates.store import AggregatesStore
from recsys.cli import main
from recsys.core.config import Settings, get_settings
from recsys.datasets.retail_events import read_retail_events
from recsys.events.backend import open_event_log
from recsys.events.models import validate_events
from recsys.local.provision import Provisioned

pytestmark = pytest.mark.integration
pytest.importorskip("duckdb")

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "online_retail_sample.csv.gz"


def test_refresh_on_duckdb_saves_the_python_aggregates(
    aws_stack: tuple[Settings, Provisioned],
    stack_env: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN real Online Retail invoices replayed into the event log (no catalog: aggregates only)
    settings, _ = aws_stack
    stack_env()
    logged, _ = validate_events(list(read_retail_events(SAMPLE)), now=2e9)
    log = open_event_log(get_settings())
    log.write(logged[:1200])
    log.close()
    saved = {}
    reports = {}
    # WHEN the nightly job runs with each engine
    for engine in ("python", "duckdb"):
        monkeypatch.setenv("RECSYS_AGGREGATES_ENGINE", engine)
        get_settings.cache_clear()
        assert main(["refresh"]) == 0
        reports[engine] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        saved[engine] = AggregatesStore(get_settings()).load(max_age_s=0)
    # THEN both saw the same log, and saved the same aggregates
    assert reports["python"]["events"] == reports["duckdb"]["events"] == 1200
    assert reports["python"]["as_of"] == reports["duckdb"]["as_of"]
    py, sql = saved["python"], saved["duckdb"]
    assert py.neighbours and sql.neighbours == py.neighbours
    assert sql.trending_scores.keys() == py.trending_scores.keys()
    assert sql.popularity_scores == pytest.approx(py.popularity_scores, rel=1e-9)
    # AND the local archive is Parquet by day under the data dir
    days = sorted(p.name for p in (settings.data_dir / "archive" / "events").iterdir())
    assert days and all(d.startswith("dt=") for d in days)
