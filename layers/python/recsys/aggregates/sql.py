"""The nightly aggregates as SQL over the event archive: DuckDB on one machine, Athena on AWS.

One query text, ``aggregates.sql`` (DuckDB's dialect), computes what ``compute_aggregates``
computes — decayed popularity, trending against the baseline, co-purchase neighbours with their
cosine scores — plus the figures the nightly job needs (its clock, how many events, who was
active). ``aggregates.athena.sql`` is the same text transpiled to Athena's Trino dialect by
sqlglot at build time (``python -m recsys.aggregates.sql --write``; a test fails when it is
stale), so neither sqlglot nor duckdb is needed on Lambda. The engine is a setting:
``RECSYS_AGGREGATES_ENGINE=python|duckdb|athena``.

The query returns rows ``(kind, k, k2, v)``: ("popularity", product, NULL, score),
("trending", product, NULL, score), ("neighbour", product, neighbour, cosine), ("owner", owner,
NULL, NULL) for owners active within ``active_days``, and ("stat", name, NULL, value) for
``now``, ``log_events``, ``events`` and ``baskets``. :func:`to_result` turns them into the same
:class:`Aggregates` the Python path returns (neighbour scores rounded alike).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from recsys.aggregates.compute import POPULARITY_WEIGHTS, Aggregates
from recsys.core.aws import client
from recsys.core.config import Settings
from recsys.core.errors import ConfigError, DependencyError
from recsys.events.models import EVENT_TYPES

SQL_FILE = Path(__file__).with_name("aggregates.sql")
ATHENA_SQL_FILE = Path(__file__).with_name("aggregates.athena.sql")
#: The relation the query reads: a view over the Parquet files (DuckDB), the Glue table (Athena).
ARCHIVE_TABLE = "events_archive"
_GENERATED = (
    "-- Generated from aggregates.sql by sqlglot (python -m recsys.aggregates.sql --write):\n"
    "-- the Athena (Trino) text of the same query. Do not edit; edit aggregates.sql.\n"
)


@dataclass(frozen=True)
class SqlParams:
    """The query's parameters; the defaults are ``compute_aggregates``'s."""

    wall: float
    #: Take the clock from the newest event when the log is older than a day (a replay).
    follow_log: bool = True
    popularity_tau_days: float = 30.0
    trending_window_days: float = 7.0
    trending_baseline_days: float = 28.0
    trending_min_count: float = 3.0
    trending_prior: float = 1.0
    min_support: int = 2
    neighbours_per_item: int = 50
    max_basket_items: int = 200
    session_baskets: bool = False
    active_days: float = 2.0
    weights: Mapping[str, float] = field(default_factory=lambda: dict(POPULARITY_WEIGHTS))

    def values(self) -> list[Any]:
        """Positional values, in the order of the query's ``?`` placeholders."""
        # The same float expressions as compute_aggregates, so both see the same bounds.
        return [
            float(self.wall),
            bool(self.follow_log),
            self.popularity_tau_days * 86400.0,
            self.trending_window_days * 86400.0,
            self.trending_baseline_days * 86400.0,
            self.trending_window_days / self.trending_baseline_days,
            float(self.trending_min_count),
            float(self.trending_prior),
            int(self.min_support),
            int(self.neighbours_per_item),
            int(self.max_basket_items),
            bool(self.session_baskets),
            self.active_days * 86400.0,
            *(float(self.weights.get(t, 0.0)) for t in EVENT_TYPES),
        ]


@dataclass
class SqlAggregates:
    """What the query returned: the aggregates and the nightly job's figures."""

    aggregates: Aggregates
    now: float
    log_events: int
    active_owners: list[str]


@cache
def duckdb_sql() -> str:
    """The query in DuckDB's dialect (the source text)."""
    return SQL_FILE.read_text(encoding="utf-8")


@cache
def athena_sql() -> str:
    """The query in Athena's dialect (generated, shipped beside the source)."""
    return ATHENA_SQL_FILE.read_text(encoding="utf-8")


def transpile_to_athena(text: str) -> str:
    """``text`` (DuckDB) in Athena's Trino dialect; needs sqlglot (build and test time only)."""
    import sqlglot

    (statement,) = sqlglot.transpile(
        text, read="duckdb", write="trino", pretty=True, comments=False
    )
    return _GENERATED + statement + "\n"


def to_result(
    rows: Iterable[Sequence[Any]], *, catalog_categories: Mapping[str, str]
) -> SqlAggregates:
    """The query's rows as :class:`Aggregates` plus the job's figures."""
    popularity: dict[str, float] = {}
    trending: dict[str, float] = {}
    per_item: dict[str, list[tuple[str, float]]] = defaultdict(list)
    owners: list[str] = []
    stats: dict[str, float] = {}
    buyers: dict[str, int] = {}
    repeaters: dict[str, int] = {}
    for kind, key, other, value in rows:
        if kind == "popularity":
            popularity[str(key)] = float(value)
        elif kind == "trending":
            trending[str(key)] = float(value)
        elif kind == "neighbour":
            per_item[str(key)].append((str(other), float(value)))
        elif kind == "buyers":
            buyers[str(key)] = int(value)
        elif kind == "repeaters":
            repeaters[str(key)] = int(value)
        elif kind == "owner":
            owners.append(str(key))
        elif kind == "stat":
            stats[str(key)] = float(value)
    neighbours: dict[str, list[tuple[str, float]]] = {}
    for pid, items in per_item.items():
        # Rows come in no order; rank exactly as the Python path does, then round alike.
        items.sort(key=lambda t: (-t[1], t[0]))
        neighbours[pid] = [(other, round(score, 6)) for other, score in items]
    now = stats.get("now", 0.0)
    agg = Aggregates(
        popularity_scores=popularity,
        trending_scores=trending,
        neighbours=neighbours,
        categories={p: c for p, c in catalog_categories.items() if c},
        computed_at=now,
        stats={
            "events": int(stats.get("events", 0)),
            "baskets": int(stats.get("baskets", 0)),
            "products": len(popularity),
        },
        repeat_buyers={p: (n, repeaters.get(p, 0)) for p, n in sorted(buyers.items())},
    )
    return SqlAggregates(agg, now, int(stats.get("log_events", 0)), sorted(owners))


# --- DuckDB (one machine) --------------------------------------------------------------------


def run_duckdb(
    archive_root: Path,
    params: SqlParams,
    *,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> list[tuple[Any, ...]]:
    """Run the query with DuckDB over the local archive under ``archive_root``."""
    from recsys.events.archive import archive_relation

    try:
        import duckdb
    except ImportError as exc:
        raise ConfigError("RECSYS_AGGREGATES_ENGINE=duckdb needs duckdb (recsys[local])") from exc
    config: dict[str, Any] = {}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = threads
    con = duckdb.connect(config=config)
    try:
        con.execute(f"CREATE TEMP VIEW {ARCHIVE_TABLE} AS {archive_relation(archive_root)}")
        rows: list[tuple[Any, ...]] = con.execute(duckdb_sql(), params.values()).fetchall()
    finally:
        con.close()
    return rows


# --- Athena (AWS) ----------------------------------------------------------------------------


def _literal(value: Any) -> str:
    # ExecutionParameters are SQL literals as text, applied to the ?s in order.
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


class AthenaQuery:
    """Runs the query on Athena: start, poll until done, read the result CSV from S3."""

    def __init__(self, settings: Settings, *, poll_s: float = 1.0) -> None:
        self.settings = settings
        self.athena = client("athena", settings)
        self.s3 = client("s3", settings)
        self.poll_s = poll_s

    def start(self, params: SqlParams) -> str:
        request: dict[str, Any] = {
            "QueryString": athena_sql(),
            "QueryExecutionContext": {"Database": self.settings.athena_database},
            "WorkGroup": self.settings.athena_workgroup,
            "ExecutionParameters": [_literal(v) for v in params.values()],
        }
        if self.settings.athena_output:
            request["ResultConfiguration"] = {"OutputLocation": self.settings.athena_output}
        try:
            query_id: str = self.athena.start_query_execution(**request)["QueryExecutionId"]
        except Exception as exc:  # boto raises many types; callers need one
            raise DependencyError(f"athena: cannot start the aggregates query: {exc}") from exc
        return query_id

    def wait(self, query_id: str) -> dict[str, Any]:
        """The finished execution; ``DependencyError`` if it failed, was cancelled or timed out."""
        deadline = time.monotonic() + self.settings.athena_timeout_s
        delay = self.poll_s
        while True:
            execution: dict[str, Any] = self.athena.get_query_execution(QueryExecutionId=query_id)[
                "QueryExecution"
            ]
            status = execution["Status"]
            if status["State"] == "SUCCEEDED":
                return execution
            if status["State"] in ("FAILED", "CANCELLED"):
                reason = status.get("StateChangeReason", "")
                raise DependencyError(f"athena query {query_id} {status['State']}: {reason}")
            if time.monotonic() > deadline:
                self.athena.stop_query_execution(QueryExecutionId=query_id)
                raise DependencyError(f"athena query {query_id} still running; stopped")
            time.sleep(delay)
            delay = min(delay * 1.5, 10.0)

    def rows(self, execution: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The result rows, read from the CSV Athena wrote (header first, NULL as empty)."""
        location = execution["ResultConfiguration"]["OutputLocation"]
        bucket, _, key = location.removeprefix("s3://").partition("/")
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"]
        reader = csv.reader(io.TextIOWrapper(body, encoding="utf-8", newline=""))
        header = next(reader, None)
        if header != ["kind", "k", "k2", "v"]:
            raise DependencyError(f"athena result {location}: unexpected header {header}")
        return [(kind, k or None, k2 or None, float(v) if v else None) for kind, k, k2, v in reader]

    def run(self, params: SqlParams) -> list[tuple[Any, ...]]:
        return self.rows(self.wait(self.start(params)))


def compute_with_sql(
    settings: Settings, params: SqlParams, *, catalog_categories: Mapping[str, str]
) -> SqlAggregates:
    """The aggregates by the SQL engine ``settings.aggregates_engine`` (duckdb or athena)."""
    from recsys.events.archive import local_archive_dir

    if settings.aggregates_engine == "duckdb":
        rows = run_duckdb(
            local_archive_dir(settings), params, memory_limit=settings.duckdb_memory_limit
        )
    elif settings.aggregates_engine == "athena":
        rows = AthenaQuery(settings).run(params)
    else:
        raise ConfigError(f"not an SQL engine: {settings.aggregates_engine!r}")
    return to_result(rows, catalog_categories=catalog_categories)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m recsys.aggregates.sql --write|--check``: regenerate / verify the Athena text."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true")
    group.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = transpile_to_athena(duckdb_sql())
    if args.write:
        ATHENA_SQL_FILE.write_text(text, encoding="utf-8")
        return 0
    current = ATHENA_SQL_FILE.read_text(encoding="utf-8") if ATHENA_SQL_FILE.exists() else ""
    if current != text:
        print(f"{ATHENA_SQL_FILE} is stale: run python -m recsys.aggregates.sql --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
