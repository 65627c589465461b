"""Lambda's concurrency model for the local gateway: a pool of "containers" per function.

On AWS each concurrent request gets its own execution environment; one environment serves one
request at a time, and a slow invocation of one function never delays another function. The
local gateway serves every function's ASGI app from uvicorn's single event loop, where a route
that works synchronously (the routes do: a Lambda container has nothing else to do meanwhile)
holds the loop — one 500-event POST used to stall every read behind it for seconds.

Here each function gets ``size`` containers: threads, each running its own event loop and
serving one request at a time. uvicorn's loop only parses HTTP and hands requests over;
``receive``/``send`` are relayed back to it. A request waits only when all containers of ITS
function are busy (as Lambda throttles at a function's concurrency), so reads never queue
behind writes. Handler code runs exactly as on Lambda: the same app, the same module objects
(a container here shares the process's warm clients, like a warm Lambda container does).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from concurrent.futures import Future
from typing import Any

from recsys.local.foreground import ForegroundGate

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Container:
    """One thread with its own event loop, running one invocation at a time.

    Work arrives on a thread-safe queue that the idle thread blocks on, not through the loop's
    wake-up pipe: handing a request over then costs uvicorn's loop — the one thread every
    request passes — no system call, which would give up the interpreter lock and wait for it
    again behind the busy containers.
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._jobs: queue.SimpleQueue[tuple[Coroutine[Any, Any, None], Future[None]] | None]
        self._jobs = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        while (job := self._jobs.get()) is not None:
            coro, future = job
            if not future.set_running_or_notify_cancel():
                coro.close()
                continue
            try:
                result = self.loop.run_until_complete(coro)
            except BaseException as exc:  # the invocation's error is the caller's to see
                future.set_exception(exc)
            else:
                future.set_result(result)
        self.loop.close()

    def submit(self, coro: Coroutine[Any, Any, None]) -> Future[None]:
        future: Future[None] = Future()
        self._jobs.put((coro, future))
        return future

    def stop(self, timeout_s: float = 5.0) -> None:
        self._jobs.put(None)
        self._thread.join(timeout_s)


class ContainerPool:
    """``size`` containers of one function; :meth:`serve` runs one request in an idle one.

    With ``foreground``, each request counts as in flight there from its arrival until its
    reply is handed to uvicorn (queue-driven invocations yield to it: :mod:`.foreground`).
    """

    def __init__(self, function: str, size: int, foreground: ForegroundGate | None = None) -> None:
        if size < 1:
            raise ValueError("a function needs at least one container")
        self.function = function
        self.size = size
        self.foreground = foreground
        self._containers = [_Container(f"{function}-{i}") for i in range(size)]
        self._idle: asyncio.Queue[_Container] | None = None
        self._idle_loop: asyncio.AbstractEventLoop | None = None
        self.busy = 0
        self.served = 0
        self.waited = 0  # requests that found every container busy

    def _queue(self) -> asyncio.Queue[_Container]:
        loop = asyncio.get_running_loop()
        if self._idle is None or self._idle_loop is not loop:
            self._idle = asyncio.Queue()
            self._idle_loop = loop
            for c in self._containers:
                self._idle.put_nowait(c)
        return self._idle

    async def serve(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Run ``app`` for this request in an idle container (waiting for one if none is)."""
        if self.foreground is None:
            await self._serve(app, scope, receive, send)
            return
        self.foreground.enter()
        try:
            await self._serve(app, scope, receive, send)
        finally:
            self.foreground.leave()

    async def _serve(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        idle = self._queue()
        if idle.empty():
            self.waited += 1
        container = await idle.get()
        self.busy += 1
        main = asyncio.get_running_loop()

        async def on_main_receive() -> Message:
            return await receive()

        async def on_main_send(messages: list[Message]) -> None:
            for message in messages:
                await send(message)

        async def relay_receive() -> Message:
            future = asyncio.run_coroutine_threadsafe(on_main_receive(), main)
            return await asyncio.wrap_future(future)

        # The response start is held back and crosses to uvicorn's loop with the first body
        # message; a reply's last body message (all of most replies) does not cross on its own:
        # it is handed back with the container's completion, so a reply costs the threads two
        # wake-ups (hand over, hand back) instead of four.
        held: list[Message] = []

        async def relay(messages: list[Message]) -> None:
            future = asyncio.run_coroutine_threadsafe(on_main_send(messages), main)
            await asyncio.wrap_future(future)

        async def relay_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                held.append(message)
                return
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                held.append(message)  # sent by uvicorn's loop once the invocation is done
                return
            messages = [*held, message]
            held.clear()
            await relay(messages)

        async def run() -> None:
            await app(scope, relay_receive, relay_send)

        try:
            await asyncio.wrap_future(container.submit(run()))
        finally:
            self.busy -= 1
            self.served += 1
            idle.put_nowait(container)
            if held:  # what the app sent last (or a start never followed by a body)
                await on_main_send(held)

    def stats(self) -> dict[str, int]:
        """Pool size and what it has done (for /_local/status)."""
        return {
            "containers": self.size,
            "busy": self.busy,
            "served": self.served,
            "waited": self.waited,
        }

    def close(self) -> None:
        """Stop every container's loop (requests in flight are abandoned)."""
        for c in self._containers:
            c.stop()
