"""The embedded event log: one SQLite file in WAL mode, committed with fsync before any reply.

The default on one machine (``events_backend = "sqlite"``): the local stack's DynamoDB is an
in-memory emulator, so a crash of its process lost every event it held. Here a write returns
only after its transaction is committed with ``synchronous=FULL`` (the WAL is fsync'd on every
commit), so an event that got its 202 survives ``kill -9`` of every process, and a power cut.

It keeps the DynamoDB log's contract (same methods, same results; the contract tests in
tests/integration/events/test_event_log.py run against both):
- events keyed (owner, sk) with sk ``<epoch ms>#<event_id>``; one claim per event_id;
- a write is exactly once per event_id and its counts are exact: the whole request is one
  transaction (SQLite serialises writers, across threads and processes), the claim is an
  ``INSERT OR IGNORE`` and the outcome of that insert is what is counted;
- a claim and its event are written in the same transaction, so there is no half-written state
  to repair;
- erasure, re-keying and pruning are single transactions too.

Events are stored as JSON (the attributes of :class:`LoggedEvent`); the key columns and
``expires_at`` are real columns with indexes. Each thread keeps its own connection (SQLite
connections are not shared between threads); all are closed by :meth:`close`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from recsys.core.config import Settings
from recsys.core.sqlite_file import SqliteFile
from recsys.events.models import LoggedEvent, WriteResult, sk_lower_bound

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    owner TEXT NOT NULL,
    sk TEXT NOT NULL,
    event_id TEXT NOT NULL,
    data TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (owner, sk)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS claims (
    event_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    event_sk TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_expiry ON events (expires_at);
CREATE INDEX IF NOT EXISTS claims_expiry ON claims (expires_at);
"""

#: Rows read per statement by ``scan`` (keyset pages, so no cursor stays open between pages).
_SCAN_PAGE = 5000


def default_path(settings: Settings) -> Path:
    """Where the log lives: ``events_sqlite_path``, else ``<data_dir>/events/events.sqlite3``."""
    configured: Path | None = getattr(settings, "events_sqlite_path", None)
    return configured if configured is not None else settings.data_dir / "events" / "events.sqlite3"


def _encode(ev: LoggedEvent) -> str:
    data = ev.to_json()
    if not ev.client_time:
        data["server_time"] = True
    # allow_nan=False: validation already refuses non-finite numbers; never store one.
    return json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def _decode(text: str) -> LoggedEvent:
    data: dict[str, Any] = json.loads(text)
    server_time = bool(data.pop("server_time", False))
    return LoggedEvent(
        event_id=data["event_id"],
        owner=data["owner"],
        type=data["type"],
        at=float(data["at"]),
        user_id=data.get("user_id"),
        session_id=data.get("session_id"),
        product_id=data.get("product_id"),
        query=data.get("query"),
        order_id=data.get("order_id"),
        quantity=data.get("quantity"),
        price=float(data["price"]) if data.get("price") is not None else None,
        context=data.get("context"),
        client_time=not server_time,
    )


class SqliteEventLog:
    """The event-log contract on one SQLite file (see module doc)."""

    backend = "sqlite"

    def __init__(
        self, settings: Settings, *, path: Path | None = None, threads: int | None = None
    ) -> None:
        # ``threads`` is accepted for the same signature as the DynamoDB log: SQLite has one
        # writer at a time, so a pool would only wait on the lock.
        del threads
        self.settings = settings
        self.path = (path or default_path(settings)).resolve()
        self.retention_s = settings.events_retention_days * 86400
        # FULL: a committed write survives a power cut, not only a crash of the process.
        self._file = SqliteFile(self.path, role="event log", schema=_SCHEMA, synchronous="FULL")

    # --- connections ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close every connection (a checkpoint folds the WAL into the main file)."""
        self._file.close()

    def _run(self, what: str, fn: Any) -> Any:
        return self._file.run(what, fn)

    def _tx(self, what: str, fn: Any) -> Any:
        return self._file.run(what, fn, tx=True)

    def ping(self) -> dict[str, Any]:
        """Cheap readiness probe: the file opens and answers a query."""
        self._run("probe", lambda c: c.execute("SELECT 1 FROM events LIMIT 1").fetchall())
        return {"backend": self.backend, "path": str(self.path)}

    # --- writing ------------------------------------------------------------------------------
    def write(self, events: Sequence[LoggedEvent]) -> WriteResult:
        """Log ``events`` durably and exactly once per event_id; returns what was new."""
        result, firsts = WriteResult.first_of_each(events)
        if not firsts:
            return result
        expires_at = int(time.time()) + self.retention_s
        rows = [(ev, _encode(ev)) for ev in firsts]

        def apply(conn: sqlite3.Connection) -> None:
            for ev, data in rows:
                claimed = conn.execute(
                    "INSERT OR IGNORE INTO claims VALUES (?, ?, ?, ?)",
                    (ev.event_id, ev.owner, ev.sk, expires_at),
                ).rowcount
                if claimed != 1:
                    result.duplicates.append(ev)
                    continue
                conn.execute(
                    "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?)",
                    (ev.owner, ev.sk, ev.event_id, data, expires_at),
                )
                result.written.append(ev)

        self._tx("write", apply)
        return result

    # --- reading ------------------------------------------------------------------------------
    def query(
        self,
        owner: str,
        *,
        after_sk: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[LoggedEvent]:
        """An owner's events in time order (or newest first), after a sort key or since a time."""
        sql = "SELECT data FROM events WHERE owner = ?"
        args: list[Any] = [owner]
        lower, exclusive = sk_lower_bound(after_sk, since)
        if lower is not None:
            sql += " AND sk > ?" if exclusive else " AND sk >= ?"
            args.append(lower)
        sql += " ORDER BY sk DESC" if newest_first else " ORDER BY sk"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        rows = self._run("query", lambda c: c.execute(sql, args).fetchall())
        return [_decode(r[0]) for r in rows]

    def recent(self, owner: str, n: int) -> list[LoggedEvent]:
        """The owner's last ``n`` events, oldest first."""
        return list(reversed(self.query(owner, limit=n, newest_first=True)))

    def scan(self, *, segments: int = 4) -> Iterator[LoggedEvent]:
        """Every logged event, in (owner, sort key) order; read in keyset pages."""
        del segments  # one file, one reader: pages instead of parallel segments
        last: tuple[str, str] | None = None
        args: list[Any]
        while True:
            if last is None:
                sql, args = (
                    "SELECT owner, sk, data FROM events ORDER BY owner, sk LIMIT ?",
                    [_SCAN_PAGE],
                )
            else:
                sql = (
                    "SELECT owner, sk, data FROM events WHERE (owner, sk) > (?, ?) "
                    "ORDER BY owner, sk LIMIT ?"
                )
                args = [last[0], last[1], _SCAN_PAGE]
            rows = self._run("scan", lambda c, s=sql, a=args: c.execute(s, a).fetchall())
            for _owner, _sk, data in rows:
                yield _decode(data)
            if len(rows) < _SCAN_PAGE:
                return
            last = (rows[-1][0], rows[-1][1])

    def count(self) -> int:
        """How many events the log holds (health and the nightly job's sanity check)."""
        row = self._run("count", lambda c: c.execute("SELECT COUNT(*) FROM events").fetchone())
        return int(row[0])

    # --- erasing ------------------------------------------------------------------------------
    def delete_owner(self, owner: str) -> int:
        """Erase every event of ``owner`` and their idempotency items; returns how many events."""

        def apply(conn: sqlite3.Connection) -> int:
            rows = conn.execute("SELECT event_id FROM events WHERE owner = ?", (owner,))
            ids = [r[0] for r in rows]
            conn.executemany("DELETE FROM claims WHERE event_id = ?", [(i,) for i in ids])
            conn.execute("DELETE FROM events WHERE owner = ?", (owner,))
            return len(ids)

        deleted: int = self._tx("erase", apply)
        return deleted

    def move_owner(self, source: str, target: str) -> int:
        """Re-key ``source``'s events under ``target`` (a session merging into its user)."""

        def apply(conn: sqlite3.Connection) -> int:
            rows = conn.execute(
                "SELECT sk, data, expires_at FROM events WHERE owner = ?", (source,)
            ).fetchall()
            for sk, data, expires_at in rows:
                ev = _decode(data)
                moved = LoggedEvent(**{**ev.__dict__, "owner": target})
                conn.execute(
                    "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?)",
                    (target, sk, ev.event_id, _encode(moved), expires_at),
                )
                conn.execute(
                    "UPDATE claims SET owner = ? WHERE event_id = ?", (target, ev.event_id)
                )
            conn.execute("DELETE FROM events WHERE owner = ?", (source,))
            return len(rows)

        moved: int = self._tx("merge", apply)
        return moved

    def prune_expired(self, *, now: float | None = None) -> int:
        """Delete items whose ``expires_at`` has passed; returns how many events went."""
        cutoff = int(time.time() if now is None else now)

        def apply(conn: sqlite3.Connection) -> int:
            n = conn.execute("DELETE FROM events WHERE expires_at < ?", (cutoff,)).rowcount
            conn.execute("DELETE FROM claims WHERE expires_at < ?", (cutoff,))
            return int(n)

        pruned: int = self._tx("prune", apply)
        return pruned
