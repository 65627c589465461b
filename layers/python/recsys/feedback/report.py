"""The /stats report: per-day buckets → figures per strategy and variant, the experiment's
differences with confidence intervals, p-values and the sample size still needed.

Rates are per impression (one impression = one item shown once): ``ctr`` = clicks /
impressions, ``conversion_rate`` = attributed purchases / impressions — both proportions of
the same trials, so variants compare with a two-proportion test. Caveat (documented in
docs/EXPERIMENTS.md): the split is by user, and one user's impressions are not independent,
so the test's intervals are somewhat narrower than the truth when a few users dominate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from statistics import NormalDist
from typing import Any

from recsys.feedback.experiments import Experiment
from recsys.feedback.model import UNKNOWN, Counts
from recsys.feedback.store import BucketKey

__all__ = ["build_report", "day_range", "sample_size", "two_proportions"]

_Z = NormalDist()
ALPHA = 0.05
POWER = 0.8
#: When variants do not differ yet, the sample size is for this relative effect.
MIN_RELATIVE_EFFECT = 0.10


def day_range(days: int, *, now: float) -> list[str]:
    """The last ``days`` UTC days up to today, oldest first."""
    today = datetime.fromtimestamp(now, UTC).date()
    return [(today - timedelta(days=i)).isoformat() for i in range(days - 1, -1, -1)]


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def figures(c: Counts, *, users: bool) -> dict[str, Any]:
    """The reported figures of one group."""
    out: dict[str, Any] = {
        "lists": c.lists,
        "impressions": c.impressions,
        "clicks": c.clicks,
        "add_to_carts": c.add_to_carts,
        "conversions": c.conversions,
        "revenue": float(round(c.revenue, 2)),
        "ctr": _rate(c.clicks, c.impressions),
        "conversion_rate": _rate(c.conversions, c.impressions),
        "cold_start_lists": c.cold_lists,
    }
    if users:
        out["users"] = len(c.users)
        out["shown_products"] = len(c.shown)
    return out


def two_proportions(x1: int, n1: int, x2: int, n2: int) -> dict[str, Any] | None:
    """Variant 2 against control 1: difference, 95 % CI (unpooled), two-sided p (pooled z)."""
    if n1 <= 0 or n2 <= 0:
        return None
    p1, p2 = x1 / n1, x2 / n2
    diff = p2 - p1
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    pooled = (x1 + x2) / (n1 + n2)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = diff / se0 if se0 > 0 else 0.0
    p_value = math.erfc(abs(z) / math.sqrt(2)) if se0 > 0 else 1.0
    half = _Z.inv_cdf(1 - ALPHA / 2) * se
    return {
        "control": p1,
        "variant": p2,
        "diff": diff,
        "relative": diff / p1 if p1 > 0 else None,
        "ci95": [diff - half, diff + half],
        "z": z,
        "p_value": p_value,
        "significant": p_value < ALPHA,
    }


def sample_size(p1: float, p2: float) -> int | None:
    """Trials per variant for a two-sided test at ALPHA with POWER to detect p1 → p2."""
    delta = abs(p2 - p1)
    if delta <= 0 or not (0 <= p1 <= 1 and 0 <= p2 <= 1):
        return None
    za, zb = _Z.inv_cdf(1 - ALPHA / 2), _Z.inv_cdf(POWER)
    pbar = (p1 + p2) / 2
    n = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(n * n / (delta * delta))


def _compare(control: Counts, other: Counts, metric: str) -> dict[str, Any]:
    num = "conversions" if metric == "conversion_rate" else "clicks"
    x1, n1 = getattr(control, num), control.impressions
    x2, n2 = getattr(other, num), other.impressions
    out = two_proportions(x1, n1, x2, n2)
    return out or {"note": "no impressions yet in one of the variants"}


def _sample(control: Counts, other: Counts, metric: str) -> dict[str, Any]:
    num = "conversions" if metric == "conversion_rate" else "clicks"
    n1, n2 = control.impressions, other.impressions
    if not n1 or not n2:
        return {"note": "no impressions yet in one of the variants"}
    p1, p2 = getattr(control, num) / n1, getattr(other, num) / n2
    effect = abs(p2 - p1)
    basis = "observed difference"
    if effect < MIN_RELATIVE_EFFECT * p1 or effect == 0:
        effect, basis = MIN_RELATIVE_EFFECT * p1, f"{MIN_RELATIVE_EFFECT:.0%} relative effect"
        p2 = p1 + effect
    need = sample_size(p1, p2)
    if need is None:
        return {"note": "no conversions yet: nothing to size the test on"}
    have = min(n1, n2)
    return {
        "per_variant": need,
        "have": have,
        "still_needed": max(0, need - have),
        "effect": effect,
        "basis": basis,
    }


def build_report(
    buckets: Mapping[BucketKey, Counts],
    *,
    days: Sequence[str],
    experiment: Experiment | None,
    catalog_products: int | None,
    ranking: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole /stats body from the buckets of ``days``."""
    strategies: dict[str, Counts] = {}
    variants: dict[str, Counts] = {}
    total = Counts()
    unknown = Counts()
    per_day: dict[str, dict[str, dict[str, Counts]]] = {
        d: {"strategies": {}, "variants": {}} for d in days
    }
    for (day, strategy, variant), c in sorted(buckets.items()):
        if strategy == UNKNOWN:
            unknown.add(c)
            continue
        strategies.setdefault(strategy, Counts()).add(c)
        variants.setdefault(variant, Counts()).add(c)
        total.add(c)
        if day in per_day:
            per_day[day]["strategies"].setdefault(strategy, Counts()).add(c)
            per_day[day]["variants"].setdefault(variant, Counts()).add(c)
    shown = len(total.shown)
    report: dict[str, Any] = {
        "days": len(days),
        "since": days[0] if days else None,
        "until": days[-1] if days else None,
        "totals": figures(total, users=True),
        "strategies": {k: figures(v, users=False) for k, v in sorted(strategies.items())},
        "variants": {k: figures(v, users=True) for k, v in sorted(variants.items())},
        "coverage": {
            "shown_products": shown,
            "catalog_products": catalog_products,
            "coverage": shown / catalog_products if catalog_products else None,
            "by_variant": {
                k: (len(v.shown) / catalog_products if catalog_products else None)
                for k, v in sorted(variants.items())
            },
        },
        "cold_start": {"lists": total.cold_lists, "share": _rate(total.cold_lists, total.lists)},
        "unattributed": figures(unknown, users=False),
        "series": [
            {
                "date": d,
                "strategies": {
                    k: figures(v, users=False) for k, v in sorted(g["strategies"].items())
                },
                "variants": {k: figures(v, users=False) for k, v in sorted(g["variants"].items())},
            }
            for d, g in per_day.items()
        ],
        "experiment": None,
        "ranking": dict(ranking or {}),
    }
    if experiment is not None:
        control = variants.get(experiment.control, Counts())
        comparisons: dict[str, Any] = {}
        for name in experiment.names[1:]:
            other = variants.get(name, Counts())
            comparisons[name] = {
                "conversion_rate": _compare(control, other, "conversion_rate"),
                "ctr": _compare(control, other, "ctr"),
                "sample_size": _sample(control, other, "conversion_rate"),
            }
        report["experiment"] = {
            **experiment.describe(),
            "metric": "conversion_rate",
            "comparisons": comparisons,
        }
    return report
