"""Attribution state in one SQLite file: the embedded default (``stats_backend = "sqlite"``).

Same contract as the DynamoDB table (:class:`recsys.feedback.store.StatsStore`; the tests of
tests/integration/feedback run against both): served lists by request id, remembered clicks,
per-day counters with distinct users and shown products, exact under concurrent writers.

Why not the emulator: the local stack's DynamoDB is moto, one Python process that serialises
every request, and each request costs the API process a signed boto3 call under the
interpreter lock. Logging every served list there (two requests per reply) was most of what a
cached reply cost locally (docs/BENCHMARKS.md, "concurrency"), and moto's tables are in
memory: a ``kill -9`` lost every counter.

Served lists take the cheap path: :meth:`SqliteStatsStore.record_list` puts the list on a
bounded queue and returns; one writer thread per file and process (every function of the local
stack shares it) commits what has queued as one transaction — one row per list, one counter
update per (day, strategy, variant) per batch. A batch commits within milliseconds; anything
that reads lists or counters (attribution, ``/stats``) first waits until every list queued
before it is committed, so an event naming a list served a moment ago still finds it. A
``kill -9`` loses only lists still queued (never an event or a count of one: those are
written by the event path itself, committed before its 202); :meth:`close` drains the queue.

Event-path writes (clicks, counter deltas) are transactions with ``synchronous=FULL``, like the
event log; the writer's batches use ``NORMAL`` (committed and crash-safe in WAL mode, fsync'd at
the next full commit or checkpoint). Revenue is kept as a decimal string and added in Python
inside the transaction, so it stays exact.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from decimal import Decimal
from pathlib import Path
from typing import Any

from recsys.core.config import Settings
from recsys.core.errors import DependencyError
from recsys.core.sqlite_file import SqliteFile, connect, transaction
from recsys.feedback.model import (
    Click,
    Counts,
    ListInfo,
    ServedList,
    day_of,
    latest_clicks,
    pseudonym,
)

__all__ = ["SqliteStatsStore", "default_path"]

BucketKey = tuple[str, str, str]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lists (
    request_id TEXT PRIMARY KEY,
    strategy TEXT NOT NULL,
    variant TEXT NOT NULL,
    at REAL NOT NULL,
    cold INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS clicks (
    owner TEXT NOT NULL,
    product_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    strategy TEXT NOT NULL,
    variant TEXT NOT NULL,
    at REAL NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (owner, product_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (
    day TEXT NOT NULL,
    strategy TEXT NOT NULL,
    variant TEXT NOT NULL,
    lists INTEGER NOT NULL DEFAULT 0,
    cold_lists INTEGER NOT NULL DEFAULT 0,
    impressions INTEGER NOT NULL DEFAULT 0,
    clicks INTEGER NOT NULL DEFAULT 0,
    add_to_carts INTEGER NOT NULL DEFAULT 0,
    conversions INTEGER NOT NULL DEFAULT 0,
    revenue TEXT NOT NULL DEFAULT '0',
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (day, strategy, variant)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
    day TEXT NOT NULL,
    strategy TEXT NOT NULL,
    variant TEXT NOT NULL,
    kind TEXT NOT NULL,
    member TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (day, strategy, variant, kind, member)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS lists_expiry ON lists (expires_at);
CREATE INDEX IF NOT EXISTS clicks_expiry ON clicks (expires_at);
"""

#: Lists waiting for the writer before record_list pushes back (a reply then waits briefly).
_QUEUE_MAX = 20_000
_PRUNE_EVERY_S = 3600.0
#: How long the writer lets lists gather after the first one arrives.
_LINGER_S = 0.005


def default_path(settings: Settings) -> Path:
    """``stats_sqlite_path``, else ``<data_dir>/stats/stats.sqlite3``."""
    configured: Path | None = getattr(settings, "stats_sqlite_path", None)
    return configured if configured is not None else settings.data_dir / "stats" / "stats.sqlite3"


def _add_counts(conn: sqlite3.Connection, key: BucketKey, counts: Counts, expires_at: int) -> None:
    """Add ``counts`` to one bucket (inside the caller's transaction)."""
    row = conn.execute(
        "SELECT lists, cold_lists, impressions, clicks, add_to_carts, conversions, revenue "
        "FROM counters WHERE day = ? AND strategy = ? AND variant = ?",
        key,
    ).fetchone()
    old = row or (0, 0, 0, 0, 0, 0, "0")
    values = [old[i] + getattr(counts, n) for i, n in enumerate(Counts.COUNTERS)]
    revenue = Decimal(old[6]) + counts.revenue
    conn.execute(
        "INSERT OR REPLACE INTO counters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*key, *values, str(revenue), expires_at),
    )
    members = [("u", m) for m in counts.users] + [("p", m) for m in counts.shown]
    conn.executemany(
        "INSERT OR IGNORE INTO members VALUES (?, ?, ?, ?, ?, ?)",
        [(*key, kind, m, expires_at) for kind, m in members],
    )


class _ListWriter:
    """The one thread that commits served lists for a file, in batches (see module doc)."""

    def __init__(self, path: Path, *, list_ttl_s: int, day_ttl_s: int) -> None:
        self.path = path
        self.list_ttl_s = list_ttl_s
        self.day_ttl_s = day_ttl_s
        self.refs = 0
        self._lock = threading.Lock()
        #: Lists waiting, and the future of the batch they will be committed in (one future
        #: for the whole batch: a reply costs an append, not a future and its callbacks).
        self._pending: list[ServedList] = []
        self._batch: Future[None] = Future()
        self._wake = threading.Event()
        self._stopping = False
        self._conn = connect(path, role="stats file", synchronous="NORMAL")
        self._pruned_at = 0.0
        self._thread = threading.Thread(target=self._run, name="stats-writer", daemon=True)
        self._thread.start()

    def submit(self, served: ServedList) -> Future[None]:
        """Queue one list; the future is its batch's (done once the batch is committed)."""
        deadline = time.monotonic() + 2.0
        while True:
            with self._lock:
                if self._stopping:
                    raise DependencyError("stats file is closed")
                if len(self._pending) < _QUEUE_MAX:
                    self._pending.append(served)
                    batch = self._batch
                    break
            if time.monotonic() > deadline:  # back-pressure, then give up on this one list
                raise DependencyError("the stats writer is behind (served list not logged)")
            time.sleep(0.01)
        if not self._wake.is_set():
            self._wake.set()
        return batch

    def barrier(self) -> Future[None]:
        """Done once every list queued before it is committed."""
        with self._lock:
            batch = self._batch
        self._wake.set()
        return batch

    def close(self, timeout_s: float = 30.0) -> None:
        """Commit what is queued, then stop the thread (it closes its connection)."""
        with self._lock:
            self._stopping = True
        self._wake.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(_LINGER_S)  # let a burst gather into one transaction
            self._wake.clear()
            with self._lock:
                lists, self._pending = self._pending, []
                batch, self._batch = self._batch, Future()
                stopping = self._stopping
            try:
                if lists:
                    transaction(self._conn, functools.partial(self._write, lists=lists))
            except BaseException as exc:  # every list of the batch gets the error
                batch.set_exception(DependencyError(f"stats file write failed: {exc}"))
            else:
                batch.set_result(None)  # (with nothing queued: a barrier's answer)
            if stopping:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                return
            if time.monotonic() - self._pruned_at > _PRUNE_EVERY_S:
                self._pruned_at = time.monotonic()
                with contextlib.suppress(sqlite3.Error):
                    transaction(self._conn, _prune)

    def _write(self, conn: sqlite3.Connection, lists: Sequence[ServedList]) -> None:
        now = int(time.time())
        conn.executemany(
            "INSERT OR REPLACE INTO lists VALUES (?, ?, ?, ?, ?, ?)",
            [
                (s.request_id, s.strategy, s.variant, s.at, int(s.cold), now + self.list_ttl_s)
                for s in lists
            ],
        )
        buckets: dict[BucketKey, Counts] = {}
        for s in lists:
            c = buckets.setdefault((day_of(s.at), s.strategy, s.variant), Counts())
            c.lists += 1
            c.cold_lists += int(s.cold)
            if s.subject:
                c.users.add(pseudonym(s.subject))
        for key, counts in buckets.items():
            _add_counts(conn, key, counts, now + self.day_ttl_s)


def _prune(conn: sqlite3.Connection) -> None:
    now = int(time.time())
    for table in ("lists", "clicks", "counters", "members"):
        conn.execute(f"DELETE FROM {table} WHERE expires_at < ?", (now,))


_WRITERS: dict[Path, _ListWriter] = {}
_WRITERS_LOCK = threading.Lock()


class SqliteStatsStore:
    """The attribution items of :class:`~recsys.feedback.store.StatsStore`, in one file."""

    backend = "sqlite"

    def __init__(self, settings: Settings, *, path: Path | None = None) -> None:
        self.path = (path or default_path(settings)).resolve()
        self.list_ttl_s = int(settings.stats_list_retention_days * 86400)
        self.click_ttl_s = int(settings.attribution_window_s) + 86400
        self.day_ttl_s = int(settings.stats_retention_days * 86400)
        self._file = SqliteFile(self.path, role="stats file", schema=_SCHEMA)
        with _WRITERS_LOCK:
            writer = _WRITERS.get(self.path)
            if writer is None:
                writer = _WRITERS[self.path] = _ListWriter(
                    self.path, list_ttl_s=self.list_ttl_s, day_ttl_s=self.day_ttl_s
                )
            writer.refs += 1
        self._writer: _ListWriter | None = writer

    # --- connections ---------------------------------------------------------------------------
    def _run(self, what: str, fn: Any, *, write: bool = False) -> Any:
        return self._file.run(what, fn, tx=write)

    def _settled(self) -> None:
        """Wait until every list queued so far (by any store over this file) is committed."""
        if self._writer is not None:
            self._writer.barrier().result(30.0)

    def close(self) -> None:
        """Commit the queued lists (the last store over the file stops the writer)."""
        with _WRITERS_LOCK:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.refs -= 1
                if writer.refs == 0:
                    _WRITERS.pop(self.path, None)
                else:
                    writer = None
        if writer is not None:
            writer.close()
        self._file.close()

    # --- served lists -------------------------------------------------------------------------
    def record_list(self, served: ServedList) -> Future[None]:
        """Queue the list for the writer; the future is done once it is committed."""
        if self._writer is None:
            raise DependencyError("stats file is closed")
        return self._writer.submit(served)

    def lookup_lists(self, request_ids: Iterable[str]) -> dict[str, ListInfo]:
        """The served lists these request ids name (unknown or expired ones are absent)."""
        ids = sorted(set(request_ids))
        if not ids:
            return {}
        self._settled()
        now = int(time.time())
        rows = self._run("read", lambda c: _select_lists(c, ids, now))
        return {
            r[0]: ListInfo(strategy=r[1], variant=r[2], at=float(r[3]), cold=bool(r[4]))
            for r in rows
        }

    # --- clicks ---------------------------------------------------------------------------------
    def put_clicks(self, clicks: Sequence[Click]) -> None:
        """Remember each (owner, product)'s latest click (later clicks replace earlier ones)."""
        ttl = self.click_ttl_s
        rows = [
            (c.owner, c.product_id, c.request_id, c.strategy, c.variant, c.at, int(c.at) + ttl)
            for c in latest_clicks(clicks)
        ]
        self._run(
            "click write",
            lambda c: c.executemany("INSERT OR REPLACE INTO clicks VALUES (?,?,?,?,?,?,?)", rows),
            write=True,
        )

    def lookup_clicks(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Click]:
        """Remembered clicks by (owner pseudonym, product_id)."""
        wanted = sorted(set(keys))
        now = int(time.time())

        def read(conn: sqlite3.Connection) -> list[Any]:
            sql = (
                "SELECT owner, product_id, request_id, strategy, variant, at FROM clicks "
                "WHERE owner = ? AND product_id = ? AND expires_at >= ?"
            )
            return [r for o, p in wanted for r in conn.execute(sql, (o, p, now)).fetchall()]

        rows = self._run("click read", read) if wanted else []
        return {
            (r[0], r[1]): Click(
                owner=r[0],
                product_id=r[1],
                request_id=r[2],
                strategy=r[3],
                variant=r[4],
                at=float(r[5]),
            )
            for r in rows
        }

    # --- counters -------------------------------------------------------------------------------
    def add(self, deltas: Mapping[BucketKey, Counts]) -> None:
        """Add each bucket's counts, all in one transaction."""
        wanted = [(k, c) for k, c in deltas.items() if not c.is_empty()]
        if not wanted:
            return
        expires_at = int(time.time()) + self.day_ttl_s

        def apply(conn: sqlite3.Connection) -> None:
            for key, counts in wanted:
                _add_counts(conn, key, counts, expires_at)

        self._run("counter write", apply, write=True)

    def read_days(self, days: Sequence[str]) -> dict[BucketKey, Counts]:
        """Every bucket of these days (lists served until now included)."""
        if not days:
            return {}
        self._settled()
        marks = ",".join("?" * len(days))

        def read(conn: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
            counters = conn.execute(
                "SELECT day, strategy, variant, lists, cold_lists, impressions, clicks, "
                f"add_to_carts, conversions, revenue FROM counters WHERE day IN ({marks})",
                list(days),
            ).fetchall()
            members = conn.execute(
                f"SELECT day, strategy, variant, kind, member FROM members WHERE day IN ({marks})",
                list(days),
            ).fetchall()
            return counters, members

        counters, members = self._run("read", read)
        out: dict[BucketKey, Counts] = {}
        for row in counters:
            c = out.setdefault((row[0], row[1], row[2]), Counts())
            for i, name in enumerate(Counts.COUNTERS):
                setattr(c, name, int(row[3 + i]))
            c.revenue = Decimal(row[9])
        for day, strategy, variant, kind, member in members:
            c = out.setdefault((day, strategy, variant), Counts())
            (c.users if kind == "u" else c.shown).add(member)
        return out


def _select_lists(conn: sqlite3.Connection, ids: Sequence[str], now: int) -> list[Any]:
    rows: list[Any] = []
    for i in range(0, len(ids), 500):  # well below SQLite's bound-parameter limit
        part = ids[i : i + 500]
        marks = ",".join("?" * len(part))
        rows += conn.execute(
            "SELECT request_id, strategy, variant, at, cold FROM lists "
            f"WHERE request_id IN ({marks}) AND expires_at >= ?",
            [*part, now],
        ).fetchall()
    return rows
