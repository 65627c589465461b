"""The self-tuning ranking: features, scorers, the tuner's protocol and the fitted configuration."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from recsys.aggregates.compute import Aggregates, compute_aggregates
from recsys.profiles.maths import ProfileEvent
from recsys.ranking.config import RankingConfig
from recsys.ranking.features import FEATURES, INDEX, Budgets, build_pool
from recsys.ranking.fitted import FittedRanking, attach, fitted_of, rank
from recsys.ranking.item_stats import compute_item_stats
from recsys.ranking.learned import LinearRanker, WeightedSum, fit_listwise, scale
from recsys.ranking.memory import ArrayItems, ArrayUsers
from recsys.ranking.tuner import Catalog, TuneOptions, tune
from recsys.ranking.types import Purchase, UserState
from recsys.store.base import Filters

DAY = 86400.0
T0 = 1_600_000_000.0


def _shop(
    *, users: int = 90, items: int = 80, weeks: int = 14, seed: int = 3
) -> tuple[list[ProfileEvent], Catalog]:
    """A grocery-like shop: each customer re-buys a few staples weekly and tries one product,
    popular ones more often (Zipf)."""
    rng = np.random.default_rng(seed)
    ids = [f"p{i:03d}" for i in range(items)]
    vectors = rng.normal(size=(items, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    payloads = {
        p: {
            "product_id": p,
            "title": p,
            "category": f"C{i % 8}",
            "price": 1.0 + i % 5,
            "in_stock": True,
            "is_active": True,
        }
        for i, p in enumerate(ids)
    }
    zipf = 1.0 / np.arange(1, items + 1) ** 1.1
    zipf /= zipf.sum()
    events: list[ProfileEvent] = []
    for u in range(users):
        staples = rng.choice(items, 4, replace=False, p=zipf)
        for w in range(weeks):
            at = T0 + (w * 7 + int(rng.integers(0, 7))) * DAY + u
            order = f"o{u}-{w}"
            basket = set(rng.choice(staples, 2, replace=False).tolist())
            basket.add(int(rng.choice(items, p=zipf)))
            for i in sorted(basket):
                events.append(ProfileEvent("purchase", at, ids[i], None, order, f"u#{u}"))
    events.sort(key=lambda e: e.at)
    return events, Catalog(ids, vectors, payloads)


def _sources(
    events: list[ProfileEvent], catalog: Catalog, now: float
) -> tuple[ArrayItems, ArrayUsers, Aggregates, dict[str, list[Purchase]]]:
    train = [e for e in events if e.at < now]
    cats = {p: str(catalog.payloads[p]["category"]) for p in catalog.ids}
    aggs = compute_aggregates(train, now=now, catalog_categories=cats)
    history: dict[str, list[Purchase]] = {}
    for e in train:
        history.setdefault(e.owner or "", []).append(Purchase(e.product_id or "", e.at))
    for h in history.values():
        h.sort(key=lambda p: -p.at)
    items = ArrayItems(catalog.ids, catalog.vectors, catalog.payloads)
    users = ArrayUsers([], np.zeros((0, 16), dtype=np.float32), {})
    return items, users, aggs, history


@pytest.fixture(scope="module")
def shop() -> tuple[list[ProfileEvent], Catalog]:
    return _shop()


@pytest.fixture(scope="module")
def fitted(shop: tuple[list[ProfileEvent], Catalog]) -> FittedRanking:
    events, catalog = shop
    as_of = events[-1].at - 7 * DAY
    return tune(events, catalog, as_of=as_of, options=TuneOptions(window_days=14, passes=1))


def test_pool_features_and_exclusions(shop: tuple[list[ProfileEvent], Catalog]) -> None:
    events, catalog = shop
    now = events[len(events) // 2].at
    items, users, aggs, history = _sources(events, catalog, now)
    stats = compute_item_stats(events, now=now, payloads=catalog.payloads)
    user = UserState(user_id="u#1", purchases=history["u#1"])
    bought = {p.product_id for p in history["u#1"]}
    args = dict(now=now, items=items, users=users, aggregates=aggs, stats=stats, budgets=Budgets())
    with_repeat = build_pool(user, buy_again=True, **args)  # type: ignore[arg-type]
    assert with_repeat.x.shape == (len(with_repeat.ids), len(FEATURES))
    own = [i for i, p in enumerate(with_repeat.ids) if p in bought]
    assert own and (with_repeat.x[own, INDEX["bought"]] == 1).all()
    assert (with_repeat.x[own, INDEX["repeat_long"]] > 0).all()
    no_repeat = build_pool(
        user,
        buy_again=False,
        filters=Filters(exclude_keys=["p000"]),
        **args,  # type: ignore[arg-type]
    )
    assert not (set(no_repeat.ids) & (bought | {"p000"}))
    assert (no_repeat.x[:, INDEX["bought"]] == 0).all()


def test_stats_see_only_the_past(shop: tuple[list[ProfileEvent], Catalog]) -> None:
    events, catalog = shop
    now = events[len(events) // 2].at
    stats = compute_item_stats(events, now=now, payloads=catalog.payloads)
    past = compute_item_stats([e for e in events if e.at < now], now=now, payloads=catalog.payloads)
    assert stats.buyers == past.buyers and stats.repeat_rate == past.repeat_rate


def test_scale_is_per_user_block() -> None:
    x = np.zeros((4, len(FEATURES)), dtype=np.float32)
    x[:, INDEX["collab10"]] = [1.0, 2.0, 10.0, 5.0]
    s = scale(x, np.array([0, 2]))
    assert s[:, INDEX["collab10"]].tolist() == [0.5, 1.0, 1.0, 0.5]


def test_listwise_ranker_learns_the_label_signal() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((400, len(FEATURES))).astype(np.float32)
    starts = np.arange(0, 400, 20)
    labels = np.zeros(400, dtype=bool)
    for s in starts:  # the item with the largest cat_leaf in each block is the one bought
        labels[s + int(np.argmax(x[s : s + 20, INDEX["cat_leaf"]]))] = True
    model = fit_listwise(x, starts, labels, iterations=150)
    scores = model.score(x, starts)
    top = [s + int(np.argmax(scores[s : s + 20])) for s in starts]
    assert labels[top].mean() >= 0.9
    again = LinearRanker.from_json(json.loads(json.dumps(model.to_json())))
    assert np.allclose(again.score(x, starts), scores, atol=1e-4)


def test_tuner_never_reads_past_as_of(shop: tuple[list[ProfileEvent], Catalog]) -> None:
    events, catalog = shop
    as_of = events[-1].at - 7 * DAY
    opts = TuneOptions(window_days=14, passes=1, learned=False)
    before = tune([e for e in events if e.at < as_of], catalog, as_of=as_of, options=opts, now=0)
    everything = tune(events, catalog, as_of=as_of, options=opts, now=0)
    assert _untimed(before.to_json()) == _untimed(everything.to_json())


def _untimed(data: object) -> object:
    """The fitted configuration without its run-time measurements (seconds, memory)."""
    if isinstance(data, dict):
        return {k: _untimed(v) for k, v in data.items() if k not in ("seconds", "peak_rss_mib")}
    return data


def test_fit_is_checked_and_serialised(fitted: FittedRanking) -> None:
    assert fitted.status in ("fitted", "kept")
    for mode in ("repeat", "new"):
        entry = fitted.report["modes"][mode]
        check = entry["check"]
        assert {"current", "weighted_sum", "learned"} <= set(check)
        if entry["chosen"] in ("weighted_sum", "learned"):
            # kept only when it beat the current configuration on the check window
            assert check[entry["chosen"]]["recall"] > check["current"]["recall"]
            assert fitted.modes[mode].chosen == entry["chosen"]
    again = FittedRanking.from_json(json.loads(json.dumps(fitted.to_json())))
    assert again.to_json() == fitted.to_json()


def test_staples_shop_weighs_repeat_and_popularity(fitted: FittedRanking) -> None:
    """A shop whose customers re-buy staples: buy-again and popularity carry the fitted sum."""
    ws = WeightedSum.from_json(fitted.report["modes"]["repeat"]["weighted_sum"])
    assert ws.weights.get("repeat", 0) > 0
    assert fitted.report["repeat_share"] > 0.5


def test_serving_reads_the_fit_from_the_aggregates(
    shop: tuple[list[ProfileEvent], Catalog], fitted: FittedRanking
) -> None:
    events, catalog = shop
    now = events[-1].at
    items, users, aggs, history = _sources(events, catalog, now)
    assert fitted_of(aggs) is None
    attach(aggs, fitted)
    loaded = Aggregates.from_json(json.loads(json.dumps(aggs.to_json())))
    served = fitted_of(loaded)
    assert served is not None and served.version == fitted.version
    user = UserState(user_id="u#2", purchases=history["u#2"])
    config = RankingConfig()
    got = rank(
        user,
        now=now,
        limit=10,
        items=items,
        users=users,
        aggregates=loaded,
        config=replace(config, buy_again=False),
        fitted=served,
    )
    bought = {p.product_id for p in history["u#2"]}
    assert len(got) == 10 and not ({s.product_id for s in got} & bought)
    assert all(s.reason for s in got)
    fixed = rank(
        user,
        now=now,
        limit=10,
        items=items,
        users=users,
        aggregates=loaded,
        config=config,
        fitted=None,
    )
    assert len(fixed) == 10


def test_cold_store_keeps_the_safe_defaults(shop: tuple[list[ProfileEvent], Catalog]) -> None:
    events, catalog = shop
    young = [e for e in events if e.at < T0 + 10 * DAY]
    got = tune(young, catalog, as_of=T0 + 10 * DAY)
    assert got.status == "cold" and "reason" in got.report
    assert set(got.modes) == {"repeat", "new"}
    assert all(m.chosen == "cold_start" for m in got.modes.values())


def test_explicit_weights_win_over_the_fit(
    shop: tuple[list[ProfileEvent], Catalog], fitted: FittedRanking
) -> None:
    from recsys.core.config import Settings
    from recsys.ranking.service import Recommender

    events, catalog = shop
    _, _, aggs, _ = _sources(events, catalog, events[-1].at)
    attach(aggs, fitted)
    default = Recommender(settings=Settings(), store=lambda: None, aggregates=lambda: aggs)  # type: ignore[arg-type,return-value]
    assert default.fitted() is not None and default.fitted().version == fitted.version  # type: ignore[union-attr]
    variant = Recommender(
        settings=Settings(),
        store=lambda: None,  # type: ignore[arg-type,return-value]
        aggregates=lambda: aggs,
        config=RankingConfig.from_overrides({"ranking_w_content": 0.9}),
    )
    assert variant.fitted() is None
