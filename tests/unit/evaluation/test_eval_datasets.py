"""Evaluation datasets: the Ta-Feng and Instacart loaders, the variants, the dataset registry,
and the batched baselines agreeing with per-user scoring."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from recsys.cli import main
from recsys.core.config import Settings
from recsys.datasets import instacart, ta_feng
from recsys.evaluation import datasets
from recsys.evaluation.baselines import DENSE_ITEMS, Interactions, ItemKNN, Popularity, top_k
from recsys.evaluation.data import EvalData, load, parse_time, source_format
from recsys.evaluation.harness import BlockRecommender, prepare
from recsys.profiles.maths import ProfileEvent

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TA_FENG = FIXTURES / "ta_feng_sample.csv"
SPLIT = parse_time("2001-02-01")
DAY = 86400.0


def _raw_rows() -> list[dict[str, str]]:
    with TA_FENG.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_ta_feng_sample_is_recognised_and_mapped_to_catalog_rows() -> None:
    # GIVEN the committed 771-line sample of the real table
    rows = _raw_rows()
    # WHEN its catalog is built
    catalog = ta_feng.load_catalog(TA_FENG)
    # THEN one row per PRODUCT_ID, whose only text is its subclass, first sold on its first day
    assert ta_feng.is_ta_feng(TA_FENG) and source_format(TA_FENG) == "ta-feng"
    assert len(catalog) == len({r["PRODUCT_ID"] for r in rows})
    first = rows[0]
    row = next(c for c in catalog if c["product_id"] == first["PRODUCT_ID"])
    assert row["title"] == row["category"] == f"subclass {first['PRODUCT_SUBCLASS']}"
    days = [
        parse_time(f"{y}-{int(m):02d}-{int(d):02d}")
        for m, d, y in (
            r["TRANSACTION_DT"].split("/") for r in rows if r["PRODUCT_ID"] == row["product_id"]
        )
    ]
    assert parse_time(row["created_at"]) == min(days)
    assert row["currency"] == "TWD" and row["price"] > 0


def test_ta_feng_events_are_purchases_in_customer_day_baskets() -> None:
    events = list(ta_feng.read_events(TA_FENG))
    rows = _raw_rows()
    assert len(events) == len(rows)
    ev, raw = events[0], rows[0]
    assert ev["type"] == "purchase" and ev["user_id"] == raw["CUSTOMER_ID"]
    m, d, y = raw["TRANSACTION_DT"].split("/")
    assert ev["timestamp"] == parse_time(f"{y}-{int(m):02d}-{int(d):02d}")
    assert ev["order_id"] == f"{raw['CUSTOMER_ID']}-{y}{int(m):02d}{int(d):02d}"
    # a basket is one customer's day: as many baskets as distinct (customer, day) pairs
    pairs = {(r["CUSTOMER_ID"], r["TRANSACTION_DT"]) for r in rows}
    assert len({e["order_id"] for e in events}) == len(pairs)


def test_ta_feng_split_keeps_february_out_of_training() -> None:
    # WHEN the sample is split at 2001-02-01 through the harness's loader
    data = load(TA_FENG, TA_FENG, split=SPLIT)
    # THEN training is before the split, every sampled customer is scored, and products first
    # sold in February are not in the catalog (but their purchases stay in the truth)
    assert data.train and all(e.at < SPLIT for e in data.train)
    assert len(data.truth) == 30
    later = {c["product_id"] for c in ta_feng.load_catalog(TA_FENG)} - set(data.products)
    assert later and all(parse_time(ta_row) >= SPLIT for ta_row in _created(later))
    assert any(t & later for t in data.truth.values())


def _created(pids: set[str]) -> list[str]:
    return [c["created_at"] for c in ta_feng.load_catalog(TA_FENG) if c["product_id"] in pids]


def _instacart_file(tmp_path: Path) -> Path:
    """Two customers in the sample's format: u1 with 3 orders, u2 with 2."""
    lines = [",".join(instacart.HEADER)]
    orders = [
        # order_id, user, number, hour, days since prior, products
        ("10", "1", 1, 8, "", ["a", "b"]),
        ("11", "1", 2, 9, "7.0", ["a"]),
        ("12", "1", 3, 10, "3.0", ["b", "c"]),
        ("20", "2", 1, 12, "", ["c"]),
        ("21", "2", 2, 13, "30.0", ["a", "d"]),
    ]
    n = 0
    for oid, user, number, hour, gap, products in orders:
        for pos, pid in enumerate(products, 1):
            lines.append(f"{n},{oid},{user},{number},1,{hour},{gap},{pid},{pos}.0,0.0")
            n += 1
    path = tmp_path / "instacart_sample.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_instacart_clock_holds_out_each_customers_last_order(tmp_path: Path) -> None:
    # GIVEN orders with day gaps and no dates
    path = _instacart_file(tmp_path)
    events = list(instacart.read_events(path))
    at = {e["order_id"]: e["timestamp"] for e in events}
    # THEN last orders sit on the anchor day, earlier ones one day + the gaps before it
    assert at["12"] == instacart.ANCHOR + 10 * 3600
    assert at["11"] == instacart.ANCHOR - (3 + 1) * DAY + 9 * 3600
    assert at["10"] == instacart.ANCHOR - (3 + 7 + 1) * DAY + 8 * 3600
    assert at["21"] == instacart.ANCHOR + 13 * 3600
    # AND a split at the anchor trains on all but the last orders and scores those
    data = load(path, path, split=instacart.ANCHOR)
    assert source_format(path) == "instacart"
    assert {e.order_id for e in data.train} == {"10", "11", "20"}
    assert data.truth == {"u#1": {"b", "c"}, "u#2": {"a", "d"}}
    assert "d" not in data.products  # first bought in a held-out order


def _ev(owner: str, pid: str, order: str, day: float) -> ProfileEvent:
    return ProfileEvent("purchase", SPLIT - day * DAY, pid, order_id=order, owner=owner)


def test_grocery_variant_keeps_the_most_bought_products_and_day_baskets() -> None:
    from recsys.catalog.schema import validate_rows

    products, _ = validate_rows([{"product_id": p, "title": p} for p in "abcd"])
    train = [
        _ev("u#1", "a", "o1", 3),
        _ev("u#1", "b", "o2", 3),  # same customer and day, another invoice
        _ev("u#2", "a", "o3", 2),
        _ev("u#3", "a", "o4", 2),
        _ev("u#2", "b", "o5", 1),
        _ev("u#3", "c", "o6", 1),
    ]
    data = EvalData(
        products={p.product_id: p for p in products},
        train=train,
        truth={"u#1": {"c"}, "u#2": {"a", "d"}},
        split=SPLIT,
    )
    # WHEN the two most-bought products are kept
    shop = datasets.grocery_variant(data, staples=2)
    # THEN a (3 buyers) and b (2) remain, c and d vanish from training, truth and catalog
    assert set(shop.products) == {"a", "b"}
    assert {e.product_id for e in shop.train} == {"a", "b"}
    assert shop.truth == {"u#2": {"a"}}
    # AND u#1's two invoices of one day are one basket
    assert len({e.order_id for e in shop.train if e.owner == "u#1"}) == 1


def test_sample_customers_is_deterministic_and_keeps_the_catalog() -> None:
    data = load(TA_FENG, TA_FENG, split=SPLIT)
    half = datasets.sample_customers(data, share=0.5)
    again = datasets.sample_customers(data, share=0.5)
    assert half.products == data.products
    assert set(half.truth) == set(again.truth) and 0 < len(half.truth) < len(data.truth)
    assert {e.owner for e in half.train} <= set(half.truth) | {e.owner for e in data.train}
    assert all(e.owner in {x.owner for x in half.train} for e in half.train)


def test_load_dataset_reads_a_source_and_caches_the_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an isolated data dir
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tmp_path / "data"))
    # WHEN the Ta-Feng dataset is loaded from the sample, twice
    first = datasets.load_dataset("ta-feng", source=TA_FENG)
    second = datasets.load_dataset("ta-feng@2001-01-15", source=TA_FENG)
    cached = datasets.load_dataset("ta-feng", source=TA_FENG)
    # THEN the default split is February, another split moves it, the cache gives the same data
    assert first.split == "2001-02-01" and second.split == "2001-01-15"
    assert len(second.data.train) < len(first.data.train)
    assert len(list((tmp_path / "data" / "eval-cache").glob("split-*.pickle"))) == 2
    assert cached.data.truth == first.data.truth and len(cached.data.train) == len(first.data.train)
    # AND products are embedded by their subclass text only
    product = next(iter(first.data.products.values()))
    assert first.texts is not None and first.texts(product).startswith("subclass ")
    with pytest.raises(ValueError, match="known: online-retail"):
        datasets.parse_name("nope")


def test_recsys_eval_runs_several_datasets_into_one_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the Ta-Feng sample standing in for the download
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(datasets, "source_path", lambda source, cache_dir=None: TA_FENG)
    out = tmp_path / "runs.json"
    # WHEN two datasets (one at another split) run in one go, two models each
    code = main(
        [
            "eval",
            "--dataset",
            "ta-feng,ta-feng@2001-01-20",
            "--models",
            "popularity,item_knn",
            "--json",
            "--out",
            str(out),
        ]
    )
    # THEN one JSON with both runs and both protocols per model, also written to --out
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert [r["split"] for r in printed["runs"]] == ["2001-02-01", "2001-01-20"]
    for run in printed["runs"]:
        assert set(run["protocols"]["new"]) == {"popularity", "item_knn"}
        assert run["protocols"]["all"]["item_knn"]["users"] > 0


def test_unknown_dataset_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--dataset", "nope"]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("dense", [True, False])
def test_batched_item_knn_lists_match_per_user_scoring(
    dense: bool, make_settings: Callable[..., Settings]
) -> None:
    # GIVEN the Ta-Feng sample, item-kNN with a dense or a sparse similarity matrix
    data = load(TA_FENG, TA_FENG, split=SPLIT)
    prep = prepare(data, settings=make_settings())
    assert len(prep.ids) < DENSE_ITEMS
    knn = ItemKNN(prep.inter, data.train, dense=dense)
    tiebreak = Popularity(prep.inter).scores
    users = sorted(data.truth)
    # WHEN lists come from blocks of users
    lists = BlockRecommender(prep, knn, tiebreak=tiebreak).recommend(
        users, k=10, exclude_bought=True
    )
    # THEN they are the per-user top 10 (own purchases excluded)
    for user in users:
        exclude = prep.inter.mask(data.bought_before, [user])[0]
        expected = top_k(knn.score(user), k=10, exclude=exclude, tiebreak=tiebreak)
        assert lists[user] == [prep.ids[i] for i in expected]
        assert not set(lists[user]) & data.bought_before.get(user, set())


def test_sparse_and_dense_item_knn_score_alike() -> None:
    data = load(TA_FENG, TA_FENG, split=SPLIT)
    ids = sorted(data.products)
    inter = Interactions.from_events(data.train, ids)
    users = sorted(data.truth)
    dense = ItemKNN(inter, data.train, dense=True).score_block(users)
    sparse = ItemKNN(inter, data.train, dense=False).score_block(users)
    assert np.allclose(dense, sparse, atol=1e-5) and dense.any()
