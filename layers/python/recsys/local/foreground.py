"""Interactive invocations first: queue-driven ones yield to API requests in flight, briefly.

On AWS a queue-driven invocation (the profile builder fed by the profile queue, the embedder)
runs in its own Lambda container, on its own CPU: it never slows an API request. Locally every
function shares one interpreter, so a poller's batch takes the interpreter lock from the reads
being served at the same time. The gateway's container pools count the API invocations in
flight here (:meth:`ForegroundGate.active`); a poller, before it hands a batch to its handler,
waits until none is (:meth:`ForegroundGate.wait_idle`) — for a time in proportion to how long
its previous batch ran, so that while requests keep arriving, queue work takes at most
``share`` of the time (a batch that ran 100 ms waits up to 400 ms at share 0.2), and never
longer than ``max_wait_s``, after which it runs anyway: the queues are never starved, and once
the requests stop, batches follow each other at once. A fixed short wait did not do: with
readers always in flight it only spaced out batches that each still held the lock for longer
than the wait (docs/BENCHMARKS.md, concurrency). Nothing changes about the messages: they are
received, handed over and deleted as before, and the wait (≤ ``max_wait_s``, seconds) is far
below any queue's visibility timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class ForegroundGate:
    """Counts foreground (API) invocations in flight; background work waits for a lull."""

    def __init__(self, max_wait_s: float = 2.0, share: float = 0.2) -> None:
        if max_wait_s < 0:
            raise ValueError("max_wait_s must be ≥ 0")
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.max_wait_s = max_wait_s
        self.share = share
        self._cond = threading.Condition()
        self._in_flight = 0
        self.waits = 0  # background dispatches that found foreground work in flight
        self.capped = 0  # ... and ran because the wait reached max_wait_s

    @property
    def in_flight(self) -> int:
        """Foreground invocations running now."""
        return self._in_flight

    def enter(self) -> None:
        """A foreground invocation starts."""
        with self._cond:
            self._in_flight += 1

    def leave(self) -> None:
        """A foreground invocation ends; waiting background work may go once none is left."""
        with self._cond:
            self._in_flight -= 1
            if self._in_flight <= 0:
                self._in_flight = 0
                self._cond.notify_all()

    @contextmanager
    def active(self) -> Iterator[None]:
        """``with gate.active():`` around one foreground invocation."""
        self.enter()
        try:
            yield
        finally:
            self.leave()

    def limit(self, ran_s: float) -> float:
        """How long work whose previous batch ran ``ran_s`` seconds may wait: its share of the
        time kept to ``share``, within ``max_wait_s``."""
        return min(self.max_wait_s, max(ran_s, 0.0) * (1 - self.share) / self.share)

    def wait_idle(self, ran_s: float | None = None) -> float:
        """Block until no foreground invocation is in flight, or the wait reaches
        :meth:`limit` of ``ran_s`` (None: ``max_wait_s``); the seconds waited."""
        limit = self.max_wait_s if ran_s is None else self.limit(ran_s)
        if self._in_flight == 0 or limit <= 0:
            return 0.0
        start = time.monotonic()
        deadline = start + limit
        with self._cond:
            if self._in_flight:
                self.waits += 1
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.capped += 1
                    break
                self._cond.wait(remaining)
        return time.monotonic() - start

    def stats(self) -> dict[str, float]:
        """For /_local/status."""
        return {
            "in_flight": self._in_flight,
            "max_wait_ms": self.max_wait_s * 1000,
            "share": self.share,
            "waits": self.waits,
            "capped": self.capped,
        }
