"""Position bias from the log: known propensities recovered from synthetic click logs."""

from __future__ import annotations

import numpy as np

from recsys.feedback.labels import Label
from recsys.feedback.propensity import estimate_propensities

THETA = 1.0 / (1.0 + np.arange(8)) ** 0.8  # the examination probability of each slot


def _log(*, informative: bool, users: int, lists: int, seed: int) -> list[Label]:
    """Lists of 8 out of 24 candidates per shopper, clicks by the position-based model.

    Informative: ordered by attractiveness plus noise (a working ranking — the same item
    moves between slots from list to list); otherwise in random order (randomised lists)."""
    rng = np.random.default_rng(seed)
    out: list[Label] = []
    for u in range(users):
        attract = rng.beta(1.0, 3.0, size=24)
        for n in range(lists):
            if informative:
                order = np.argsort(-(attract + rng.normal(0.0, 0.15, 24)))[:8]
            else:
                order = rng.permutation(24)[:8]
            for k, j in enumerate(order.tolist()):
                clicked = bool(rng.random() < THETA[k] * attract[j])
                out.append(Label(f"r{u}-{n}", f"u#{u}", f"p{j}", k, float(n), clicked, False))
    return out


def test_randomised_lists_give_the_propensities_by_click_rate() -> None:
    labels = _log(informative=False, users=1500, lists=4, seed=1)
    # every item moves in random lists: ask for the plain estimate explicitly
    est = estimate_propensities(labels, positions=8, min_pairs=10**9)
    assert est.method == "click_rate"
    assert np.abs(np.array(est.values) - THETA).max() < 0.05


def test_harvested_propensities_survive_an_informative_ranking() -> None:
    labels = _log(informative=True, users=600, lists=8, seed=2)
    est = estimate_propensities(labels, positions=8)
    assert est.method == "harvested" and est.pairs >= 200
    assert np.abs(np.array(est.values) - THETA).max() < 0.05
    # The click rate by position credits the ranking's own skill to the slot: far off here.
    naive = estimate_propensities(labels, positions=8, min_pairs=10**9)
    assert np.abs(np.array(naive.values) - THETA).max() > 0.1
    assert all(n < t for n, t in zip(naive.values[1:], THETA[1:], strict=True))


def test_propensities_are_clipped_and_weights_bounded() -> None:
    labels = _log(informative=False, users=300, lists=4, seed=3)
    est = estimate_propensities(labels, positions=8, clip=0.5, min_pairs=10**9)
    assert min(est.values) == 0.5 and max(est.values) == 1.0
    assert est.weights(list(range(12))).max() == 2.0  # past the end: the last position's
    assert est.to_json()["assumption"]


def test_too_few_moved_pairs_fall_back_to_the_click_rate() -> None:
    labels = _log(informative=True, users=20, lists=2, seed=4)
    est = estimate_propensities(labels, positions=8, min_pairs=200)
    assert est.method == "click_rate" and est.pairs == 0
