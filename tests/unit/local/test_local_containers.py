"""The local gateway's container pools: one request per container, functions independent."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest

from recsys.local.containers import ContainerPool


class _Blocking:
    """An ASGI app whose handler blocks its thread (as a synchronous route does) until told."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.threads: set[str] = set()
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.threads.add(threading.current_thread().name)
        body = (await receive()).get("body", b"")
        if scope["path"] == "/slow":
            self.release.wait(10)  # blocks the container's thread, not the server's loop
        with self._lock:
            self.running -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok:" + body})


def test_a_blocked_function_never_delays_another_and_requests_run_side_by_side() -> None:
    # GIVEN two functions, "writes" with 2 containers and "reads" with 2
    writes_app, reads_app = _Blocking(), _Blocking()
    writes, reads = ContainerPool("writes", 2), ContainerPool("reads", 2)

    async def gateway(scope: Any, receive: Any, send: Any) -> None:
        pool, app = (writes, writes_app) if scope["path"] == "/slow" else (reads, reads_app)
        await pool.serve(app, scope, receive, send)

    async def scenario() -> tuple[list[httpx.Response], float]:
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            # WHEN two slow writes hold both write containers
            slow = [asyncio.create_task(http.post("/slow", content=b"w")) for _ in range(2)]
            await asyncio.sleep(0.2)
            # THEN 20 reads are still answered meanwhile
            t0 = time.monotonic()
            fast = await asyncio.gather(*(http.get(f"/r{i}") for i in range(20)))
            read_time = time.monotonic() - t0
            assert not any(t.done() for t in slow)
            writes_app.release.set()
            return [*fast, *await asyncio.gather(*slow)], read_time

    try:
        replies, _ = asyncio.run(scenario())
    finally:
        writes.close()
        reads.close()
    assert [r.status_code for r in replies] == [200] * 22
    assert replies[-1].content == b"ok:w"
    # AND the two writes ran at the same time, in two containers (threads) of their pool
    assert writes_app.peak == 2 and writes_app.threads == {"writes-0", "writes-1"}
    assert reads_app.threads <= {"reads-0", "reads-1"}
    assert writes.stats()["served"] == 2 and reads.stats()["served"] == 20


def test_a_pool_needs_a_container() -> None:
    with pytest.raises(ValueError):
        ContainerPool("f", 0)


def test_streamed_and_whole_replies_arrive_complete_and_in_order() -> None:
    # GIVEN an app that streams its body in three parts on /stream and answers whole elsewhere
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"] == "/stream":
            for part in (b"a", b"b"):
                await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"end"})

    pool = ContainerPool("f", 2)

    async def gateway(scope: Any, receive: Any, send: Any) -> None:
        await pool.serve(app, scope, receive, send)

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return list(await asyncio.gather(*(http.get(p) for p in ("/stream", "/", "/stream"))))

    try:
        replies = asyncio.run(scenario())
    finally:
        pool.close()
    # THEN every reply holds its whole body, the streamed parts in the order sent
    assert [r.content for r in replies] == [b"abend", b"end", b"abend"]
    assert pool.stats()["served"] == 3 and pool.stats()["busy"] == 0
