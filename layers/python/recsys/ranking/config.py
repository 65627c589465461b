"""Ranking knobs: signal weights, candidate budgets and business rules, tuned offline.

The defaults are the weights chosen on the Online Retail evaluation (docs/EVALUATION.md);
:meth:`RankingConfig.from_settings` reads their overrides from :class:`recsys.core.config.Settings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from recsys.core.config import Settings


@dataclass(frozen=True)
class Weights:
    """Weight of each signal in the hybrid score; each signal is first scaled to [0, 1]."""

    content: float = 0.5
    collaborative: float = 0.7
    similar_users: float = 0.5
    popularity: float = 0.4
    trending: float = 0.05
    freshness: float = 0.0
    repeat: float = 3.0


@dataclass(frozen=True)
class RankingConfig:
    """Everything ranking needs besides its inputs."""

    weights: Weights = field(default_factory=Weights)
    #: Offer items the user already bought ("buy again"); off means exclude them.
    buy_again: bool = True
    #: Leave out products viewed or carted recently (``UserState.recent``).
    exclude_seen: bool = False
    #: Repeat-purchase recency decay, days (re-stocking customers re-buy items from months ago).
    repeat_tau_days: float = 365.0
    #: How many recent distinct purchases seed co-purchase candidates, and their decay. Every
    #: purchase the profile keeps (``profile_recent_items``, 50) and a year's τ: on Online Retail
    #: the whole history predicts new purchases better than the last month's (docs/EVALUATION.md),
    #: and the stored profile keeps purchases without times, so serving weights them ~equally too.
    seed_items: int = 50
    seed_tau_days: float = 365.0
    ann_candidates: int = 50
    #: Co-purchase neighbours taken per seed: with 50 seeds, each seed's few closest partners
    #: beat long tails that add up to bestsellers (new-recall 0.0421 → 0.0437 and
    #: 0.0513 → 0.0528 on the two evaluation splits going from 50 to 10).
    neighbours_per_seed: int = 10
    similar_users: int = 30
    popular_candidates: int = 50
    #: Candidates whose payloads and vectors are read and fully scored (the rest are cut by
    #: the signals known before reading them).
    max_candidates: int = 100
    freshness_tau_days: float = 90.0
    #: At most this many items of one top-level category in a list (0: no cap).
    max_per_category: int = 0
    #: Default MMR trade-off when the request does not say (0: relevance only).
    diversity: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RankingConfig:
        """The defaults, overridden by ``settings.ranking_*`` fields where present."""
        weights = Weights(
            **{
                f.name: getattr(settings, f"ranking_w_{f.name}")
                for f in fields(Weights)
                if hasattr(settings, f"ranking_w_{f.name}")
            }
        )
        extra: dict[str, Any] = {
            f.name: getattr(settings, f"ranking_{f.name}")
            for f in fields(cls)
            if f.name != "weights" and hasattr(settings, f"ranking_{f.name}")
        }
        return replace(cls(weights=weights), **extra)
