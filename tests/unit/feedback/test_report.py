"""The experiment maths of /stats, checked against scipy and by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from recsys.feedback.report import ALPHA, POWER, sample_size, two_proportions


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), [(47, 570, 41, 620), (5, 1000, 18, 900)])
def test_two_proportions_matches_the_textbook_z_test(x1: int, n1: int, x2: int, n2: int) -> None:
    got = two_proportions(x1, n1, x2, n2)
    assert got is not None
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    z = (p2 - p1) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    assert got["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    half = stats.norm.ppf(0.975) * np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    assert got["ci95"] == pytest.approx([p2 - p1 - half, p2 - p1 + half], rel=1e-9)
    assert got["significant"] == (got["p_value"] < ALPHA)


def test_the_sample_size_gives_the_promised_power_in_simulated_experiments() -> None:
    # GIVEN the impressions per variant needed to tell 5 % from 6 %
    p1, p2 = 0.05, 0.06
    n = sample_size(p1, p2)
    assert n is not None
    # WHEN 3,000 experiments of that size are drawn
    rng = np.random.default_rng(14)
    x1 = rng.binomial(n, p1, size=3000)
    x2 = rng.binomial(n, p2, size=3000)
    significant = [
        two_proportions(int(a), n, int(b), n)["significant"] for a, b in zip(x1, x2, strict=True)
    ]
    # THEN about POWER of them find the difference
    assert abs(float(np.mean(significant)) - POWER) < 0.03
    # AND with no difference about ALPHA of them find one anyway
    y = rng.binomial(n, p1, size=3000)
    false = [
        two_proportions(int(a), n, int(b), n)["significant"] for a, b in zip(x1, y, strict=True)
    ]
    assert abs(float(np.mean(false)) - ALPHA) < 0.015
