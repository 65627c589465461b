"""Metrics, logs and traces, the same in every handler.

- **Metrics** (Powertools, CloudWatch embedded metric format): code anywhere calls
  :func:`metric` (a count or a duration with its dimensions: route, strategy, variant, cause,
  queue); the handler wrapped by :func:`instrument` flushes them at the end of each invocation,
  one EMF record per dimension set. Namespace and service come from ``POWERTOOLS_*`` (the
  template sets them); ``POWERTOOLS_METRICS_DISABLED=true`` silences the output (the local
  stack does, and shows the same figures through :data:`registry`).
- **Logs**: :data:`logger` (Powertools ``Logger``, JSON) with the Lambda context injected and
  the API Gateway request id as correlation id.
- **Traces**: Powertools ``Tracer`` around the handler when the X-Ray SDK is importable (the
  template turns tracing on for every function; without the SDK in the layer, Lambda still
  records each invocation's segment).

:data:`registry` keeps the same figures in process — counters, latency percentiles per route
and a per-minute timeline — for the local dashboard and the Prometheus endpoint. It is cheap
(a lock and a bounded deque per route) and never leaves the process.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import threading
import time
import weakref
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

__all__ = [
    "Registry",
    "add_flush_hook",
    "flush",
    "instrument",
    "logger",
    "metric",
    "registry",
    "timed",
]

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "recsys"))

F = TypeVar("F", bound=Callable[..., Any])
Dims = tuple[tuple[str, str], ...]

#: Latency samples kept per route for percentiles (the most recent ones).
_SAMPLES = 4096
#: Minutes of timeline kept.
_MINUTES = 60


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = max(0, math.ceil(q * len(sorted_values)) - 1)
    return sorted_values[k]


class Registry:
    """In-process counters and latency samples (what the local dashboard shows)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[tuple[str, Dims], float] = defaultdict(float)
        self.latency: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=_SAMPLES))
        self.requests: dict[str, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self.minutes: dict[int, list[float]] = {}

    def count(self, name: str, value: float, dims: Dims) -> None:
        with self._lock:
            self.counters[(name, dims)] += value

    def request(self, route: str, ms: float, *, error: bool) -> None:
        minute = int(time.time() // 60) * 60
        with self._lock:
            self.latency[route].append(ms)
            self.requests[route] += 1
            if error:
                self.errors[route] += 1
            self.minutes.setdefault(minute, []).append(ms)
            for old in [m for m in self.minutes if m < minute - 60 * _MINUTES]:
                del self.minutes[old]

    def total(self, name: str, **match: str) -> float:
        """Sum of a counter over the dimension values that match ``match``."""
        with self._lock:
            return sum(
                v
                for (n, dims), v in self.counters.items()
                if n == name and all(dict(dims).get(k) == m for k, m in match.items())
            )

    def by(self, name: str, dim: str) -> dict[str, float]:
        """A counter summed per value of one dimension."""
        out: dict[str, float] = defaultdict(float)
        with self._lock:
            for (n, dims), v in self.counters.items():
                if n == name:
                    out[dict(dims).get(dim, "")] += v
        return dict(out)

    def snapshot(self) -> dict[str, Any]:
        """Latency percentiles per route, cache, degraded replies, lists, queue batches."""
        with self._lock:
            routes = {
                route: {
                    "count": self.requests[route],
                    "errors": self.errors[route],
                    "p50_ms": _percentile(s := sorted(samples), 0.50),
                    "p95_ms": _percentile(s, 0.95),
                    "p99_ms": _percentile(s, 0.99),
                }
                for route, samples in self.latency.items()
            }
            timeline = [
                {
                    "t": minute,
                    "requests": len(ms),
                    "p95_ms": _percentile(sorted(ms), 0.95),
                }
                for minute, ms in sorted(self.minutes.items())
            ]
        hits, misses = self.total("CacheHit"), self.total("CacheMiss")
        batches: dict[str, dict[str, float]] = {}
        for queue, n in self.by("QueueBatches", "queue").items():
            size = self.by("QueueBatchSize", "queue").get(queue, 0.0)
            batches[queue] = {
                "batches": n,
                "mean_size": size / n if n else 0.0,
                "failures": self.by("QueueRecordFailures", "queue").get(queue, 0.0),
            }
        return {
            "routes": routes,
            "timeline": timeline,
            "cache": {
                "hits": hits,
                "misses": misses,
                "hit_rate": hits / (hits + misses) if hits + misses else None,
                "by_endpoint": {
                    k: {"hits": v, "misses": self.by("CacheMiss", "endpoint").get(k, 0.0)}
                    for k, v in self.by("CacheHit", "endpoint").items()
                },
            },
            "degraded": self.by("DegradedReplies", "cause"),
            "lists": {
                "total": self.total("ListsServed"),
                "by_strategy": self.by("ListsServed", "strategy"),
                "by_variant": self.by("ListsServed", "variant"),
            },
            "events": self.by("EventsAttributed", "type"),
            "batches": batches,
        }

    def prometheus(self) -> str:
        """The registry in Prometheus' text format (counters and latency summaries)."""
        lines: list[str] = []
        with self._lock:
            names = sorted({n for n, _ in self.counters})
            for name in names:
                prom = "recsys_" + "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
                prom = prom.replace("__", "_") + "_total"
                lines.append(f"# TYPE {prom} counter")
                for (n, dims), v in sorted(self.counters.items()):
                    if n == name:
                        labels = ",".join(f'{k}="{_escape(val)}"' for k, val in dims)
                        lines.append(f"{prom}{{{labels}}} {v:g}")
            lines.append("# TYPE recsys_request_latency_ms summary")
            for route, samples in sorted(self.latency.items()):
                s = sorted(samples)
                for q in (0.5, 0.95, 0.99):
                    value = _percentile(s, q)
                    lines.append(
                        f'recsys_request_latency_ms{{route="{_escape(route)}",quantile="{q}"}} '
                        f"{value if value is not None else 'NaN'}"
                    )
                lines.append(
                    f'recsys_request_latency_ms_count{{route="{_escape(route)}"}} '
                    f"{self.requests[route]}"
                )
                lines.append(
                    f'recsys_request_latency_ms_sum{{route="{_escape(route)}"}} {sum(samples):.3f}'
                )
        return "\n".join(lines) + "\n"

    def reset(self) -> None:
        with self._lock:
            self.counters.clear()
            self.latency.clear()
            self.requests.clear()
            self.errors.clear()
            self.minutes.clear()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


registry = Registry()

# Metrics of the current invocation, flushed by ``instrument``: (name, unit, dims) → value.
# Counts are summed; durations keep each value (EMF takes a list of values per metric).
_pending: dict[tuple[str, str, Dims], list[float]] = {}
_pending_lock = threading.Lock()


def metric(name: str, value: float = 1.0, *, unit: str = "Count", **dims: str) -> None:
    """Record one figure (EMF at the end of the invocation, and the in-process registry)."""
    key: Dims = tuple(sorted((k, str(v)) for k, v in dims.items()))
    if unit == "Milliseconds":
        pass  # durations are summarised through ``timed`` / ``registry.request``
    else:
        registry.count(name, value, key)
    if is_metrics_disabled():
        return  # nothing would flush them (e.g. the local stack serving HTTP directly)
    with _pending_lock:
        values = _pending.setdefault((name, unit, key), [])
        if unit == "Count" and values:
            values[0] += value
        elif len(values) < 100:  # EMF's limit of values per metric and record
            values.append(value)


@contextmanager
def timed(name: str, **dims: str) -> Iterator[None]:
    """Measure a block's duration as a Milliseconds metric."""
    start = time.perf_counter()
    try:
        yield
    finally:
        metric(name, (time.perf_counter() - start) * 1000.0, unit="Milliseconds", **dims)


#: Called before the metrics are flushed at the end of an invocation (e.g. writes to finish).
#: Weak references, so an object that registers its method can still be collected.
_flush_hooks: list[weakref.WeakMethod[Callable[[], None]]] = []


def add_flush_hook(hook: Callable[[], None]) -> None:
    """Run the bound method ``hook`` at the end of every invocation, before the metrics."""
    _flush_hooks[:] = [h for h in _flush_hooks if h() is not None]
    _flush_hooks.append(weakref.WeakMethod(hook))


def flush() -> None:
    """Finish the invocation's pending work, then write its metrics as EMF, one record per
    dimension set (no EMF output when metrics are disabled)."""
    for ref in list(_flush_hooks):
        hook = ref()
        if hook is None:
            continue
        try:
            hook()
        except Exception:
            logger.exception("flush hook failed")
    with _pending_lock:
        pending = dict(_pending)
        _pending.clear()
    groups: dict[Dims, list[tuple[str, str, list[float]]]] = defaultdict(list)
    for (name, unit, dims), values in pending.items():
        groups[dims].append((name, unit, values))
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "recsys"
    for dims, items in groups.items():
        try:
            emf = EphemeralMetrics(namespace=namespace)
            for k, v in dims:
                emf.add_dimension(name=k, value=v)
            for name, unit, values in items:
                for value in values:
                    emf.add_metric(name=name, unit=MetricUnit(unit), value=value)
            emf.flush_metrics()
        except Exception:  # metrics must never fail an invocation
            logger.exception("metrics flush failed")


def _tracer() -> Any | None:
    if importlib.util.find_spec("aws_xray_sdk") is None:
        return None
    from aws_lambda_powertools import Tracer

    return Tracer()


def _batch_metrics(event: Mapping[str, Any], result: Any) -> None:
    """Batch size and failed records of an SQS invocation, per queue."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not records or not isinstance(records, list):
        return
    first = records[0] if isinstance(records[0], Mapping) else {}
    if first.get("eventSource") != "aws:sqs":
        return
    queue = str(first.get("eventSourceARN", "")).rsplit(":", 1)[-1] or "unknown"
    failed = len(result.get("batchItemFailures", [])) if isinstance(result, Mapping) else 0
    metric("QueueBatches", queue=queue)
    metric("QueueBatchSize", float(len(records)), queue=queue)
    metric("QueueRecordFailures", float(failed), queue=queue)


def instrument(handler: F) -> F:
    """Wrap a Lambda entry point: Lambda context and correlation id in every log line,
    a trace segment when tracing is available, the invocation's metrics flushed at the end."""
    tracer = _tracer()
    traced: Callable[..., Any] = handler
    if tracer is not None:
        traced = tracer.capture_lambda_handler(traced)
    logged = logger.inject_lambda_context(
        traced, correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
    )

    @functools.wraps(handler)
    def wrapper(event: Mapping[str, Any], context: Any) -> Any:
        # A test or script calling the handler without a Lambda context gets no context fields.
        call = logged if hasattr(context, "aws_request_id") else traced
        try:
            result = call(event, context)
            _batch_metrics(event, result)
            return result
        finally:
            flush()

    return wrapper  # type: ignore[return-value]
