"""Queue-driven invocations yield to API requests in flight, for a bounded time."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from recsys.local.containers import ContainerPool
from recsys.local.foreground import ForegroundGate
from recsys.local.poller import SqsPoller


def _waited_in_thread(gate: ForegroundGate) -> tuple[threading.Thread, list[float]]:
    waited: list[float] = []
    thread = threading.Thread(target=lambda: waited.append(gate.wait_idle()))
    thread.start()
    return thread, waited


def test_background_work_runs_at_once_when_no_request_is_in_flight() -> None:
    gate = ForegroundGate(max_wait_s=5.0)
    t0 = time.monotonic()
    assert gate.wait_idle() == 0.0
    assert time.monotonic() - t0 < 0.1 and gate.waits == 0


def test_background_work_waits_while_a_request_runs_and_goes_when_it_ends() -> None:
    # GIVEN one foreground invocation in flight and a long cap
    gate = ForegroundGate(max_wait_s=5.0)
    gate.enter()
    # WHEN background work asks to run
    thread, waited = _waited_in_thread(gate)
    time.sleep(0.2)
    # THEN it waits while the request runs
    assert thread.is_alive()
    # AND goes as soon as the request ends (woken, not at the cap)
    gate.leave()
    thread.join(2.0)
    assert not thread.is_alive()
    assert 0.15 <= waited[0] < 2.0
    assert gate.waits == 1 and gate.capped == 0 and gate.in_flight == 0


def test_background_work_waits_for_every_request_in_flight() -> None:
    gate = ForegroundGate(max_wait_s=5.0)
    with gate.active():
        gate.enter()
        thread, _ = _waited_in_thread(gate)
        gate.leave()  # one of two ended: still waiting
        time.sleep(0.1)
        assert thread.is_alive()
    thread.join(2.0)
    assert not thread.is_alive()


def test_the_wait_is_bounded_so_queues_are_never_starved() -> None:
    # GIVEN a request that never ends
    gate = ForegroundGate(max_wait_s=0.05)
    gate.enter()
    # WHEN background work asks to run, THEN it runs after the cap anyway
    t0 = time.monotonic()
    waited = gate.wait_idle()
    assert 0.04 <= waited < 0.5 and time.monotonic() - t0 < 0.5
    assert gate.capped == 1
    # AND a cap of 0 never waits
    assert ForegroundGate(max_wait_s=0).wait_idle() == 0.0


def test_the_wait_keeps_background_work_to_its_share_of_the_time() -> None:
    # GIVEN queue work allowed a fifth of the time, within a 2 s cap
    gate = ForegroundGate(max_wait_s=2.0, share=0.2)
    # THEN a batch that ran 100 ms may wait four times as long; a first batch not at all
    assert gate.limit(0.1) == pytest.approx(0.4)
    assert gate.limit(0.0) == 0.0
    # AND a long batch waits no longer than the cap
    assert gate.limit(5.0) == 2.0
    # WHEN a request never ends, a batch that ran 50 ms waits ≈ 200 ms, then runs
    gate.enter()
    waited = gate.wait_idle(0.05)
    assert 0.18 <= waited < 1.0 and gate.capped == 1
    # AND with no request in flight it runs at once, whatever the last batch took
    gate.leave()
    assert gate.wait_idle(1.0) == 0.0


def test_a_negative_cap_or_a_share_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError):
        ForegroundGate(max_wait_s=-1)
    for share in (0.0, 1.5):
        with pytest.raises(ValueError):
            ForegroundGate(share=share)


def test_the_container_pool_counts_its_requests_in_flight() -> None:
    gate = ForegroundGate(max_wait_s=1.0)
    pool = ContainerPool("f", 2, gate)
    seen: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(gate.in_flight)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def gateway(scope: Any, receive: Any, send: Any) -> None:
        await pool.serve(app, scope, receive, send)

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return [await http.get("/a"), await http.get("/b")]

    try:
        replies = asyncio.run(scenario())
    finally:
        pool.close()
    assert [r.status_code for r in replies] == [200, 200]
    assert seen == [1, 1] and gate.in_flight == 0


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def test_a_poller_hands_its_batch_over_once_the_request_ends_and_loses_nothing(sqs: Any) -> None:
    # GIVEN three messages on a queue and one API request in flight
    url = sqs.create_queue(QueueName="work")["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": i}))
    gate = ForegroundGate(max_wait_s=5.0)
    handled: list[float] = []
    poller = SqsPoller(
        sqs=sqs,
        queue_url=url,
        handler=lambda event: handled.extend(time.monotonic() for _ in event["Records"]),
        batch_size=10,
        window_s=0.1,
        report_failures=True,
        wait_s=0,
        foreground=gate,
    )
    gate.enter()
    result: list[tuple[int, int]] = []
    thread = threading.Thread(target=lambda: result.append(poller.poll_once()))
    thread.start()
    time.sleep(0.4)
    # THEN the handler has not run while the request is in flight
    assert not handled
    ended = time.monotonic()
    gate.leave()
    thread.join(5.0)
    # AND once it ended the whole batch ran and was deleted
    assert result == [(3, 0)] and len(handled) == 3 and min(handled) >= ended
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attrs == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }
    assert poller.stats.yielded_s > 0.2


def test_a_poller_waits_in_proportion_to_its_last_batch(sqs: Any) -> None:
    # GIVEN a poller whose batches take ≈ 100 ms, at share 0.5, with a request never ending
    url = sqs.create_queue(QueueName="slow")["QueueUrl"]
    gate = ForegroundGate(max_wait_s=5.0, share=0.5)
    poller = SqsPoller(
        sqs=sqs,
        queue_url=url,
        handler=lambda event: time.sleep(0.1),
        batch_size=1,
        window_s=0,
        report_failures=False,
        wait_s=0,
        foreground=gate,
    )
    for i in range(2):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": i}))
    # WHEN it takes a first batch with no request in flight (it goes at once) ...
    assert poller.poll_once() == (1, 0)
    assert poller.stats.yielded_s == 0.0
    # ... and a second while a request runs
    gate.enter()
    t0 = time.monotonic()
    # THEN the second waits about as long as the first ran (share 0.5), not the 5 s cap
    assert poller.poll_once() == (1, 0)
    assert 0.09 <= poller.stats.yielded_s < 1.0 and time.monotonic() - t0 < 2.0
    gate.leave()
