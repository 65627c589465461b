"""GET /stats — attribution per strategy and per variant, the experiment's confidence,
catalog coverage, cold-start share, and the ranking configuration in use.

Key-protected when ``RECSYS_API_KEY`` is set (the one check in :mod:`recsys.api.deps`); on AWS
the route sits behind the HTTP API's JWT authorizer. The figures come from the per-day
counters (:mod:`recsys.feedback.store`): one DynamoDB Query per day of the window.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query

from recsys.api.deps import ApiKeyDep, ServicesDep
from recsys.services import Services

__all__ = ["router", "stats_report"]

router = APIRouter(tags=["stats"])


def _catalog_size(services: Services) -> int | None:
    try:
        return services.store.count(services.settings.products_collection)
    except Exception:  # coverage is then unknown; the rest of the report stands
        return None


def ranking_in_use(services: Services) -> dict[str, Any]:
    """The ranking configuration the default variant serves with, and each variant's changes."""
    feedback = services.feedback
    config = services.recommender.ranker.config
    out: dict[str, Any] = {
        "source": getattr(config, "source", "settings"),
        "version": getattr(config, "version", None),
        "config": asdict(config),
        "variants": {},
    }
    if feedback.experiment is not None:
        out["variants"] = {v.name: dict(v.overrides) for v in feedback.experiment.variants}
    return out


def stats_report(services: Services, *, days: int) -> dict[str, Any]:
    """The /stats body (also what ``recsys stats`` prints)."""
    days = min(days, services.settings.stats_max_days)
    return services.feedback.report(
        days=days, catalog_products=_catalog_size(services), ranking=ranking_in_use(services)
    )


@router.get("/stats", dependencies=[ApiKeyDep])
def stats(
    services: ServicesDep,
    days: Annotated[int, Query(ge=1, le=400, description="The last N UTC days (today too).")] = 7,
) -> dict[str, Any]:
    """Lists, impressions, clicks, conversions, revenue, CTR and conversion rate per strategy
    and variant; the experiment's differences with 95 % intervals and p-values; coverage."""
    return stats_report(services, days=days)
