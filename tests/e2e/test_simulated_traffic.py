"""The feedback loop on simulated traffic, at a small size (bench/feedback_sim.py runs it
bigger for docs/EXPERIMENTS.md).

Real Online Retail customers replayed against `recsys up` with an experiment on: each is served
"for you" by their variant, sees the list (impressions), and clicks and buys an item only if
the real customer bought it after the split. GET /stats must count exactly that — and name as
winner the variant `recsys eval` prefers for the same two configurations on the same split.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import feedback_sim  # noqa: E402

# Loading a small shop through the queues takes minutes on a busy two-core machine.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1200)]


@pytest.mark.skipif(not feedback_sim.DATA.is_file(), reason="Online Retail data not found")
def test_simulated_shoppers_pick_the_same_winner_as_the_offline_evaluation() -> None:
    # GIVEN 100 real customers split between the defaults (a) and no repeat signal (b)
    result = feedback_sim.run(customers=100, seed=14)
    stats, simulated = result["stats"], result["simulated"]
    # THEN /stats counts exactly what the simulated shoppers did (the retried batch included)
    for variant, sim in simulated.items():
        got = stats["variants"][variant]
        assert got["conversions"] == got["clicks"] == sim["hits"], (variant, got, sim)
        assert got["users"] == sim["users"]
        assert got["impressions"] == got["lists"] * 10
    assert sum(s["users"] for s in simulated.values()) == result["scored_customers"]
    # AND both variants were served, and the experiment reports its comparison
    assert set(simulated) == {"a", "b"}
    comparison = stats["experiment"]["comparisons"]["b"]["conversion_rate"]
    assert comparison["ci95"][0] <= comparison["diff"] <= comparison["ci95"][1]
    # AND the online winner is the offline one
    assert result["agree"], result
