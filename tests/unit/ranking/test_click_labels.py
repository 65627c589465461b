"""Attributed clicks as the tuner's labels: extraction, serve-time features, the same gate."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from recsys.datasets.click_log import ClickWorld, Simulated, simulate
from recsys.events.models import LoggedEvent, validate_events
from recsys.feedback.labels import Label, labels_from_events
from recsys.feedback.propensity import estimate_propensities
from recsys.profiles.maths import ProfileEvent
from recsys.profiles.point import to_profile_event
from recsys.ranking.click_labels import (
    ClickLog,
    ClickStep,
    OwnerHistory,
    click_block,
    served_lists,
)
from recsys.ranking.fitted import FittedRanking
from recsys.ranking.replay import TuneOptions, replay_window
from recsys.ranking.tuner import Catalog, tune
from recsys.ranking.tuning_gate import Gate
from recsys.ranking.types import Budgets

DAY = 86400.0
WORLD = ClickWorld(users=110, items=70, weeks=8, lists_per_week=3, seed=11)
OPTS = TuneOptions(window_days=14, passes=1, max_users=110, min_users=30)


@pytest.fixture(scope="module")
def sim() -> Simulated:
    return simulate(WORLD)


def _logged(raw: list[dict[str, Any]]) -> list[LoggedEvent]:
    good, rejects = validate_events(raw, now=raw[-1]["timestamp"] + 10)
    assert not rejects
    return good


@pytest.fixture(scope="module")
def logged(sim: Simulated) -> list[LoggedEvent]:
    return _logged(sim.events)


@pytest.fixture(scope="module")
def labels(logged: list[LoggedEvent]) -> list[Label]:
    return labels_from_events(logged, window_s=DAY)


@pytest.fixture(scope="module")
def events(logged: list[LoggedEvent]) -> list[ProfileEvent]:
    return [to_profile_event(e) for e in logged]


def _catalog(sim: Simulated) -> Catalog:
    return Catalog(sim.ids, sim.vectors, sim.payloads)


def test_duplicate_deliveries_count_once(sim: Simulated, labels: list[Label]) -> None:
    """Every impression and click delivered twice (a retried batch): the same labels, the
    same click count, the same propensities."""
    twice = _logged(sorted(sim.events + sim.events, key=lambda e: e["timestamp"]))
    again = labels_from_events(twice, window_s=DAY)
    assert sorted(again, key=_key) == sorted(labels, key=_key)
    clicks = [e for e in sim.events if e["type"] == "click"]
    assert sum(lab.clicked for lab in again) == len(clicks)
    assert len(again) == sum(e["type"] == "impression" for e in sim.events)
    assert estimate_propensities(again) == estimate_propensities(labels)


def _key(lab: Label) -> tuple[str, str]:
    return lab.request_id, lab.product_id


def test_features_see_nothing_after_the_served_time(
    sim: Simulated, events: list[ProfileEvent], labels: list[Label]
) -> None:
    """Each list's rows are the same whether the history runs to the end of the log or stops
    at the list's served time; an event just before it does change them."""
    as_of = events[-1].at + 1
    cut = as_of - 2 * 14 * DAY
    window = replay_window(events, _catalog(sim), cut=cut, end=cut + 14 * DAY, options=OPTS)
    lists = [s for s in served_lists(labels, window.cut, window.end) if any(x.clicked for x in s)]
    lists = lists[:25]
    props = estimate_propensities(labels)
    args: dict[str, Any] = dict(mode="repeat", propensities=props, budgets=Budgets())
    full = click_block(window, OwnerHistory(events), lists, **args)
    assert full.lists >= 20
    for i, shown in enumerate(lists[: full.lists]):
        at = min(lab.at for lab in shown)
        past = OwnerHistory([e for e in events if e.at < at])
        alone = click_block(window, past, [shown], **args)
        a, b = full.starts[i], (full.starts[i + 1] if i + 1 < full.lists else len(full.x))
        assert np.array_equal(alone.x, full.x[a:b]) and np.array_equal(
            alone.scaled, full.scaled[a:b]
        )
    # Sensitivity: the shopper buying the first shown product a minute before the list was
    # served is seen (bought, repeat counts), so the test above could have failed.
    shown = lists[0]
    at = min(lab.at for lab in shown)
    extra = ProfileEvent("purchase", at - 60, shown[0].product_id, None, "late", shown[0].owner)
    moved = click_block(window, OwnerHistory([*events, extra]), [shown], **args)
    assert not np.array_equal(moved.x, full.x[: len(moved.x)])


def test_propensities_use_nothing_the_check_window_holds(
    events: list[ProfileEvent], labels: list[Label]
) -> None:
    as_of = events[-1].at + 1
    check_cut = as_of - 14 * DAY
    flipped = [
        replace(lab, clicked=not lab.clicked) if lab.at >= check_cut else lab for lab in labels
    ]
    a = ClickStep(
        ClickLog(labels, min_clicks=10), events, as_of=as_of, check_cut=check_cut, tau_days=30
    )
    b = ClickStep(
        ClickLog(flipped, min_clicks=10), events, as_of=as_of, check_cut=check_cut, tau_days=30
    )
    assert a.propensities == b.propensities and a.propensities is not None


@pytest.fixture(scope="module")
def with_clicks(sim: Simulated, events: list[ProfileEvent], labels: list[Label]) -> FittedRanking:
    as_of = events[-1].at + 1
    return tune(
        events,
        _catalog(sim),
        as_of=as_of,
        options=OPTS,
        clicks=ClickLog(labels, min_clicks=200),
        now=0,
    )


def test_tuner_trains_on_clicks_and_keeps_only_what_beats_the_current(
    with_clicks: FittedRanking, labels: list[Label]
) -> None:
    report = with_clicks.report["click_labels"]
    assert report["used"] and report["clicks"] == sum(lab.clicked for lab in labels)
    assert report["labels"] > 0 and report["propensity"]["method"] in ("harvested", "click_rate")
    for mode in ("repeat", "new"):
        entry = with_clicks.report["modes"][mode]
        check = entry["check"]
        assert "learned_clicks" in check, report["fit"][mode]
        held = entry["held_out_clicks"]
        assert held["lists"] > 0 and 0.0 <= held["learned_clicks"] <= 1.0
        if entry["chosen"] in ("weighted_sum", "learned", "learned_cross", "learned_clicks"):
            # kept by the gate over both folds (recsys.ranking.tuning_gate), the best accepted
            assert entry["chosen"] in entry["accepted"]
            assert entry["gain"][entry["chosen"]] > 1.0
            assert with_clicks.modes[mode].chosen == entry["chosen"]
        else:
            assert entry["chosen"] == "defaults" and mode not in with_clicks.modes
    # /health and the log say it, and it survives the round trip through the aggregates.
    summary = with_clicks.summary()["click_labels"]
    assert summary["used"] and len(summary["propensity"]["values"]) == 10
    again = FittedRanking.from_json(json.loads(json.dumps(with_clicks.to_json())))
    assert again.to_json() == with_clicks.to_json()


def test_a_gate_no_candidate_passes_keeps_the_current(
    sim: Simulated, events: list[ProfileEvent], labels: list[Label], with_clicks: FittedRanking
) -> None:
    """The same gate refuses a click-trained ranker: nothing beats the current by 1000 % (the
    learned rankers' own margin of 0 taken away too)."""
    as_of = events[-1].at + 1
    strict = replace(OPTS, min_gain=10.0, gate=Gate(margins=()))
    kept = tune(
        events,
        _catalog(sim),
        as_of=as_of,
        options=strict,
        current=with_clicks,
        clicks=ClickLog(labels, min_clicks=200),
        now=0,
    )
    assert kept.status == "kept" and kept.report["click_labels"]["used"]
    assert {m: f.to_json() for m, f in kept.modes.items()} == {
        m: f.to_json() for m, f in with_clicks.modes.items()
    }


def test_below_the_threshold_nothing_changes_and_the_report_says_why(
    sim: Simulated, events: list[ProfileEvent], labels: list[Label]
) -> None:
    as_of = events[-1].at + 1
    n = sum(lab.clicked for lab in labels)
    few = tune(
        events,
        _catalog(sim),
        as_of=as_of,
        options=OPTS,
        clicks=ClickLog(labels, min_clicks=n + 1),
        now=0,
    )
    none = tune(events, _catalog(sim), as_of=as_of, options=OPTS, now=0)
    assert few.report["click_labels"] == {
        "used": False,
        "clicks": n,
        "min_clicks": n + 1,
        "reason": f"{n} attributed clicks, fewer than the {n + 1} needed",
    }
    assert none.report["click_labels"]["reason"] == "no click log was read"
    assert few.version == none.version
    assert {m: f.to_json() for m, f in few.modes.items()} == {
        m: f.to_json() for m, f in none.modes.items()
    }
    for mode in ("repeat", "new"):
        assert "learned_clicks" not in few.report["modes"][mode]["check"]
