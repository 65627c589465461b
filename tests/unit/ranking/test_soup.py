"""The mean of the learned rankers (candidate "learned_mean")."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys.ranking.features import FEATURES, INDEX
from recsys.ranking.fitted import ModeFit
from recsys.ranking.learned import LinearRanker, WeightedSum, fit_listwise, scale
from recsys.ranking.soup import MEAN, mean_candidate, mean_ranker


def _pools(seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n, width = 200, 15
    x = rng.random((n * width, len(FEATURES))).astype(np.float32)
    x[:, INDEX["bought"]] = 0.0
    starts = np.arange(0, n * width, width, dtype=np.int64)
    labels = np.zeros(n * width, dtype=bool)
    for s in starts:
        pick = x[s : s + width, INDEX["buyers"]] + x[s : s + width, INDEX["user_knn"]]
        labels[s + int(np.argmax(pick))] = True
    return x, starts, labels


def test_mean_ranker_scores_the_mean_of_its_members() -> None:
    # GIVEN four rankers over nested input sets, fitted on the same rows from one weighted sum
    x, starts, labels = _pools()
    ws = WeightedSum({"popularity": 1.0, "content": 0.5})
    members = [
        fit_listwise(x, starts, labels, base=ws, l2=0.3, inputs=d, iterations=40)
        for d in ("base", "cross", "rank", "knn")
    ]
    # WHEN they are averaged into one ranker
    mean = mean_ranker(members)
    # THEN it scores each row by the mean of the members' scores, and reads back as fitted
    expected = np.mean([m.score(x, starts) for m in members], axis=0)
    assert np.allclose(mean.score(x, starts), expected, atol=1e-4)
    assert np.allclose(mean.score(x, starts, scale(x, starts)), expected, atol=1e-4)
    back = LinearRanker.from_json(json.loads(json.dumps(mean.to_json())))
    assert np.allclose(back.score(x, starts), expected, atol=1e-3)
    assert mean.importance()["weighted_sum"] > 0


def test_members_of_other_weighted_sums_are_refused() -> None:
    x, starts, labels = _pools()
    a = fit_listwise(x, starts, labels, base=WeightedSum({"popularity": 1.0}), iterations=5)
    b = fit_listwise(x, starts, labels, base=WeightedSum({"content": 1.0}), iterations=5)
    with pytest.raises(ValueError):
        mean_ranker([a, b])
    with pytest.raises(ValueError):
        mean_ranker([])


def test_candidate_is_formed_in_new_from_the_design_rankers_only() -> None:
    x, starts, labels = _pools()
    ws = WeightedSum({"popularity": 1.0})
    fits = {
        name: ModeFit(fit_listwise(x, starts, labels, base=ws, inputs=d, iterations=5))
        for name, d in (("learned", "base"), ("learned_knn", "knn"), ("learned_clicks", "base"))
    }
    fits["weighted_sum"] = ModeFit(ws)
    got = mean_candidate(fits, "new")
    assert list(got) == [MEAN] and got[MEAN].chosen == MEAN
    members = [fits["learned"].scorer, fits["learned_knn"].scorer]
    expected = np.mean([m.score(x, starts) for m in members], axis=0)
    assert np.allclose(got[MEAN].scorer.score(x, starts), expected, atol=1e-4)
    assert mean_candidate(fits, "repeat") == {}
    assert mean_candidate({"learned": fits["learned"]}, "new") == {}
