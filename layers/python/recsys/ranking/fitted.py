"""The fitted ranking configuration of one store, and serving with it.

:class:`FittedRanking` is what the tuner (:mod:`recsys.ranking.tuner`) writes beside the
aggregates (``aggregates/ranking.json.gz`` in the catalog bucket): a version, when and on which
window it was fitted, a :class:`ModeFit` per objective ("repeat": buy-again allowed, "new":
purchased products excluded) — the scorer (:class:`~recsys.ranking.learned.WeightedSum` or
:class:`~recsys.ranking.learned.LinearRanker`), its candidate budgets and rules — the item
statistics its features read, and the report of the run (metrics of the current and the
candidate configurations on the check window, which signals matter).

:func:`rank` is what every serving path calls: the stored fit for the objective when there is
one, else the fixed blend :func:`~recsys.ranking.personal.rank_for_user`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.ranking.config import RankingConfig
from recsys.ranking.features import build_pool
from recsys.ranking.item_stats import ItemStats
from recsys.ranking.learned import Scorer, WeightedSum, scale, scorer_from_json
from recsys.ranking.mmr import mmr
from recsys.ranking.personal import rank_for_user
from recsys.ranking.reasons import explain
from recsys.ranking.rules import cap_per_category
from recsys.ranking.types import AggregateSource, Budgets, ItemSource, Scored, UserSource, UserState
from recsys.store.base import Filters

log = logging.getLogger(__name__)

MODES = ("repeat", "new")
FORMAT = 1
FloatArray = npt.NDArray[np.float32]

#: The weighted sum a cold store gets: the fixed blend plus category affinity (0.5). Measured
#: on the test side of Online Retail (2011-11-01) and the Ta-Feng sample, 400 customers each,
#: against the fixed blend and four other variants (docs/EVALUATION.md, "Cold stores"): its
#: worst Recall@10 relative to the best variant on either shop and objective is 0.91 (the fixed
#: blend's is 0.86, on Ta-Feng *new*; more popularity is worse on Online Retail).
COLD_START: dict[str, dict[str, Any]] = {
    "repeat": {
        "weights": {
            "repeat": 3.0,
            "collaborative": 0.7,
            "content": 0.5,
            "similar_users": 0.5,
            "popularity": 0.4,
            "trending": 0.05,
            "category": 0.5,
        },
        "columns": {},
    },
    "new": {
        "weights": {
            "collaborative": 0.7,
            "content": 0.5,
            "similar_users": 0.5,
            "popularity": 0.4,
            "trending": 0.05,
            "category": 0.5,
        },
        "columns": {},
    },
}

# --- the fitted configuration --------------------------------------------------------------


@dataclass
class ModeFit:
    """What serves one objective: the scorer, its candidate budgets and rules."""

    scorer: Scorer
    budgets: Budgets = field(default_factory=Budgets)
    max_per_category: int = 0
    diversity: float = 0.0
    chosen: str = "weighted_sum"

    def to_json(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "scorer": self.scorer.to_json(),
            "budgets": self.budgets.to_json(),
            "max_per_category": self.max_per_category,
            "diversity": self.diversity,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModeFit:
        return cls(
            scorer=scorer_from_json(data["scorer"]),
            budgets=Budgets.from_json(data.get("budgets", {})),
            max_per_category=int(data.get("max_per_category", 0)),
            diversity=float(data.get("diversity", 0.0)),
            chosen=str(data.get("chosen", "weighted_sum")),
        )


@dataclass
class FittedRanking:
    """The versioned result of a tuning run, stored with the aggregates."""

    version: str
    fitted_at: float
    as_of: float
    status: str  # "fitted", "kept" (the current configuration won), "cold"
    modes: dict[str, ModeFit] = field(default_factory=dict)
    stats: ItemStats = field(default_factory=ItemStats)
    report: dict[str, Any] = field(default_factory=dict)

    def mode(self, buy_again: bool) -> ModeFit | None:
        return self.modes.get("repeat" if buy_again else "new")

    def summary(self) -> dict[str, Any]:
        """What ``/health`` shows."""
        out: dict[str, Any] = {
            "version": self.version,
            "status": self.status,
            "fitted_at": _iso(self.fitted_at),
            "as_of": _iso(self.as_of),
            "modes": {m: f.chosen for m, f in self.modes.items()},
        }
        clicks = self.report.get("click_labels")
        if clicks:
            # Whether attributed clicks trained the ranking: how many and the position bias
            # they were corrected for, or why not (recsys.ranking.click_labels).
            keep = ("used", "labels", "clicks", "min_clicks", "reason")
            out["click_labels"] = {k: clicks[k] for k in keep if k in clicks}
            if "propensity" in clicks:
                prop = clicks["propensity"]
                out["click_labels"]["propensity"] = {
                    "method": prop["method"],
                    "values": prop["values"],
                }
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "fitted_at": _iso(self.fitted_at),
            "as_of": _iso(self.as_of),
            "status": self.status,
            "modes": {m: f.to_json() for m, f in self.modes.items()},
            "report": self.report,
            "item_stats": self.stats.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FittedRanking:
        if int(data.get("format", 0)) != FORMAT:
            raise ValueError(f"fitted ranking format {data.get('format')} is not {FORMAT}")
        return cls(
            version=str(data["version"]),
            fitted_at=_epoch(data["fitted_at"]),
            as_of=_epoch(data["as_of"]),
            status=str(data["status"]),
            modes={m: ModeFit.from_json(v) for m, v in data.get("modes", {}).items()},
            stats=ItemStats.from_json(data.get("item_stats", {})),
            report=dict(data.get("report", {})),
        )


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()


def _epoch(v: Any) -> float:
    if isinstance(v, int | float):
        return float(v)
    return datetime.fromisoformat(str(v)).timestamp()


# --- serving ---------------------------------------------------------------------------------


def rank_fitted(
    user: UserState,
    *,
    now: float,
    limit: int,
    items: ItemSource,
    users: UserSource | None,
    aggregates: AggregateSource,
    fit: ModeFit,
    stats: ItemStats,
    buy_again: bool,
    filters: Filters | None = None,
    diversity: float | None = None,
    exclude_seen: bool = False,
) -> list[Scored]:
    """The top ``limit`` products for ``user`` by a fitted scorer (same rules as
    :func:`recsys.ranking.personal.rank_for_user`)."""
    pool = build_pool(
        user,
        now=now,
        items=items,
        users=users,
        aggregates=aggregates,
        stats=stats,
        budgets=fit.budgets,
        buy_again=buy_again,
        filters=filters,
        exclude_seen=exclude_seen,
        prescore=lambda x: fit.scorer.score(x),
    )
    if not pool.ids:
        return []
    scaled = scale(pool.x)
    total, contributions = fit.scorer.score_parts(pool.x, scaled=scaled)
    order = [int(i) for i in np.lexsort((np.arange(len(pool.ids)), -total))]
    ordered = cap_per_category(
        [pool.ids[i] for i in order], pool.payloads, cap=fit.max_per_category
    )
    position = {p: i for i, p in enumerate(pool.ids)}
    d = fit.diversity if diversity is None else diversity
    shortlist = ordered[: max(limit * 5, 50)] if d > 0 else ordered[:limit]
    top = mmr(
        shortlist,
        {p: float(total[position[p]]) for p in shortlist},
        {p: pool.vectors[position[p]] for p in shortlist},
        k=limit,
        diversity=d,
    )
    out: list[Scored] = []
    for pid in top:
        i = position[pid]
        contrib = {s: float(v[i]) for s, v in contributions.items()}
        evidence = {"collaborative": pool.seed_of[pid]} if pid in pool.seed_of else {}
        out.append(
            Scored(
                product_id=pid,
                score=round(float(total[i]), 6),
                reason=explain(
                    contributions=contrib,
                    evidence=evidence,
                    payload=pool.payloads[pid],
                    payloads=pool.payloads,
                ),
                payload=pool.payloads[pid],
                signals={k: round(v, 6) for k, v in contrib.items() if v > 0},
            )
        )
    return out


def rank(
    user: UserState,
    *,
    now: float,
    limit: int,
    items: ItemSource,
    users: UserSource | None,
    aggregates: AggregateSource,
    config: RankingConfig,
    fitted: FittedRanking | None,
    filters: Filters | None = None,
    diversity: float | None = None,
) -> list[Scored]:
    """The serving entry: the store's fitted scorer for this objective, else the fixed blend."""
    fit = fitted.mode(config.buy_again) if fitted is not None else None
    if fit is None or fitted is None:
        return rank_for_user(
            user,
            now=now,
            limit=limit,
            items=items,
            users=users,
            aggregates=aggregates,
            config=config,
            filters=filters,
            diversity=diversity,
        )
    if config.max_per_category:
        fit = replace(fit, max_per_category=config.max_per_category)
    return rank_fitted(
        user,
        now=now,
        limit=limit,
        items=items,
        users=users,
        aggregates=aggregates,
        fit=fit,
        stats=fitted.stats,
        buy_again=config.buy_again,
        filters=filters,
        diversity=config.diversity if diversity is None and config.diversity else diversity,
        exclude_seen=config.exclude_seen,
    )


def _cold_modes(current: FittedRanking | None) -> dict[str, ModeFit]:
    if current is not None and current.modes:
        return dict(current.modes)
    return {
        m: ModeFit(WeightedSum.from_json(COLD_START[m]), Budgets(), 0, 0.0, "cold_start")
        for m in MODES
    }


def candidate(fitted: FittedRanking, mode: str, name: str) -> ModeFit | None:
    """A candidate the tuner fitted for ``mode`` ("weighted_sum" / "learned"), kept or not."""
    data = fitted.report.get("modes", {}).get(mode, {}).get("all_candidates", {}).get(name)
    return ModeFit.from_json(data) if data else None


# --- storage: inside the aggregates object -------------------------------------------------

_parsed_lock = threading.Lock()
_parsed: dict[str, FittedRanking] = {}


def attach(aggregates: Any, fitted: FittedRanking) -> None:
    """Keep ``fitted`` in the aggregates object (saved with them, read by every reader)."""
    aggregates.ranking = fitted.to_json()


def fitted_of(aggregates: Any) -> FittedRanking | None:
    """The fitted configuration stored in ``aggregates`` (parsed once per version); None when
    there is none or it cannot be read — the fixed weights then serve, and the log says why."""
    data = getattr(aggregates, "ranking", None)
    if not data:
        return None
    version = str(data.get("version", ""))
    with _parsed_lock:
        hit = _parsed.get(version)
    if hit is not None:
        return hit
    try:
        fitted = FittedRanking.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("fitted ranking %s unreadable, serving the fixed weights: %s", version, exc)
        return None
    with _parsed_lock:
        if len(_parsed) > 4:
            _parsed.clear()
        _parsed[version] = fitted
    return fitted
