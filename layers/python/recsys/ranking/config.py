"""Ranking knobs: signal weights, candidate budgets and business rules, tuned offline.

The settable ones (weights and rules) have their defaults in one place,
:class:`recsys.core.config.RankingSettings` (chosen on the Online Retail evaluation,
docs/EVALUATION.md). :meth:`RankingConfig.from_settings` builds the config from a
:class:`~recsys.core.config.Settings`, :meth:`RankingConfig.from_overrides` from settings named
as in the environment without ``RECSYS_`` (``{"ranking_w_content": 0.6}``, what an experiment
variant or the tuner gives); an unknown name is a :class:`~recsys.core.errors.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from recsys.core.config import RankingSettings, Settings

_DEFAULTS = RankingSettings()


@dataclass(frozen=True)
class Weights:
    """Weight of each signal in the hybrid score; each signal is first scaled to [0, 1]."""

    content: float = _DEFAULTS.w_content
    collaborative: float = _DEFAULTS.w_collaborative
    similar_users: float = _DEFAULTS.w_similar_users
    popularity: float = _DEFAULTS.w_popularity
    trending: float = _DEFAULTS.w_trending
    freshness: float = _DEFAULTS.w_freshness
    repeat: float = _DEFAULTS.w_repeat


@dataclass(frozen=True)
class RankingConfig:
    """Everything ranking needs besides its inputs."""

    weights: Weights = field(default_factory=Weights)
    #: Offer items the user already bought ("buy again"); off means exclude them.
    buy_again: bool = _DEFAULTS.buy_again
    #: Leave out products viewed or carted recently (``UserState.recent``).
    exclude_seen: bool = _DEFAULTS.exclude_seen
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
    #: beat long tails that add up to bestsellers (docs/EVALUATION.md, neighbours per seed).
    neighbours_per_seed: int = 10
    similar_users: int = 30
    popular_candidates: int = 50
    #: Candidates whose payloads and vectors are read and fully scored (the rest are cut by
    #: the signals known before reading them).
    max_candidates: int = 100
    freshness_tau_days: float = 90.0
    #: At most this many items of one top-level category in a list (0: no cap).
    max_per_category: int = _DEFAULTS.max_per_category
    #: Default MMR trade-off when the request does not say (0: relevance only).
    diversity: float = _DEFAULTS.diversity

    @classmethod
    def from_ranking_settings(cls, ranking: RankingSettings) -> RankingConfig:
        """The config for validated ranking settings (every other knob at its default)."""
        weights = Weights(
            content=ranking.w_content,
            collaborative=ranking.w_collaborative,
            similar_users=ranking.w_similar_users,
            popularity=ranking.w_popularity,
            trending=ranking.w_trending,
            freshness=ranking.w_freshness,
            repeat=ranking.w_repeat,
        )
        return cls(
            weights=weights,
            buy_again=ranking.buy_again,
            exclude_seen=ranking.exclude_seen,
            max_per_category=ranking.max_per_category,
            diversity=ranking.diversity,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> RankingConfig:
        """The config ``settings.ranking`` asks for."""
        return cls.from_ranking_settings(settings.ranking)

    @classmethod
    def from_overrides(
        cls, overrides: Mapping[str, Any], *, base: Settings | None = None
    ) -> RankingConfig:
        """``base``'s ranking (default: the defaults) with ``overrides`` by setting name —
        ``ranking_w_content`` or ``RANKING_W_CONTENT`` — validated like the environment;
        unknown names or bad values raise ConfigError."""
        settings = base if base is not None else Settings.model_construct(ranking=_DEFAULTS)
        return cls.from_settings(settings.with_ranking(overrides))

    def replace(self, **changes: Any) -> RankingConfig:
        """A copy with ``changes`` (dataclass field names)."""
        return replace(self, **changes)
