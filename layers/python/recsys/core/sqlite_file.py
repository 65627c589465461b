"""One SQLite file in WAL mode shared by many threads: what the embedded event log and the
embedded stats store (``recsys.events.sqlite``, ``recsys.feedback.sqlite``) both open.

SQLite connections are not shared between threads, so each thread gets its own, opened on
first use and all closed together; a thread's connection is closed once that thread has ended
(short-lived pool threads would otherwise leave three open files each, until the process runs
out of them). Transactions are explicit (``BEGIN IMMEDIATE`` … ``COMMIT``:
SQLite then serialises writers, across threads and processes); every SQLite error leaves as a
:class:`~recsys.core.errors.DependencyError` naming the file's role.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from recsys.core.errors import DependencyError

__all__ = ["SqliteFile", "connect", "transaction"]

Synchronous = Literal["FULL", "NORMAL"]


def connect(path: Path, *, role: str, synchronous: Synchronous) -> sqlite3.Connection:
    """A connection to ``path`` in WAL mode (``role`` names the file in errors).

    ``FULL`` fsyncs the WAL at every commit — a committed write survives a power cut, not only
    a crash of the process; ``NORMAL`` survives a crash of the process, and its commits are
    fsync'd at the next full commit or checkpoint.
    """
    # isolation_level=None: transactions are explicit (see transaction()).
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        conn.close()
        raise DependencyError(f"{role} {path}: WAL mode refused ({mode})")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], Any]) -> Any:
    """``fn(conn)`` inside ``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back if it raises)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        out = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return out


class SqliteFile:
    """Per-thread connections to one file, its schema created at open."""

    def __init__(
        self, path: Path, *, role: str, schema: str, synchronous: Synchronous = "FULL"
    ) -> None:
        self.path = path
        self.role = role
        self.synchronous: Synchronous = synchronous
        self._local = threading.local()
        #: Every open connection with the thread it belongs to.
        self._all: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._lock = threading.Lock()
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn().executescript(schema)
        except (OSError, sqlite3.Error) as exc:
            raise DependencyError(f"{role} {self.path} cannot be opened: {exc}") from exc

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on its first call)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise DependencyError(f"{self.role} is closed")
        conn = connect(self.path, role=self.role, synchronous=self.synchronous)
        self._local.conn = conn
        with self._lock:
            ended = [c for t, c in self._all if not t.is_alive()]
            self._all = [(t, c) for t, c in self._all if t.is_alive()]
            self._all.append((threading.current_thread(), conn))
        for old in ended:  # their threads are gone: nobody can be using them
            with contextlib.suppress(sqlite3.Error):
                old.close()
        return conn

    @property
    def open_connections(self) -> int:
        """Connections open now (one per thread that used the file and is still running)."""
        return len(self._all)

    def run(self, what: str, fn: Callable[[sqlite3.Connection], Any], *, tx: bool = False) -> Any:
        """``fn`` on this thread's connection (in a transaction with ``tx``)."""
        try:
            conn = self.conn()
            return transaction(conn, fn) if tx else fn(conn)
        except sqlite3.Error as exc:
            raise DependencyError(f"{self.role} {what} failed: {exc}") from exc

    def close(self) -> None:
        """Close every connection (a checkpoint folds the WAL into the main file)."""
        with self._lock:
            self._closed = True
            conns, self._all = self._all, []
        for _thread, conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()
