"""GET /health: liveness plus the state of every dependency, honestly.

``{"status": "ok" | "degraded", "dependencies": {name: {"state": "ok" | "down" | "off", ...}},
"products": n, "cache": backend}`` — vector store (a count), event log (a probe read), queues
(depth and dead letters, from SQS), cache (a Redis ping). A dependency that is down makes the
status ``degraded`` (the reply is still 200: the API itself answers, and read routes fall back),
is named with its error, and is counted in the ``DependencyDown`` metric (dimension
``dependency``) so an alarm can see what a 200 does not say. ``off`` is a dependency this
deployment does not configure (e.g. no queue URL), not a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from recsys.core.aws import client
from recsys.core.observability import metric

if TYPE_CHECKING:
    from recsys.services import Services

__all__ = ["check_health"]


def _probe(check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return {"state": "ok", **check()}
    except Exception as exc:
        return {"state": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}


def _vector_store(services: Services) -> dict[str, Any]:
    settings = services.settings
    store = services.store
    return {
        "backend": settings.vector_backend,
        "products": store.count(settings.products_collection),
    }


def _queues(services: Services) -> dict[str, Any]:
    settings = services.settings
    urls = {"profile": settings.profile_queue_url, "embed": settings.embed_queue_url}
    urls = {k: v for k, v in urls.items() if v}
    if not urls:
        return {"state": "off"}
    sqs = client("sqs", settings)
    out: dict[str, Any] = {}
    for name, url in urls.items():
        attrs = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "RedrivePolicy",
            ],
        )["Attributes"]
        out[name] = {
            "visible": int(attrs.get("ApproximateNumberOfMessages", 0)),
            "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
        }
    return out


def _ranking(services: Services) -> dict[str, Any]:
    """Which ranking serves: the configuration the nightly tuner fitted (version, when, what
    it chose per objective) or the fixed weights."""
    from recsys.ranking.fitted import fitted_of

    try:
        fitted = fitted_of(services.aggregates.load())
    except Exception as exc:  # the aggregates are unreadable: the fixed weights serve
        return {"status": "fixed", "error": str(exc)[:200]}
    return fitted.summary() if fitted is not None else {"status": "fixed"}


def check_health(services: Services) -> dict[str, Any]:
    """Probe every dependency of ``services`` (each bounded by its client's own timeouts)."""
    cache = services.cache
    deps: dict[str, dict[str, Any]] = {
        "vector_store": _probe(lambda: _vector_store(services)),
        "event_log": _probe(lambda: services.event_log.ping()),
        "queues": _probe(lambda: _queues(services)),
        "cache": cache.state(),
    }
    down = sorted(name for name, dep in deps.items() if dep.get("state") == "down")
    for name in down:
        metric("DependencyDown", 1, dependency=name)
    body: dict[str, Any] = {
        "status": "degraded" if down else "ok",
        "dependencies": deps,
        "cache": cache.backend,
    }
    if "products" in deps["vector_store"]:
        body["products"] = deps["vector_store"]["products"]
    body["ranking"] = _ranking(services)
    if down:
        body["down"] = down
    return body
