"""Ranks of a request's signals within its candidate pool, and the "rank" input set."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from test_tuner import _shop, _sources

from recsys.ranking.features import FEATURES, INDEX, build_pool
from recsys.ranking.inputs import NAMES_OF, design
from recsys.ranking.item_stats import compute_item_stats
from recsys.ranking.learned import LinearRanker, fit_listwise, scale
from recsys.ranking.pool_ranks import RANK_NAMES, RANKED, pool_ranks
from recsys.ranking.types import Budgets, UserState

RANK_COLS = [INDEX[n] for n in RANK_NAMES]
RANKED_COLS = [INDEX[n] for n in RANKED]


def test_ranks_share_ties_and_skip_absent_values() -> None:
    # GIVEN one pool's values on two signals, with ties and candidates a source did not bring
    values = np.array([[3.0, 0.0], [1.0, 2.0], [3.0, 2.0], [0.0, 1.0]])
    # WHEN ranked within the pool
    out = pool_ranks(values)
    # THEN the strongest get 1 / log2(2) = 1, ties share a rank, absent values get 0
    assert out[:, 0].tolist() == [1.0, 0.5, 1.0, 0.0]
    assert out[:, 1].tolist() == [0.0, 1.0, 1.0, 0.5]
    assert pool_ranks(np.zeros((0, 2))).shape == (0, 2)


def test_served_pool_keeps_the_ranks_of_the_whole_pool() -> None:
    """Serving fetches only the best ``budgets.fetch`` candidates by the fitted score; their
    ranks are those of the whole pool the tuner fitted on, not of the fetched few."""
    events, catalog = _shop()
    now = events[len(events) // 2].at
    items, users, aggs, history = _sources(events, catalog, now)
    stats = compute_item_stats(events, now=now, payloads=catalog.payloads)
    user = UserState(user_id="u#1", purchases=history["u#1"])
    args = dict(now=now, items=items, users=users, aggregates=aggs, stats=stats, buy_again=True)
    whole = build_pool(user, budgets=Budgets(), **args)  # type: ignore[arg-type]
    assert whole.x.shape == (len(whole.ids), len(FEATURES))
    served = build_pool(
        user,
        budgets=replace(Budgets(), fetch=8),
        prescore=lambda x: x[:, INDEX["buyers"]],
        **args,  # type: ignore[arg-type]
    )
    assert len(served.ids) == 8 < len(whole.ids)
    row = {p: i for i, p in enumerate(whole.ids)}
    expected = whole.x[[row[p] for p in served.ids]][:, RANK_COLS]
    assert np.array_equal(served.x[:, RANK_COLS], expected)
    # ranked among the fetched eight alone, the values would differ
    raw = served.x[:, RANKED_COLS].astype(np.float64)
    assert not np.array_equal(pool_ranks(raw), expected)
    # the most bought products of the pool rank first on buyers
    top = int(np.argmax(whole.x[:, INDEX["buyers"]]))
    assert whole.x[top, INDEX["rank:buyers"]] == 1.0


def test_rank_columns_enter_the_rank_design_only() -> None:
    """Stored "base" and "cross" rankers score the same whatever the rank columns hold; the
    "rank" design reads them."""
    rng = np.random.default_rng(2)
    x = rng.random((60, len(FEATURES))).astype(np.float32)
    y = x.copy()
    y[:, RANK_COLS] = rng.random((60, len(RANK_COLS)))
    for kind in ("base", "cross"):
        assert np.array_equal(design(x, scale(x), kind), design(y, scale(y), kind))
    a, b = design(x, scale(x), "rank"), design(y, scale(y), "rank")
    assert a.shape[1] == len(NAMES_OF["rank"]) and not np.array_equal(a, b)


def test_rank_ranker_learns_a_within_pool_rank_and_serialises() -> None:
    """A shop where customers buy the second-strongest co-purchase partner of their pool, on
    a scale that differs by customer: the "rank" ranker finds it and reads back as fitted."""
    rng = np.random.default_rng(3)
    n, width = 900, 30
    raw = rng.random((n, len(FEATURES)))
    starts = np.arange(0, n, width)
    labels = np.zeros(n, dtype=bool)
    for s in starts:
        block = raw[s : s + width, INDEX["collab10"]] * rng.uniform(0.1, 100.0)
        raw[s : s + width, INDEX["collab10"]] = block
        raw[s : s + width, RANK_COLS] = pool_ranks(raw[s : s + width, RANKED_COLS])
        labels[s + int(np.argsort(-block)[1])] = True
    x = raw.astype(np.float32)
    model = fit_listwise(x, starts, labels, iterations=200, inputs="rank")
    scores = model.score(x, starts)
    assert np.mean([labels[s + int(np.argmax(scores[s : s + width]))] for s in starts]) >= 0.8
    data = json.loads(json.dumps(model.to_json()))
    again = LinearRanker.from_json(data)
    assert again.inputs == "rank" and np.allclose(again.score(x, starts), scores, atol=1e-4)
    assert set(RANK_NAMES) <= set(again.importance())
    with pytest.raises(ValueError):
        LinearRanker.from_json({**data, "inputs": "cross"})
