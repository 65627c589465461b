"""The tuner's gate: a paired bootstrap over both folds instead of a fixed 1 % margin."""

from __future__ import annotations

import numpy as np

from recsys.ranking.tuning_gate import Gate, paired_bootstrap


def _fold(n: int, lift: float, seed: int, noise: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cur = rng.uniform(0.0, 0.4, n)
    cand = np.clip(cur * (1.0 + lift + rng.normal(0.0, noise, n)), 0.0, 1.0)
    return cand, cur


def test_bootstrap_is_paired_and_repeatable() -> None:
    folds = [_fold(400, 0.01, 1), _fold(400, 0.01, 2)]
    a = paired_bootstrap(folds, draws=500, seed=3)
    b = paired_bootstrap(folds, draws=500, seed=3)
    assert a == b
    ratios = [c.mean() / u.mean() for c, u in folds]
    assert a["gain"] == round(float(np.mean(ratios)), 4)
    assert len(a["p_fold_worse"]) == 2
    # the same customers on both sides: identical lists are never better nor worse
    same = paired_bootstrap([(f[1], f[1]) for f in folds], draws=200)
    assert same["gain"] == 1.0 and same["p_better"] == 0.0 and same["p_fold_worse"] == [0.0, 0.0]


def test_a_consistent_small_gain_passes_the_learned_gate_not_the_margin() -> None:
    folds = [_fold(400, 0.008, 1, noise=0.02), _fold(400, 0.008, 2, noise=0.02)]
    stats = paired_bootstrap(folds, draws=500)
    assert 1.0 < float(stats["gain"]) < 1.01 and float(stats["p_better"]) > 0.9
    gate = Gate()
    assert gate.accepts("learned", stats, margin=0.01)
    assert not gate.accepts("weighted_sum", stats, margin=0.01)


def test_a_fold_lost_beyond_noise_vetoes_whatever_the_mean() -> None:
    # a large gain on one window, a clear loss on the other: the mean favours the candidate
    win, lose = _fold(400, 0.3, 1, noise=0.05), _fold(400, -0.1, 2, noise=0.05)
    stats = paired_bootstrap([win, lose], draws=500)
    assert float(stats["gain"]) > 1.05 and stats["p_fold_worse"][1] > 0.99
    assert not Gate().accepts("learned", stats, margin=0.01)
    assert Gate(veto=1.01).accepts("learned", stats, margin=0.01)


def test_a_loss_on_average_is_never_accepted() -> None:
    folds = [_fold(400, -0.02, 1), _fold(400, -0.02, 2)]
    stats = paired_bootstrap(folds, draws=500)
    assert float(stats["gain"]) < 1.0
    assert not Gate().accepts("learned", stats, margin=0.0)
