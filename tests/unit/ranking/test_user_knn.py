"""Popularity among a customer's purchase neighbours (user-kNN) and the "knn" input set."""

from __future__ import annotations

import json

import numpy as np
from test_tuner import _shop, _sources

from recsys.ranking.features import FEATURES, INDEX, build_pool
from recsys.ranking.inputs import NAMES_OF, design
from recsys.ranking.item_stats import ItemStats, compute_item_stats
from recsys.ranking.learned import LinearRanker, fit_listwise, scale
from recsys.ranking.replay import TuneOptions
from recsys.ranking.tuning_gate import Gate
from recsys.ranking.types import Budgets, UserState
from recsys.ranking.user_knn import PurchaseNeighbours, UserScores

PAIRS = [
    ("a", "x"),
    ("a", "y"),
    ("b", "x"),
    ("b", "y"),
    ("b", "z"),
    ("c", "x"),
    ("c", "w"),
    ("d", "q"),
]


def _scores(index: PurchaseNeighbours, user: str, bought: list[str]) -> dict[str, float]:
    acc = index.scores(user, bought)
    return {p: round(float(acc[i]), 6) for i, p in enumerate(index.items) if acc[i] > 0}


def test_neighbours_share_of_similarity_that_bought_each_product() -> None:
    # GIVEN a shares both products with b and one with c; d shares none
    index = PurchaseNeighbours.from_pairs([*PAIRS, ("a", "x")])  # a repeat counts once
    # WHEN a's neighbours are asked (a itself is in the index)
    got = _scores(index, "a", ["x", "y"])
    # THEN b (cosine 2 / sqrt(2·3)) and c (1 / sqrt(2·2)) weigh in, a itself and d do not
    s_b, s_c = 2 / np.sqrt(6), 1 / np.sqrt(4)
    total = s_b + s_c
    assert got == {
        "x": 1.0,
        "y": round(s_b / total, 6),
        "z": round(s_b / total, 6),
        "w": round(s_c / total, 6),
    }
    assert "q" not in got


def test_only_the_k_most_similar_count_and_unknown_customers_get_nothing() -> None:
    index = PurchaseNeighbours.from_pairs(PAIRS, k=1)
    # the one neighbour is b, so c's product w gets nothing
    assert _scores(index, "a", ["x", "y"]) == {"x": 1.0, "y": 1.0, "z": 1.0}
    # a customer outside the index is scored by what they bought, with every other customer
    assert _scores(index, "new", ["q"]) == {"q": 1.0}
    assert not index.scores("new", ["never-sold"]).any()
    assert not index.scores("new", []).any()


def test_request_column_and_serialised_index_agree() -> None:
    index = PurchaseNeighbours.from_pairs(PAIRS)
    back = PurchaseNeighbours.from_json(json.loads(json.dumps(index.to_json())))
    ids = ["z", "w", "unknown", "x"]
    col = UserScores(index, "a", ["x", "y"]).column(ids)
    assert np.array_equal(col, UserScores(back, "a", ["x", "y"]).column(ids))
    assert col[2] == 0.0 and col[3] == 1.0 and col[0] > col[1] > 0
    assert not UserScores(None, "a", ["x"]).column(ids).any()
    assert not UserScores(PurchaseNeighbours.from_pairs([]), "a", ["x"]).column(ids).any()


def test_item_stats_keep_the_index_of_purchases_before_now() -> None:
    events, catalog = _shop()
    now = events[len(events) // 2].at
    stats = compute_item_stats(events, now=now, payloads=catalog.payloads)
    assert stats.neighbours is not None
    before = {
        (e.owner, e.product_id) for e in events if e.at < now and e.type == "purchase" and e.owner
    }
    pairs = {
        (stats.neighbours.users[u], stats.neighbours.items[i])
        for u, i in zip(stats.neighbours.pair_users, stats.neighbours.pair_items, strict=True)
    }
    assert pairs == before
    back = ItemStats.from_json(json.loads(json.dumps(stats.to_json())))
    assert back.neighbours is not None and back.neighbours.users == stats.neighbours.users
    assert np.array_equal(back.neighbours.pair_items, stats.neighbours.pair_items)


def test_pool_carries_the_neighbour_column_and_other_designs_ignore_it() -> None:
    events, catalog = _shop()
    now = events[len(events) // 2].at
    items, users, aggs, history = _sources(events, catalog, now)
    stats = compute_item_stats(events, now=now, payloads=catalog.payloads)
    user = UserState(user_id="u#1", purchases=history["u#1"])
    args = dict(now=now, items=items, users=users, aggregates=aggs, stats=stats, budgets=Budgets())
    pool = build_pool(user, buy_again=False, **args)  # type: ignore[arg-type]
    assert pool.x.shape == (len(pool.ids), len(FEATURES))
    expected = UserScores(stats.neighbours, "u#1", [p.product_id for p in user.purchases])
    assert np.allclose(pool.x[:, INDEX["user_knn"]], expected.column(pool.ids))
    assert pool.x[:, INDEX["user_knn"]].any()
    # Stored rankers of the other designs score the same whatever the column holds.
    x = pool.x
    y = x.copy()
    y[:, INDEX["user_knn"]] = 0.5
    for kind in ("base", "cross", "rank"):
        assert np.array_equal(design(x, scale(x), kind), design(y, scale(y), kind))
    a, b = design(x, scale(x), "knn"), design(y, scale(y), "knn")
    assert a.shape[1] == len(NAMES_OF["knn"]) and not np.array_equal(a, b)


def test_knn_ranker_learns_the_neighbours_pick_and_is_a_new_only_candidate() -> None:
    # GIVEN pools where the bought product is the one the neighbours bought most
    rng = np.random.default_rng(4)
    n, width = 600, 20
    x = rng.random((n * width, len(FEATURES))).astype(np.float32)
    x[:, INDEX["bought"]] = 0.0
    starts = np.arange(0, n * width, width, dtype=np.int64)
    labels = np.zeros(n * width, dtype=bool)
    for s in starts:
        labels[s + int(np.argmax(x[s : s + width, INDEX["user_knn"]]))] = True
    # WHEN the "knn" and the "cross" rankers are fitted on them
    knn = fit_listwise(x, starts, labels, inputs="knn")
    cross = fit_listwise(x, starts, labels, inputs="cross")

    def hit_rate(model: LinearRanker) -> float:
        scores = model.score(x, starts)
        return float(np.mean([labels[s + int(np.argmax(scores[s : s + width]))] for s in starts]))

    # THEN only the knn design finds it, and it reads back as fitted
    assert hit_rate(knn) > 0.9 > 0.2 > hit_rate(cross)
    back = LinearRanker.from_json(json.loads(json.dumps(knn.to_json())))
    assert np.allclose(back.score(x, starts), knn.score(x, starts), atol=1e-3)
    opts = TuneOptions()
    assert "knn" in opts.designs_of("new") and "knn" not in opts.designs_of("repeat")
    assert Gate().margin_of("learned_knn", 0.01) == 0.0


def test_rarity_weighting_trusts_neighbours_who_share_rare_products() -> None:
    # GIVEN a shares the bestseller x with b and the rare r with f, one product each
    pairs = [("a", "x"), ("a", "r"), ("b", "x"), ("b", "z"), ("f", "r"), ("f", "w")]
    pairs += [(f"o{i}", "x") for i in range(6)]
    plain = _scores(PurchaseNeighbours.from_pairs(pairs, k=10, idf=False), "a", ["x", "r"])
    rare = _scores(PurchaseNeighbours.from_pairs(pairs, k=10, idf=True), "a", ["x", "r"])
    # THEN the plain cosine weighs b and f alike; with rarity weights f's pick w wins
    assert plain["z"] == plain["w"]
    assert rare["w"] > rare["z"]
    back = PurchaseNeighbours.from_json(
        json.loads(json.dumps(PurchaseNeighbours.from_pairs(pairs, idf=True).to_json()))
    )
    assert back.idf is True
