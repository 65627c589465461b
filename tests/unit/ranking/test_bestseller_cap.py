"""At most ``cap`` of the ``top_n`` bestsellers per list, and the "learned_cap" candidate."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from recsys.ranking import cap_candidate
from recsys.ranking.bestseller_cap import PENALTY, cap_bestsellers
from recsys.ranking.cap_candidate import CAP, capped_candidate, fit_cap
from recsys.ranking.features import FEATURES, INDEX
from recsys.ranking.fitted import ModeFit
from recsys.ranking.learned import LinearRanker, fit_listwise
from recsys.ranking.replay import Block


def _pop(ranks: list[int]) -> np.ndarray:
    return np.asarray([1.0 / math.log2(2.0 + r) for r in ranks], dtype=np.float32)


def test_bestsellers_beyond_the_cap_sink_per_request() -> None:
    # GIVEN two requests; bestseller ranks 0, 1, 2 are the top 3, rank 3 and beyond are not
    scores = np.asarray([5.0, 4.0, 3.0, 2.0, 9.0, 8.0, 1.0], dtype=np.float32)
    pop = _pop([0, 2, 1, 3, 1, 0, 7])
    starts = np.asarray([0, 4], dtype=np.int64)
    # WHEN at most one of the top 3 may stay in each
    out = cap_bestsellers(scores, pop, starts, top_n=3, cap=1)
    # THEN per request the best scored bestseller keeps its score and the others sink
    assert out.tolist() == [5.0, 4.0 - PENALTY, 3.0 - PENALTY, 2.0, 9.0, 8.0 - PENALTY, 1.0]
    assert np.array_equal(cap_bestsellers(scores, pop, None, top_n=0, cap=1), scores)
    one = cap_bestsellers(scores[:4], pop[:4], None, top_n=3, cap=2)
    assert one.tolist() == [5.0, 4.0, 3.0 - PENALTY, 2.0]


def _block(seed: int, avoid_bestsellers: bool) -> Block:
    """Pools of 20: the shop's bestsellers ranks 0-11 and eight products from rank 200 on;
    customers buy the most bought of the eight (or, without ``avoid_bestsellers``, the top
    bestseller)."""
    rng = np.random.default_rng(seed)
    n, width = 150, 20
    x = rng.random((n * width, len(FEATURES))).astype(np.float32) * 0.1
    x[:, INDEX["bought"]] = 0.0
    ranks = np.tile(np.r_[np.arange(12), np.arange(200, 208)], n)
    x[:, INDEX["pop_rank"]] = _pop(ranks.tolist())
    x[:, INDEX["buyers"]] = np.log1p(1000.0 / (1 + ranks))
    labels = ranks == (200 if avoid_bestsellers else 0)
    starts = np.arange(0, n * width, width, dtype=np.int64)
    return Block(
        users=[f"u{i}" for i in range(n)],
        x=x,
        starts=starts,
        labels=labels,
        items=[f"p{r}" for r in ranks],
        top_cat=[""] * len(x),
        n_truth=np.ones(n, dtype=np.float32),
        truth={},
    )


def test_cap_is_chosen_where_it_raises_recall_and_serialises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a ranker that puts bestsellers first, on shops where customers skip them or not
    skip, take = _block(1, avoid_bestsellers=True), _block(2, avoid_bestsellers=False)
    ranker = LinearRanker(
        mean=np.zeros(len(FEATURES), np.float32),
        std=np.ones(len(FEATURES), np.float32),
        coef=np.zeros(len(FEATURES), np.float32),
    )
    pop_first = fit_listwise(take.x, take.starts, take.labels, inputs="knn", iterations=30)
    # WHEN the cap is fitted on each
    # THEN one is chosen where bestsellers are skipped, none where they are bought
    assert fit_cap(pop_first, skip, k=10) != (0, 0)
    assert fit_cap(pop_first, take, k=10) == (0, 0)
    fits = {"learned_knn": ModeFit(pop_first, chosen="learned_knn")}
    assert capped_candidate(fits, skip, "new") == {}  # off unless an objective is named
    monkeypatch.setattr(cap_candidate, "CAP_MODES", ("new",))
    got = capped_candidate(fits, skip, "new")
    assert list(got) == [CAP] and got[CAP].chosen == CAP
    capped = got[CAP].scorer
    assert isinstance(capped, LinearRanker) and capped.top_n > 0
    back = LinearRanker.from_json(json.loads(json.dumps(capped.to_json())))
    assert (back.top_n, back.cap) == (capped.top_n, capped.cap)
    assert np.allclose(
        back.score(skip.x, skip.starts), capped.score(skip.x, skip.starts), atol=1e-2
    )
    # no candidate where no cap helps, in repeat, or without the source ranker
    assert capped_candidate(fits, take, "new") == {}
    assert list(capped_candidate(fits, take, "new", refit=True)) == [CAP]
    assert capped_candidate(fits, skip, "repeat") == {}
    assert capped_candidate({"learned": ModeFit(ranker)}, skip, "new") == {}
    # a ranker without a cap stores no cap fields
    assert "top_n" not in pop_first.to_json()
