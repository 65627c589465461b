"""The aggregates SQL (DuckDB here, Athena's text generated from it) against compute_aggregates.

The congruence test runs on real Online Retail invoices (the shipped sample) plus the event
kinds that table lacks (views, clicks, carts, wishlists, purchases without an order, anonymous
baskets, events after the clock), written to the local Parquet archive exactly as the nightly
job writes it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from recsys.aggregates.compute import Aggregates, compute_aggregates
from recsys.aggregates.sql import (
    ATHENA_SQL_FILE,
    SqlParams,
    athena_sql,
    duckdb_sql,
    run_duckdb,
    to_result,
    transpile_to_athena,
)
from recsys.datasets.retail_events import read_retail_events
from recsys.events.archive import archive_row, tombstone_row, write_rows, write_snapshot
from recsys.events.models import EVENT_TYPES, LoggedEvent, validate_events
from recsys.profiles.point import to_profile_event

pytest.importorskip("duckdb")

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "online_retail_sample.csv.gz"
DAY = 86400.0


def _extra_events(logged: list[LoggedEvent]) -> list[LoggedEvent]:
    """Event kinds Online Retail has none of, on its own products and customers."""
    newest = max(ev.at for ev in logged)
    products = sorted({ev.product_id for ev in logged if ev.product_id})[:40]
    owners = sorted({ev.owner for ev in logged if ev.owner.startswith("u#")})[:12]
    out: list[LoggedEvent] = []
    kinds = ("view", "click", "add_to_cart", "wishlist", "impression", "search")
    for i in range(600):
        pid = products[(i * 7) % len(products)]
        owner = owners[i % len(owners)]
        kind = kinds[i % len(kinds)]
        at = newest - (i % 50) * DAY / 2 - i
        out.append(
            LoggedEvent(
                event_id=f"x{i}",
                owner=owner,
                type=kind,
                at=at,
                product_id=None if kind == "search" else pid,
                query="mug" if kind == "search" else None,
            )
        )
    # Purchases without an order id: one owner's purchases of one day form a basket.
    for day in range(6):
        for j in range(3):
            out.append(
                LoggedEvent(
                    event_id=f"d{day}-{j}",
                    owner=owners[day % 3],
                    type="purchase",
                    at=newest - (day + 1) * DAY + j * 60,
                    product_id=products[(day + j) % 5],
                )
            )
    # Anonymous baskets (left out of co-purchase by default) and an event after the clock.
    for j in range(4):
        out.append(
            LoggedEvent(f"s{j}", "s#guest", "purchase", newest - DAY, None, "guest", products[j])
        )
    out.append(LoggedEvent("late", owners[0], "purchase", newest + 10, product_id=products[0]))
    return out


@pytest.fixture(scope="module")
def events() -> list[LoggedEvent]:
    logged, rejects = validate_events(list(read_retail_events(SAMPLE)), now=2e9)
    assert not rejects and len(logged) > 4000
    return logged + _extra_events(logged)


def _assert_same(python: Aggregates, sql: Aggregates) -> None:
    assert python.stats == sql.stats
    assert python.popularity_scores.keys() == sql.popularity_scores.keys()
    for pid, score in python.popularity_scores.items():
        assert sql.popularity_scores[pid] == pytest.approx(score, rel=1e-9, abs=1e-12), pid
    assert python.trending_scores.keys() == sql.trending_scores.keys()
    for pid, score in python.trending_scores.items():
        assert sql.trending_scores[pid] == pytest.approx(score, rel=1e-9), pid
    assert python.neighbours.keys() == sql.neighbours.keys()
    for pid, items in python.neighbours.items():
        got = sql.neighbours[pid]
        assert [p for p, _ in got] == [p for p, _ in items], pid
        assert [s for _, s in got] == pytest.approx([s for _, s in items], abs=1e-9), pid
    # Repeat buyers per product (what "buy again" weighs by): the same counts, and some repeat.
    assert python.repeat_buyers == sql.repeat_buyers
    assert sum(r > 0 for _, r in python.repeat_buyers.values()) > 10


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"session_baskets": True, "min_support": 1, "neighbours_per_item": 5},
        {"popularity_tau_days": 7.0, "trending_window_days": 3.0, "trending_min_count": 1.0},
    ],
    ids=["defaults", "sessions-support1-top5", "short-windows"],
)
def test_duckdb_sql_equals_compute_aggregates_on_online_retail(
    events: list[LoggedEvent], tmp_path: Path, options: dict[str, Any]
) -> None:
    # GIVEN Online Retail (+ the other event kinds) in the local archive
    write_snapshot(events, tmp_path)
    wall = 2_000_000_000.0  # far after the replayed history: the clock follows the log
    newest = max(ev.at for ev in events)
    # WHEN the SQL runs on DuckDB and the Python path runs on the same events
    result = to_result(
        run_duckdb(tmp_path, SqlParams(wall=wall, **options)), catalog_categories={"x": "A > B"}
    )
    python = compute_aggregates(
        [to_profile_event(ev) for ev in events],
        now=newest,
        catalog_categories={"x": "A > B"},
        **options,
    )
    # THEN the clock, popularity, trending and every neighbour list with its scores agree
    assert result.now == newest
    assert result.log_events == len(events)
    assert python.stats["baskets"] > 100 and len(python.trending_scores) > 10
    _assert_same(python, result.aggregates)
    assert result.aggregates.categories == python.categories


def test_the_sql_reads_the_log_as_it_stands(events: list[LoggedEvent], tmp_path: Path) -> None:
    # GIVEN a change log: every event put, some put twice (retries), one customer erased and one
    # session merged into a user (its events put under the user, deleted under the session)
    sample = events
    erased = next(ev.owner for ev in sample if ev.owner.startswith("u#"))
    guest = next(ev.owner for ev in sample if ev.owner.startswith("s#"))
    rows = [archive_row(ev, version=f"{i:040d}") for i, ev in enumerate(sample)]
    rows += [archive_row(ev, version=f"{10_000 + i:040d}") for i, ev in enumerate(sample[:500])]
    seq = 20_000
    survivors: list[LoggedEvent] = []
    for ev in sample:
        if ev.owner == erased:
            rows.append(tombstone_row(ev.owner, ev.sk, version=f"{seq:040d}"))
            seq += 1
        elif ev.owner == guest:
            moved = LoggedEvent(**{**ev.__dict__, "owner": "u#merged"})
            rows.append(archive_row(moved, version=f"{seq:040d}"))
            rows.append(tombstone_row(ev.owner, ev.sk, version=f"{seq + 1:040d}"))
            seq += 2
            survivors.append(moved)
        else:
            survivors.append(ev)
    write_rows(rows, tmp_path)
    # WHEN
    result = to_result(run_duckdb(tmp_path, SqlParams(wall=2e9)), catalog_categories={})
    # THEN the SQL sees what the log holds now, nothing erased, nothing twice
    python = compute_aggregates(
        [to_profile_event(ev) for ev in survivors],
        now=max(ev.at for ev in survivors),
        catalog_categories={},
    )
    assert result.log_events == len(survivors)
    _assert_same(python, result.aggregates)


def test_an_empty_archive_gives_empty_aggregates(tmp_path: Path) -> None:
    # GIVEN no archive at all WHEN the SQL runs THEN nothing, at the wall clock
    result = to_result(run_duckdb(tmp_path, SqlParams(wall=1e9)), catalog_categories={})
    assert result.now == 1e9 and result.log_events == 0
    assert not result.aggregates.popularity_scores and not result.aggregates.neighbours


def test_active_owners_are_those_with_events_in_the_window(tmp_path: Path) -> None:
    # GIVEN two owners, one active an hour before the clock, one 10 days before
    now = 1_700_000_000.0
    write_snapshot(
        [
            LoggedEvent("a", "u#recent", "view", now - 3600, product_id="p"),
            LoggedEvent("b", "u#old", "view", now - 10 * DAY, product_id="p"),
        ],
        tmp_path,
    )
    # WHEN
    result = to_result(
        run_duckdb(tmp_path, SqlParams(wall=now, follow_log=False)), catalog_categories={}
    )
    # THEN only the recent one is listed
    assert result.active_owners == ["u#recent"]


def test_the_athena_text_is_generated_from_the_duckdb_text() -> None:
    pytest.importorskip("sqlglot")
    # GIVEN the source text WHEN transpiled to Trino THEN it is the file that ships
    assert transpile_to_athena(duckdb_sql()) == ATHENA_SQL_FILE.read_text(encoding="utf-8"), (
        "stale: run python -m recsys.aggregates.sql --write"
    )


def test_the_athena_text_computes_the_same_rows(events: list[LoggedEvent], tmp_path: Path) -> None:
    sqlglot = pytest.importorskip("sqlglot")
    import duckdb

    # GIVEN the shipped Trino text read back as Trino and written for DuckDB
    (back,) = sqlglot.transpile(athena_sql(), read="trino", write="duckdb")
    write_snapshot(events, tmp_path)
    from recsys.events.archive import archive_relation

    con = duckdb.connect()
    con.execute(f"CREATE TEMP VIEW events_archive AS {archive_relation(tmp_path)}")
    values = SqlParams(wall=2e9).values()
    # WHEN both texts run on the same archive
    via_trino = to_result(con.execute(back, values).fetchall(), catalog_categories={})
    source = to_result(run_duckdb(tmp_path, SqlParams(wall=2e9)), catalog_categories={})
    # THEN they compute the same (sums in a parallel engine differ in the last bits only)
    assert (via_trino.now, via_trino.log_events) == (source.now, source.log_events)
    assert via_trino.active_owners == source.active_owners
    assert len(source.aggregates.neighbours) > 100
    _assert_same(source.aggregates, via_trino.aggregates)


def test_parameters_match_the_placeholders_and_event_types() -> None:
    # GIVEN the query texts and the parameter list
    values = SqlParams(wall=1.0).values()
    for text in (duckdb_sql(), athena_sql()):
        # THEN one value per placeholder, and the weights' VALUES list is every event type
        assert text.count("CAST(? AS") == text.count("?") - text.count("(?)") == len(values)
        assert tuple(re.findall(r"\('(\w+)', CAST\(\? AS DOUBLE\)\)", text)) == EVENT_TYPES
