"""The self-tuning ranking: features, scorers, the tuner's protocol and the fitted configuration."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from recsys.aggregates.compute import Aggregates, compute_aggregates
from recsys.profiles.maths import ProfileEvent
from recsys.ranking.config import RankingConfig
from recsys.ranking.features import FEATURES, INDEX, build_pool
from recsys.ranking.fitted import FittedRanking, attach, candidate, fitted_of, rank
from recsys.ranking.item_stats import ADOPTION_DAYS, compute_item_stats
from recsys.ranking.learned import (
    NAMES_OF,
    LinearRanker,
    WeightedSum,
    fit_listwise,
    scale,
    top_k_blocks,
)
from recsys.ranking.memory import ArrayItems, ArrayUsers
from recsys.ranking.replay import Block, join_blocks, measure
from recsys.ranking.tuner import Catalog, TuneOptions, tune
from recsys.ranking.tuning_gate import Gate
from recsys.ranking.types import Budgets, Purchase, UserState
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
    cats = {p: str(catalog.payloads[p].get("category", "")) for p in catalog.ids}
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


def test_cross_inputs_learn_a_product_and_serialise() -> None:
    """The "cross" input set learns a signal that lives in a product of two features (a
    frequent staple: shopping-day share × the item's repeat rate), and reads back as fitted;
    a stored ranker is never scored with another input set."""
    rng = np.random.default_rng(1)
    x = rng.random((600, len(FEATURES))).astype(np.float32)
    starts = np.arange(0, 600, 30)
    labels = np.zeros(600, dtype=bool)
    signal = x[:, INDEX["repeat_share"]] * x[:, INDEX["repeat_rate"]]
    for s in starts:
        labels[s + int(np.argmax(signal[s : s + 30]))] = True
    model = fit_listwise(x, starts, labels, iterations=150, inputs="cross")
    assert model.inputs == "cross" and len(model.coef) == len(NAMES_OF["cross"])
    scores = model.score(x, starts)
    top = [s + int(np.argmax(scores[s : s + 30])) for s in starts]
    assert labels[top].mean() >= 0.8
    data = json.loads(json.dumps(model.to_json()))
    again = LinearRanker.from_json(data)
    assert again.inputs == "cross"
    assert np.allclose(again.score(x, starts), scores, atol=1e-4)
    assert set(again.importance()) == set(NAMES_OF["cross"])
    with pytest.raises(ValueError):
        LinearRanker.from_json({**data, "inputs": "base"})


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
        assert {"current", "weighted_sum", "learned"} <= set(entry["check_fit_window"])
        if entry["chosen"] == "weighted_sum" or entry["chosen"].startswith("learned"):
            # kept only when it beat the current configuration over both folds
            assert entry["chosen"] in entry["accepted"]
            assert entry["gain"][entry["chosen"]] > 1.0
            assert fitted.modes[mode].chosen == entry["chosen"]
        if {"weighted_sum", "learned"} <= set(entry["accepted"]):
            # both passed: a learned ranker (refitted on the latest windows) is served, the
            # accepted one with the larger gain
            assert entry["chosen"].startswith("learned")
            learned = [n for n in entry["accepted"] if n.startswith("learned")]
            assert entry["chosen"] == max(learned, key=lambda n: entry["gain"][n])
        # the gate's evidence for every candidate, and its decision
        assert set(entry["gate"]) == set(entry["gain"])
        for name, evidence in entry["gate"].items():
            stats = {**evidence, "gain": entry["gain"][name]}
            assert (name in entry["accepted"]) == Gate().accepts(name, stats, margin=0.01)
        for name in entry["accepted"]:
            folds = (check, entry["check_fit_window"])
            ratios = [f[name]["recall"] / f["current"]["recall"] for f in folds]
            assert np.mean(ratios) == pytest.approx(entry["gain"][name], abs=1e-3)
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


# --- three windows, the refit, the cached top-k and the newer features ----------------


def _block(rng: np.random.Generator, users: int, tag: str) -> Block:
    lengths = rng.integers(1, 30, size=users)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    n = int(lengths.sum())
    x = rng.integers(0, 4, size=(n, len(FEATURES))).astype(np.float32)  # many ties
    labels = rng.random(n) < 0.1
    items = [f"{tag}{i % 17}" for i in range(n)]
    return Block(
        users=[f"u#{tag}{u}" for u in range(users)],
        x=x,
        starts=starts,
        labels=labels,
        items=items,
        top_cat=[f"C{i % 3}" for i in range(n)],
        n_truth=np.maximum(np.add.reduceat(labels.astype(np.float32), starts), 1.0),
        truth={},
    )


def test_cached_top_k_is_top_k_blocks() -> None:
    rng = np.random.default_rng(1)
    block = _block(rng, 40, "a")
    scores = block.x[:, 0] + 0.5 * block.x[:, 1]
    for k in (1, 10, 50):
        want, want_mask = top_k_blocks(scores, block.starts, k=k)
        got, got_mask = block.top_k(scores, k)
        assert (got_mask == want_mask).all()
        assert (np.where(want_mask, want, -1) == got).all()


def test_joined_blocks_keep_each_window_s_pools() -> None:
    rng = np.random.default_rng(2)
    a, b = _block(rng, 25, "a"), _block(rng, 15, "b")
    joined = join_blocks(a, b)
    assert len(joined.users) == 40 and len(joined.x) == len(a.x) + len(b.x)
    assert (joined.scaled[: len(a.x)] == a.scaled).all()
    assert (joined.scaled[len(a.x) :] == b.scaled).all()
    scores = joined.x[:, 2]
    ma = measure(a, scores[: len(a.x)], catalog_size=34)
    mb = measure(b, scores[len(a.x) :], catalog_size=34)
    mj = measure(joined, scores, catalog_size=34)
    assert mj["recall"] == pytest.approx((25 * ma["recall"] + 15 * mb["recall"]) / 40, abs=1e-4)
    # coverage counts distinct items over both windows' lists
    assert mj["coverage"] >= max(ma["coverage"], mb["coverage"])


def test_adopters_count_first_purchases_in_the_last_days() -> None:
    now = 1_700_000_000.0
    ev = [
        ProfileEvent("purchase", now - 100 * DAY, "old", None, "o1", "u#1"),
        ProfileEvent("purchase", now - 5 * DAY, "old", None, "o2", "u#1"),  # not a first
        ProfileEvent("purchase", now - 5 * DAY, "old", None, "o3", "u#2"),  # first: adopter
        ProfileEvent("purchase", now - (ADOPTION_DAYS - 1) * DAY, "new", None, "o4", "u#3"),
        ProfileEvent("purchase", now - 2 * DAY, "new", None, "o5", "u#4"),
        ProfileEvent("purchase", now + DAY, "new", None, "o6", "u#5"),  # the future: unseen
    ]
    stats = compute_item_stats(ev, now=now, payloads={})
    assert stats.adopters == {"old": 1, "new": 2}
    again = type(stats).from_json(stats.to_json())
    assert again.adopters == stats.adopters
    assert again.table[again.row["new"], 7] == pytest.approx(np.log1p(2))


def test_personal_frequency_features() -> None:
    events, catalog = _shop(users=20, weeks=6)
    now = events[-1].at + DAY
    items, users, aggs, _ = _sources(events, catalog, now)
    stats = compute_item_stats(events, now=now, payloads=catalog.payloads)
    # Three shopping days; p001 bought on the last two, p002 on the first only.
    days = [now - 9 * DAY, now - 5 * DAY, now - 1 * DAY]
    purchases = [
        Purchase("p002", days[0]),
        Purchase("p003", days[0]),
        Purchase("p001", days[1]),
        Purchase("p001", days[2]),
    ]
    user = UserState(user_id="u#x", purchases=sorted(purchases, key=lambda p: -p.at))
    pool = build_pool(
        user,
        now=now,
        items=items,
        users=users,
        aggregates=aggs,
        stats=stats,
        budgets=Budgets(),
        buy_again=True,
    )
    row = {p: pool.x[i] for i, p in enumerate(pool.ids)}
    total = 1 + 0.7 + 0.49
    assert row["p001"][INDEX["repeat_share"]] == pytest.approx(2 / 3)
    assert row["p001"][INDEX["repeat_basket"]] == pytest.approx((1 + 0.7) / total, rel=1e-5)
    assert row["p002"][INDEX["repeat_basket"]] == pytest.approx(0.49 / total, rel=1e-5)
    never = next(p for p in pool.ids if p not in {"p001", "p002", "p003"})
    assert row[never][INDEX["repeat_share"]] == 0.0


def test_served_learned_ranker_is_refitted_on_the_latest_windows(fitted: FittedRanking) -> None:
    """What the check scored was fitted on the early and fit windows; what is served is the
    same fit on the fit and check windows — so it differs, and it is what the report keeps."""
    fit = fitted
    for mode in ("repeat", "new"):
        entry = fit.report["modes"][mode]
        assert entry["seconds"]["refit"] >= 0
        names = ("learned", "learned_cross") if mode == "new" else ("learned",)
        assert "learned_cross" not in entry["check"] or mode == "new"
        for name in (*names, "learned_rank"):  # ranks within the pool: both objectives
            served = candidate(fit, mode, name)
            assert served is not None
            if fit.modes.get(mode) is not None and entry["chosen"] == name:
                assert fit.modes[mode].to_json() == served.to_json()


def test_three_windows_need_the_history() -> None:
    events, catalog = _shop(weeks=5)
    opts = TuneOptions(window_days=14)
    short = tune(events, catalog, as_of=events[-1].at, options=opts)
    assert short.status == "cold" and "three windows" in short.report["reason"]


def test_listwise_fit_is_stable_in_float32() -> None:
    """The training products run in float32: the model still ranks its training signal."""
    rng = np.random.default_rng(4)
    x = rng.random((600, len(FEATURES))).astype(np.float32)
    starts = np.arange(0, 600, 30)
    labels = np.zeros(600, dtype=bool)
    for s in starts:
        labels[s + int(np.argmax(x[s : s + 30, INDEX["repeat_share"]]))] = True
    model = fit_listwise(x, starts, labels, l2=0.1)
    scores = model.score(x, starts)
    assert np.isfinite(scores).all()
    top = [s + int(np.argmax(scores[s : s + 30])) for s in starts]
    assert labels[top].mean() >= 0.8


def test_refit_can_be_turned_off(shop: tuple[list[ProfileEvent], Catalog]) -> None:
    """``refit=False`` serves exactly the ranker the check scored (fitted one window earlier)."""
    events, catalog = shop
    as_of = events[-1].at - 7 * DAY
    opts = TuneOptions(window_days=14, passes=1)
    refit = tune(events, catalog, as_of=as_of, options=opts, now=0)
    checked = tune(events, catalog, as_of=as_of, options=replace(opts, refit=False), now=0)
    for mode in ("repeat", "new"):
        assert refit.report["modes"][mode]["learned_fitted_on"] == "fit+check"
        assert checked.report["modes"][mode]["learned_fitted_on"] == "early+fit"
        # the same check either way: the refit changes what is served, not what was judged
        assert refit.report["modes"][mode]["check"] == checked.report["modes"][mode]["check"]
        a, b = candidate(refit, mode, "learned"), candidate(checked, mode, "learned")
        assert a is not None and b is not None and a.to_json() != b.to_json()


def test_all_time_bestsellers_are_candidates(shop: tuple[list[ProfileEvent], Catalog]) -> None:
    """The products with the most distinct buyers are in every pool (not only the 30-day
    decayed popular list), so a fitted scorer can at least rank as a bestseller list does."""
    events, catalog = shop
    now = events[len(events) // 2].at
    items, users, aggs, history = _sources(events, catalog, now)
    stats = compute_item_stats(events, now=now, payloads=catalog.payloads)
    assert stats.ranked[0] == max(stats.buyers, key=lambda p: (stats.buyers[p], p))
    user = UserState(user_id="u#1", purchases=history["u#1"])
    bought = {p.product_id for p in history["u#1"]}
    none = Budgets(
        popular=0, trending=0, categories=0, new_categories=0, ann=0, similar_users=0, seeds=0
    )
    args = dict(now=now, items=items, users=users, aggregates=aggs, stats=stats)
    pool = build_pool(user, buy_again=False, budgets=replace(none, bestsellers=5), **args)  # type: ignore[arg-type]
    expected = [p for p in stats.ranked if p not in bought][:5]
    assert sorted(pool.ids) == sorted(expected)
    off = build_pool(user, buy_again=False, budgets=replace(none, bestsellers=0), **args)  # type: ignore[arg-type]
    assert off.ids == []


def test_budgets_stored_before_the_bestseller_source_keep_their_pools() -> None:
    old = Budgets.from_json({"popular": 60, "trending": 25, "categories": 3})
    assert old.bestsellers == 0 and old.popular == 60 and old.new_categories == 3
    assert Budgets.from_json(Budgets().to_json()) == Budgets()
    assert Budgets().bestsellers > 0


def test_favourite_categories_break_ties_by_the_latest_purchase(
    shop: tuple[list[ProfileEvent], Catalog],
) -> None:
    """A short history buys one product per category: the category bought last is the
    favourite (not the first by name)."""
    events, catalog = shop
    now = events[len(events) // 2].at
    items, users, aggs, _ = _sources(events, catalog, now)
    stats = compute_item_stats(events, now=now, payloads=catalog.payloads)
    # p001 is in C1, p006 in C6: one purchase each, C6 the more recent
    purchases = [Purchase("p006", now - DAY), Purchase("p001", now - 5 * DAY)]
    user = UserState(user_id="u#new", purchases=purchases)
    none = Budgets(popular=0, trending=0, bestsellers=0, ann=0, similar_users=0, seeds=0)
    budgets = replace(none, categories=0, new_categories=1, per_category=3)
    args = dict(now=now, items=items, users=users, aggregates=aggs, stats=stats)
    pool = build_pool(user, budgets=budgets, buy_again=False, **args)  # type: ignore[arg-type]
    assert pool.ids and {catalog.payloads[p]["category"] for p in pool.ids} == {"C6"}
    assert sorted(pool.ids) == sorted([p for p in stats.by_category["C6"] if p != "p006"][:3])


def test_prescored_pool_of_a_shop_without_categories(
    shop: tuple[list[ProfileEvent], Catalog],
) -> None:
    """Serving pre-scores candidates before their payloads are read: a shop whose products
    have no category (no payload, nothing in the item statistics) still gets its pool."""
    events, catalog = shop
    now = events[len(events) // 2].at
    plain = Catalog(
        catalog.ids,
        catalog.vectors,
        {p: {k: v for k, v in d.items() if k != "category"} for p, d in catalog.payloads.items()},
    )
    items, users, aggs, history = _sources(events, plain, now)
    stats = compute_item_stats(events, now=now, payloads=plain.payloads)
    assert not stats.category
    user = UserState(user_id="u#1", purchases=history["u#1"])
    budgets = replace(Budgets(), fetch=5)
    args = dict(now=now, items=items, users=users, aggregates=aggs, stats=stats)
    pool = build_pool(
        user,
        budgets=budgets,
        buy_again=True,
        prescore=lambda x: x[:, INDEX["buyers"]],
        **args,  # type: ignore[arg-type]
    )
    assert 0 < len(pool.ids) <= 5
