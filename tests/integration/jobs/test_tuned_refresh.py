"""The nightly job tunes the ranking and keeps the result inside the aggregates it saves;
``recsys tune`` explains the same; the recommend path then reports and serves it."""

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
from recsys.ranking.fitted import fitted_of

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "online_retail_sample.csv.gz"


def test_refresh_keeps_a_fitted_ranking_in_the_aggregates(
    stack_env: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN Online Retail invoices in the event log and their products in the store
    stack_env()
    assert main(["ingest", str(SAMPLE)]) == 0
    logged, _ = validate_events(list(read_retail_events(SAMPLE)), now=2e9)
    log = open_event_log(get_settings())
    log.write(logged)
    log.close()
    capsys.readouterr()
    # WHEN the nightly job runs
    assert main(["refresh"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # THEN it tuned (or, with too little history, said it is cold) and timed the step
    assert report["ranking"]["status"] in ("fitted", "kept", "cold")
    assert "tuning" in report["seconds"]
    # AND, the log holding no attributed clicks, it says click labels were not used and why
    clicks = report["ranking"]["click_labels"]
    assert not clicks["used"] and clicks["clicks"] == 0
    assert clicks["reason"] == f"0 attributed clicks, fewer than the {clicks['min_clicks']} needed"
    # AND the saved aggregates carry that version, as every reader of them sees it
    fitted = fitted_of(AggregatesStore(get_settings()).load(max_age_s=0))
    assert fitted is not None and fitted.version == report["ranking"]["version"]
    assert set(fitted.modes) == {"repeat", "new"} or fitted.status == "kept"
    if fitted.status == "cold":
        assert fitted.report["reason"]
    # AND `recsys tune --dry-run` explains a fit of the same log without keeping it
    assert main(["tune", "--dry-run"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ranking"]["status"] in ("fitted", "kept", "cold")
    assert "why" in out
    again = fitted_of(AggregatesStore(get_settings()).load(max_age_s=0))
    assert again is not None and again.version == fitted.version
