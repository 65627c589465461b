"""Offline evaluation: metrics, the time split (no leakage) and a whole run on a toy shop."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recsys.cli import main
from recsys.core.config import Settings
from recsys.evaluation.data import load, parse_time, split_events
from recsys.evaluation.harness import MODELS, evaluate, prepare, sparse_variant
from recsys.evaluation.metrics import score_lists
from recsys.profiles.maths import ProfileEvent
from recsys.ranking.config import RankingConfig

SPLIT = parse_time("2024-06-01T00:00:00Z")
DAY = 86400.0


def test_metrics_on_a_hand_computed_case() -> None:
    # GIVEN two users: one hit at rank 2 of 2 relevant, one with no hit
    lists = {"u1": ["x", "a", "y"], "u2": ["z", "x"]}
    truth = {"u1": {"a", "b"}, "u2": {"q"}}
    # WHEN scored at k=3 over a catalog of 10
    s = score_lists(lists, truth, k=3, catalog_size=10)
    # THEN recall = (1/2 + 0)/2, hit rate 1/2, NDCG = ((1/log2 3)/(1 + 1/log2 3) + 0)/2
    assert s.recall == pytest.approx(0.25)
    assert s.hitrate == pytest.approx(0.5)
    assert s.ndcg == pytest.approx((0.6309298 / 1.6309298) / 2, rel=1e-5)
    assert s.coverage == pytest.approx(4 / 10)  # x, a, y, z
    assert s.users == 2


def test_users_without_a_list_count_as_misses() -> None:
    s = score_lists({}, {"u1": {"a"}}, k=10, catalog_size=5)
    assert (s.recall, s.users) == (0.0, 1)


def write_shop(tmp_path: Path) -> tuple[Path, Path]:
    """A toy catalog (JSON Lines) and events: mugs bought together, a late-only product."""
    products = [
        {"product_id": "mug", "title": "Blue ceramic mug", "category": "Kitchen > Mugs"},
        {"product_id": "tea", "title": "Green tea leaves", "category": "Kitchen > Tea"},
        {"product_id": "pot", "title": "Ceramic teapot", "category": "Kitchen > Tea"},
        {"product_id": "rake", "title": "Garden rake", "category": "Garden > Tools"},
        {"product_id": "hose", "title": "Garden hose 20 m", "category": "Garden > Tools"},
        {
            "product_id": "late",
            "title": "Launched after the split",
            "category": "Garden",
            "created_at": "2024-06-10T00:00:00Z",
        },
    ]
    events: list[dict[str, Any]] = []
    for u in range(12):
        base = SPLIT - (40 - u) * DAY
        pair = ("mug", "tea") if u % 2 else ("rake", "hose")
        for pid in pair:
            events.append(
                {
                    "user_id": f"c{u}",
                    "type": "purchase",
                    "product_id": pid,
                    "order_id": f"o{u}",
                    "timestamp": base,
                }
            )
        # after the split: each buys the third product of their shelf, some repeat
        third = "pot" if u % 2 else "late"
        events.append(
            {
                "user_id": f"c{u}",
                "type": "purchase",
                "product_id": third,
                "order_id": f"p{u}",
                "timestamp": SPLIT + DAY,
            }
        )
        events.append(
            {
                "user_id": f"c{u}",
                "type": "purchase",
                "product_id": pair[0],
                "order_id": f"p{u}",
                "timestamp": SPLIT + DAY,
            }
        )
    events.append(
        {
            "session_id": "anon",
            "type": "purchase",
            "product_id": "pot",
            "order_id": "s1",
            "timestamp": SPLIT + 2 * DAY,
        }
    )
    cat = tmp_path / "catalog.jsonl"
    cat.write_text("\n".join(json.dumps(p) for p in products))
    ev = tmp_path / "events.jsonl"
    ev.write_text("\n".join(json.dumps(e) for e in events))
    return cat, ev


def test_split_keeps_the_test_period_out_of_training(tmp_path: Path) -> None:
    # GIVEN a shop whose test period has purchases, a new product and an anonymous session
    cat, ev = write_shop(tmp_path)
    # WHEN it is split
    data = load(cat, ev, split=SPLIT)
    # THEN training holds only earlier events; the truth holds customers' later purchases;
    # the product launched after the split is not in the catalog; sessions are not scored
    assert data.train and all(e.at < SPLIT for e in data.train)
    assert "late" not in data.products
    assert data.truth["u#c1"] == {"pot", "mug"}
    assert data.truth["u#c0"] == {"late", "rake"}
    assert not any(u.startswith("s#") for u in data.truth)
    assert data.bought_before["u#c1"] == {"mug", "tea"}


def test_aggregates_and_profiles_see_nothing_after_the_split(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    # GIVEN the toy shop where "pot" is only bought after the split
    cat, ev = write_shop(tmp_path)
    prep = prepare(load(cat, ev, split=SPLIT), settings=make_settings())
    # THEN nothing fitted knows "pot" was ever bought
    assert prep.aggregates.popularity("pot") == 0.0
    assert all(p != "pot" for n in prep.aggregates.neighbours.values() for p, _ in n)
    assert all(pu.product_id != "pot" for h in prep.history.values() for pu in h)
    assert prep.inter.matrix[:, prep.inter.items["pot"]].sum() == 0


def test_evaluate_reports_every_model_under_both_protocols(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    # GIVEN the toy shop
    cat, ev = write_shop(tmp_path)
    prep = prepare(load(cat, ev, split=SPLIT), settings=make_settings())
    # WHEN evaluated
    result = evaluate(prep, config=RankingConfig(), k=3)
    # THEN both protocols list every model with the five figures
    assert set(result["protocols"]) == {"all", "new"}
    for protocol in result["protocols"].values():
        assert set(protocol) == set(MODELS)
        for m in protocol.values():
            assert set(m) == {"recall@3", "ndcg@3", "hitrate@3", "coverage@3", "users"}
    # "all": buying the first item again is predictable from history → the system finds it
    assert result["protocols"]["all"]["recsys"]["hitrate@3"] == 1.0
    # "new": repeats are not counted, so only the 6 teapot buyers can be hit
    assert result["protocols"]["new"]["recsys"]["users"] == 12


def test_evaluation_runs_on_the_multilingual_encoder(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    # GIVEN the toy shop embedded with the multilingual encoder (512-d, MiniLM is 384-d)
    cat, ev = write_shop(tmp_path)
    settings = make_settings(encoder_model="multilingual")
    prep = prepare(load(cat, ev, split=SPLIT), settings=settings)
    # THEN the profiles are built in its space, as long as its vectors and unit length
    assert prep.vectors.shape == (5, 512)
    assert prep.profiles and all(v.shape == (512,) for v in prep.profiles.values())
    assert all(abs(float(np.linalg.norm(v)) - 1.0) < 1e-5 for v in prep.profiles.values())
    # AND every model is scored under both protocols, the system finding the repeat purchase
    result = evaluate(prep, config=RankingConfig(), k=3)
    assert set(result["protocols"]["new"]) == set(MODELS)
    assert result["protocols"]["all"]["recsys"]["hitrate@3"] == 1.0


def test_sparse_variant_thins_training_only() -> None:
    events = [
        ProfileEvent("purchase", SPLIT - i * DAY, "a", order_id=f"o{i}", owner="u#1")
        for i in range(1, 200)
    ] + [ProfileEvent("purchase", SPLIT + DAY, "a", order_id="t", owner="u#1")]
    from recsys.catalog.schema import validate_rows

    products, _ = validate_rows([{"product_id": "a", "title": "A"}])
    full = split_events(events, {p.product_id: p for p in products}, split=SPLIT)
    thin = sparse_variant(full, keep_orders=0.3)
    assert 0.15 * len(full.train) < len(thin.train) < 0.45 * len(full.train)
    assert thin.truth == full.truth


def test_recsys_eval_cli_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the toy shop and an isolated data dir
    cat, ev = write_shop(tmp_path)
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tmp_path / "data"))
    # WHEN `recsys eval --json` runs
    code = main(
        [
            "eval",
            "--catalog",
            str(cat),
            "--events",
            str(ev),
            "--split",
            "2024-06-01T00:00:00Z",
            "--json",
        ]
    )
    # THEN it prints one JSON object of the documented shape
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["split"] == "2024-06-01T00:00:00Z"
    assert set(out["protocols"]["all"]["recsys"]) >= {
        "recall@10",
        "ndcg@10",
        "hitrate@10",
        "coverage@10",
        "users",
    }
    assert set(out["protocols"]["new"]) == set(MODELS)


def test_item_knn_uses_customers_baskets_and_scores_own_items() -> None:
    # GIVEN customers buying a with b in one order, a guest buying a with c twice
    from recsys.evaluation.baselines import Interactions, ItemKNN

    def buy(owner: str, order: str, *pids: str) -> list[ProfileEvent]:
        return [ProfileEvent("purchase", SPLIT - DAY, p, order_id=order, owner=owner) for p in pids]

    events = [
        *buy("u#1", "o1", "a", "b"),
        *buy("u#2", "o2", "a"),
        *buy("s#g", "o3", "a", "c"),
        *buy("s#g", "o4", "a", "c"),
    ]
    inter = Interactions.from_events(events, ["a", "b", "c"])
    # WHEN
    scores = ItemKNN(inter, events).score("u#2")
    # THEN b is a's neighbour (cos 1/sqrt(2·1)), c is not (only guests paired it), and the
    # customer's own a scores its self-similarity, all weighted by log(1 + 1 order)
    assert scores.tolist() == pytest.approx([math.log(2), math.log(2) / 2**0.5, 0.0])


def test_prefetched_neighbours_equal_one_by_one_answers() -> None:
    # GIVEN products with many identical vectors (category-only texts tie) and users
    from recsys.ranking.memory import ArrayItems, ArrayUsers
    from recsys.store.base import Filters

    rng = np.random.default_rng(3)
    base = rng.normal(size=(6, 16)).astype(np.float32)
    vectors = base[rng.integers(0, 6, size=300)]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"p{i}" for i in range(300)]
    items = ArrayItems(ids, vectors, {p: {"product_id": p} for p in ids})
    queries = [v.copy() for v in vectors[:40]]
    users = ArrayUsers([f"u{i}" for i in range(40)], np.stack(queries), {})
    filters = Filters(exclude_keys=ids[:25])
    exact = [items.nearest(q, limit=10, filters=filters) for q in queries]
    similar = [users.similar_users(q, limit=5, exclude=f"u{i}") for i, q in enumerate(queries)]
    # WHEN the same queries are prefetched in one block
    items.prefetch(queries, [ArrayItems.window(10, 25)] * len(queries))
    users.prefetch(queries, 5)
    # THEN every answer is the same, ties included, and the asker is never its own neighbour
    assert [items.nearest(q, limit=10, filters=filters) for q in queries] == exact
    assert [users.similar_users(q, limit=5, exclude=f"u{i}") for i, q in enumerate(queries)] == (
        similar
    )
    assert all(f"u{i}" not in [u for u, _, _ in s] for i, s in enumerate(similar))
    assert all(len(e) == 10 and not {p for p, _ in e} & set(ids[:25]) for e in exact)
