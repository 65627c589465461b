"""`recsys up` killed and stopped as an operator would: kill -9 of every process, Ctrl-C.

The stack runs in its own process group (as in a terminal), so SIGKILL/SIGINT reach every
process of it — the runtime and its moto server — at once. Everything is checked over HTTP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from recsys.local.moto import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
USERS = ["crash-a", "crash-b", "crash-c", "crash-d"]
PRODUCTS = [
    {"product_id": f"P{i}", "title": title, "category": cat, "price": 5.0 + i}
    for i, (title, cat) in enumerate(
        [
            ("Warm white fairy lights", "Home > Lighting"),
            ("Battery LED candles", "Home > Lighting"),
            ("Enamel coffee mug", "Kitchen > Mugs"),
            ("Ceramic tea cup", "Kitchen > Mugs"),
            ("Cake tin set", "Kitchen > Baking"),
            ("Wooden spoon set", "Kitchen > Utensils"),
        ]
    )
]


class Stack:
    """`recsys up` as a child in its own process group, on a free port, with a log file."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.data_dir, self.log_path = data_dir, log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "RECSYS_DATA_DIR": str(data_dir),
            "RECSYS_LOCAL_REFRESH_INTERVAL_S": "0",
            "RECSYS_REDIS_URL": "",
        }
        env.pop("RECSYS_AWS_ENDPOINT_URL", None)
        env.pop("RECSYS_API_KEY", None)
        self._log = log_path.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "recsys.cli", "up", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.http = httpx.Client(base_url=self.url, timeout=120)
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"recsys up exited {self.proc.returncode}:\n{self.output()[-3000:]}")
            try:
                if self.http.get("/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail("recsys up did not answer GET /health within 180 s")
            time.sleep(0.3)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def drained(self) -> dict[str, Any]:
        status: dict[str, Any] = self.http.get("/_local/status", params={"wait_s": 120}).json()
        assert status["idle"], status
        return status

    def kill(self) -> None:
        """SIGKILL to every process of the stack at once."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._log.close()

    def interrupt(self, timeout_s: float = 30) -> int:
        """Ctrl-C: SIGINT to the whole process group; the exit code (fails past the bound)."""
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            pytest.fail(f"not stopped {timeout_s:.0f} s after Ctrl-C:\n{self.output()[-3000:]}")
        self._log.close()
        return code


@pytest.fixture
def stacks(tmp_path: Path) -> Iterator[list[Stack]]:
    started: list[Stack] = []
    yield started
    for stack in started:
        if stack.proc.poll() is None:
            stack.kill()


def _events(n: int, *, tag: str) -> list[dict[str, Any]]:
    now = time.time()
    return [
        {
            "event_id": f"{tag}-{i}",
            "user_id": USERS[i % len(USERS)],
            "type": ("view", "click", "add_to_cart", "purchase")[i % 4],
            "product_id": PRODUCTS[i % len(PRODUCTS)]["product_id"],
            "timestamp": now - 3600 + i,
        }
        for i in range(n)
    ]


def test_kill_9_of_every_process_loses_no_accepted_event(
    tmp_path: Path, stacks: list[Stack]
) -> None:
    data, log = tmp_path / "data", tmp_path / "stack.log"
    stacks.append(first := Stack(data, log))
    # GIVEN a catalog and 1,000 events accepted (202) in two requests, profiles built
    assert first.http.post("/products", json={"products": PRODUCTS}).status_code == 202
    first.drained()
    events = _events(1000, tag="k9")
    accepted = 0
    for i in range(0, 1000, 500):
        reply = first.http.post("/events", json={"events": events[i : i + 500]})
        assert reply.status_code == 202, reply.text
        accepted += reply.json()["accepted"]
    assert accepted == 1000
    first.drained()
    # WHEN every process of the stack is killed at once, then the stack is started again
    first.kill()
    stacks.append(second := Stack(data, log))
    # AND the nightly job runs on the restarted stack
    assert second.http.post("/_local/refresh", json={}).status_code == 200
    second.drained()
    # THEN the profiles are still there (the job found the events it rebuilds them from)
    for user in USERS:
        reply = second.http.get(f"/users/{user}/recommendations", params={"limit": 3})
        assert reply.status_code == 200 and reply.json()["strategy"] != "trending", reply.text
    # AND every accepted event is counted back by the erasure
    erased = [second.http.delete(f"/users/{u}").json()["events_deleted"] for u in USERS]
    assert sum(erased) == 1000
    assert second.interrupt() == 0


def test_ctrl_c_stops_cleanly_and_erased_data_never_comes_back(
    tmp_path: Path, stacks: list[Stack]
) -> None:
    data, log = tmp_path / "data", tmp_path / "stack.log"
    stacks.append(first := Stack(data, log))
    # GIVEN 200 events for the users, then one user erased
    reply = first.http.post("/events", json={"events": _events(200, tag="cc")})
    assert reply.status_code == 202 and reply.json()["accepted"] == 200
    assert first.http.delete(f"/users/{USERS[0]}").json()["events_deleted"] == 50
    # WHEN Ctrl-C reaches the whole process group
    code = first.interrupt()
    # THEN the stack stops by itself, cleanly, saying what it does
    output = first.output()
    assert code == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert "stopping" in output and "stopped" in output
    # WHEN it starts again (a restart, then a kill -9 and another restart)
    stacks.append(second := Stack(data, log))
    second.kill()
    stacks.append(third := Stack(data, log))
    # THEN the erased user stays erased and the others' events are all there
    assert third.http.get("/health").json()["status"] == "ok"
    counts = [third.http.delete(f"/users/{u}").json()["events_deleted"] for u in USERS]
    assert counts == [0, 50, 50, 50]
    assert third.interrupt() == 0
