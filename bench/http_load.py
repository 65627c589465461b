"""A small closed-loop HTTP/1.1 load generator: N clients, keep-alive, bounded, in its own process.

Each client holds one connection and sends its next request when the previous reply is in
(a storefront's server-side calls behave so). Python HTTP clients cost more CPU per request
than the server under test on this 2-core machine, so this speaks HTTP/1.1 over asyncio streams
itself (about 50 µs of CPU a request) and runs in a separate process, leaving the server's
process alone. Every run is bounded by a request count AND a deadline.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: A request: (method, path, JSON body or None, extra headers).
Request = tuple[str, str, bytes | None, dict[str, str]]


@dataclass
class LoadResult:
    """What one run measured: latencies of successful replies, status counts, errors."""

    clients: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    @property
    def failed(self) -> int:
        bad = sum(n for code, n in self.statuses.items() if code >= 400)
        return bad + sum(self.errors.values())

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(q * len(data)))]

    def summary(self) -> dict[str, Any]:
        ok = len(self.latencies_ms)
        return {
            "clients": self.clients,
            "requests": self.requests,
            "ok": ok,
            "failed": self.failed,
            "rps": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(self.pct(0.50), 1),
            "p99_ms": round(self.pct(0.99), 1),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 1) if ok else None,
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
        }


async def _read_reply(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    chunked = False
    close = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    if chunked:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            body += await reader.readexactly(size + 2)
        return status, body, close
    return status, await reader.readexactly(length), close


def _encode(host: str, req: Request) -> bytes:
    method, path, body, headers = req
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def _client(
    host: str,
    port: int,
    make: Callable[[int], Request],
    counter: list[int],
    total: int,
    deadline: float,
    timeout_s: float,
    result: LoadResult,
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.monotonic() < deadline:
        i = counter[0]
        if i >= total:
            break
        counter[0] += 1
        req = make(i)
        t0 = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), timeout_s
                )
            assert reader is not None and writer is not None
            writer.write(_encode(f"{host}:{port}", req))
            status, _body, close = await asyncio.wait_for(_read_reply(reader), timeout_s)
        except TimeoutError:
            result.errors["timeout"] += 1
            _drop(writer)
            writer = None
            continue
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            result.errors[type(exc).__name__] += 1
            _drop(writer)
            writer = None
            continue
        result.statuses[status] += 1
        if status < 400:
            result.latencies_ms.append((time.perf_counter() - t0) * 1000)
        if close:
            _drop(writer)
            writer = None
    _drop(writer)


def _drop(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.close()


async def _run(
    host: str,
    port: int,
    clients: int,
    make: Callable[[int], Request],
    total: int,
    duration_s: float,
    timeout_s: float,
) -> LoadResult:
    result = LoadResult(clients=clients, seconds=0.0)
    counter = [0]
    t0 = time.monotonic()
    deadline = t0 + duration_s
    await asyncio.gather(
        *(
            _client(host, port, make, counter, total, deadline, timeout_s, result)
            for _ in range(clients)
        )
    )
    result.seconds = time.monotonic() - t0
    return result


def run_load(
    *,
    host: str,
    port: int,
    clients: int,
    requests: Sequence[Request],
    total: int,
    duration_s: float,
    timeout_s: float = 30.0,
) -> LoadResult:
    """Send ``total`` requests (cycling through ``requests``) from ``clients`` connections,
    stopping at ``duration_s`` whatever is left; in this process."""
    reqs = list(requests)
    return asyncio.run(
        _run(host, port, clients, lambda i: reqs[i % len(reqs)], total, duration_s, timeout_s)
    )


def _child(conn: Any, kwargs: dict[str, Any]) -> None:
    res = run_load(**kwargs)
    conn.send(
        json.dumps(
            {
                "clients": res.clients,
                "seconds": res.seconds,
                "latencies_ms": res.latencies_ms,
                "statuses": dict(res.statuses),
                "errors": dict(res.errors),
            }
        )
    )
    conn.close()


class LoadProcess:
    """:func:`run_load` in a child process: ``start()``, then ``result()``."""

    def __init__(self, **kwargs: Any) -> None:
        ctx = mp.get_context("spawn")
        self._parent, child = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child, args=(child, kwargs), daemon=True)
        self._limit = float(kwargs["duration_s"]) + float(kwargs.get("timeout_s", 30.0)) + 60

    def start(self) -> LoadProcess:
        self._proc.start()
        return self

    def result(self) -> LoadResult:
        if not self._parent.poll(self._limit):
            self._proc.kill()
            raise RuntimeError("load process did not report in time")
        data = json.loads(self._parent.recv())
        self._proc.join(10)
        out = LoadResult(clients=data["clients"], seconds=data["seconds"])
        out.latencies_ms = data["latencies_ms"]
        out.statuses = Counter({int(k): v for k, v in data["statuses"].items()})
        out.errors = Counter(data["errors"])
        return out
