"""The "learned_mix" candidate: the learned ranker plus a share of its weighted sum."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys.ranking.features import FEATURES, INDEX
from recsys.ranking.fitted import ModeFit
from recsys.ranking.learned import LinearRanker, WeightedSum, fit_listwise, scorer_from_json
from recsys.ranking.mix import MIX_MODES, MIX_NAME, mix, mixed, spread
from recsys.ranking.procedure import procedure
from recsys.ranking.replay import Block, TuneOptions


def _block(seed: int = 0, users: int = 30, pool: int = 20) -> Block:
    """Pools whose bought item has the largest cat_leaf; co-purchase is a noisy hint of it."""
    rng = np.random.default_rng(seed)
    n = users * pool
    x = rng.random((n, len(FEATURES))).astype(np.float32)
    starts = np.arange(0, n, pool, dtype=np.int64)
    labels = np.zeros(n, dtype=bool)
    for s in starts:
        labels[s + int(np.argmax(x[s : s + pool, INDEX["cat_leaf"]]))] = True
    x[:, INDEX["collab10"]] += labels * 0.5
    x[:, INDEX["bought"]] = (rng.random(n) < 0.3).astype(np.float32)
    names = [f"u{i}" for i in range(users)]
    return Block(
        users=names,
        x=x,
        starts=starts,
        labels=labels,
        items=[f"p{i % 97}" for i in range(n)],
        top_cat=["c"] * n,
        n_truth=np.ones(users, dtype=np.float32),
        truth={u: {"p0"} for u in names},
    )


def test_spread_is_the_mean_standard_deviation_within_blocks() -> None:
    scores = np.array([1.0, 3.0, 5.0, 5.0, 5.0])
    # block one: std of (1, 3) = 1; block two: (5, 5, 5) = 0
    assert spread(scores, np.array([0, 2])) == pytest.approx(0.5)
    assert spread(np.zeros(0), np.zeros(0, dtype=np.int64)) == 0.0


def test_mix_adds_the_weighted_sum_at_the_learned_score_spread() -> None:
    block = _block()
    ws = WeightedSum({"collaborative": 1.0, "popularity": 0.5})
    lr = fit_listwise(block.x, block.starts, block.labels, base=ws, iterations=60)
    mixed_lr = mix(lr, block, 0.5)
    own = spread(lr.score(block.x, block.starts, block.scaled), block.starts)
    theirs = spread(ws.score(block.x, block.starts, block.scaled), block.starts)
    assert own > 0 and theirs > 0
    assert mixed_lr.base_coef == pytest.approx(lr.base_coef + 0.5 * own / theirs, rel=1e-6)
    # The score is the learned one plus that share of the weighted sum, row by row.
    want = lr.score(block.x, block.starts) + (0.5 * own / theirs) * ws.score(block.x, block.starts)
    assert np.allclose(mixed_lr.score(block.x, block.starts), want, atol=1e-4)
    assert np.array_equal(mixed_lr.coef, lr.coef)
    # No share, or no weighted sum to lean on: the ranker unchanged.
    assert mix(lr, block, 0.0) is lr
    plain = fit_listwise(block.x, block.starts, block.labels, iterations=20)
    assert mix(plain, block, 0.5) is plain


def test_mixed_is_named_served_and_stored_as_a_learned_ranker() -> None:
    block = _block(1)
    ws = WeightedSum({"collaborative": 1.0})
    rank_lr = fit_listwise(block.x, block.starts, block.labels, base=ws, iterations=40)
    base_lr = fit_listwise(block.x, block.starts, block.labels, base=ws, iterations=5)
    cands = {
        "weighted_sum": ModeFit(ws, chosen="weighted_sum"),
        "learned": ModeFit(base_lr, chosen="learned"),
        "learned_rank": ModeFit(rank_lr, max_per_category=3, chosen="learned_rank"),
    }
    got = mixed(cands, block)
    assert list(got) == [MIX_NAME]
    fit = got[MIX_NAME]
    assert fit.chosen == MIX_NAME and fit.max_per_category == 3
    assert isinstance(fit.scorer, LinearRanker)
    assert fit.scorer.base_coef > rank_lr.base_coef  # mixed from learned_rank, the first source
    again = ModeFit.from_json(json.loads(json.dumps(fit.to_json())))
    assert again.chosen == MIX_NAME
    assert np.allclose(
        again.scorer.score(block.x, block.starts),
        fit.scorer.score(block.x, block.starts),
        atol=1e-4,
    )
    assert isinstance(scorer_from_json(fit.scorer.to_json()), LinearRanker)
    # Without a learned ranker there is nothing to mix.
    assert mixed({"weighted_sum": cands["weighted_sum"]}, block) == {}


def test_procedure_fits_the_mix_for_its_objectives_only() -> None:
    block = _block(2)
    opts = TuneOptions(passes=1)
    for mode in ("repeat", "new"):
        cands, _ = procedure(block, mode, opts, catalog_size=97)
        assert (MIX_NAME in cands) == (mode in MIX_MODES)
    no_learned, _ = procedure(block, "repeat", TuneOptions(passes=1, learned=False), 97)
    assert MIX_NAME not in no_learned
