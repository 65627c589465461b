"""Reply ids: unique under concurrency, the shape clients already store (32 hex digits)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading

from recsys.core.ids import new_request_id


def test_reply_ids_are_unique_across_threads_and_shaped_like_uuid_hex() -> None:
    # GIVEN 8 threads each taking 5,000 reply ids at once
    out: list[list[str]] = [[] for _ in range(8)]

    def take(slot: list[str]) -> None:
        slot.extend(new_request_id() for _ in range(5_000))

    threads = [threading.Thread(target=take, args=(slot,)) for slot in out]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for slot in out for i in slot]
    # THEN none repeats and each is 32 lower-case hex digits
    assert len(set(ids)) == 40_000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_another_process_draws_other_ids() -> None:
    # GIVEN two processes' first ids (each counter starts at 0, each key is its own)
    code = "from recsys.core.ids import new_request_id; print(new_request_id())"
    first = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    ]
    # THEN they differ, and differ from this process's
    assert len({*first, new_request_id()}) == 3
