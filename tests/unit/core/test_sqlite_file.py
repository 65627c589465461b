"""One SQLite file shared by many threads: each thread's connection, and none left behind."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from recsys.core.sqlite_file import SqliteFile

SCHEMA = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER)"


def _open_files(path: Path) -> int:
    """Files of this process open on ``path`` (its -wal and -shm included)."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        count += target.startswith(str(path))
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_connections_of_ended_threads_are_closed(tmp_path: Path) -> None:
    # GIVEN a file used from short-lived pool threads, as a per-batch thread pool does
    db = SqliteFile(tmp_path / "x.sqlite3", role="test file", schema=SCHEMA)

    def write(i: int) -> None:
        db.run("write", lambda c: c.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (str(i), i)))

    def pool_of_four(batch: int) -> None:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(write, range(batch * 4, batch * 4 + 4)))

    # WHEN 40 pools of 4 threads write once each and end (160 threads)
    for batch in range(40):
        pool_of_four(batch)
    # THEN the connections of ended threads were closed: the open files stay bounded by the
    # threads alive at once, not 3 per thread ever (SQLite holds some closed connections'
    # descriptors for reuse while others hold locks on the file)
    assert db.open_connections <= 5
    assert _open_files(tmp_path / "x.sqlite3") <= 3 * 5 * 2
    worker = threading.Thread(target=lambda: write(-1))
    worker.start()
    worker.join()
    write(-2)
    # AND every write is there
    assert db.run("count", lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone()[0]) == 162
    db.close()
    assert _open_files(tmp_path / "x.sqlite3") == 0


def test_a_closed_file_refuses_new_connections(tmp_path: Path) -> None:
    db = SqliteFile(tmp_path / "y.sqlite3", role="test file", schema=SCHEMA)
    db.close()
    from recsys.core.errors import DependencyError

    with pytest.raises(DependencyError, match="closed"):
        db.run("read", lambda c: c.execute("SELECT 1"))
