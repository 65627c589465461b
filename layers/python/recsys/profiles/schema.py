"""The payload of a profile point in the ``users`` collection: one typed shape for its writer
(:mod:`recsys.profiles.service`) and every reader (ranking, the cached recommender, the nightly
job).

A dataclass rather than a pydantic model: the recommender reads the payloads of every similar
user on each personal request, and the values were written by :meth:`ProfilePayload.to_payload`
itself, so there is nothing to validate. Every field has a default, so a profile written by an
older version (or a benchmark's hand-made one) reads with what it has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypedDict

__all__ = ["PriceBand", "ProfileKind", "ProfilePayload"]

ProfileKind = Literal["user", "session"]


class PriceBand(TypedDict):
    """Quantiles of the last purchased prices."""

    min: float
    p25: float
    median: float
    p75: float
    max: float
    n: int


@dataclass(frozen=True, slots=True)
class ProfilePayload:
    """What a profile point holds besides its vectors ("long", "short")."""

    kind: ProfileKind = "user"
    #: The event-log owner key ("u#<user>" or "s#<session>").
    owner: str | None = None
    #: The decayed long-term sum as unit vector (the point's "long") × ``long_norm``, as of
    #: ``long_as_of`` over ``long_count`` events: enough to continue it exactly.
    long_norm: float = 0.0
    long_as_of: float = 0.0
    long_count: int = 0
    #: Reference time of the short-term vector (the newest of the last N events).
    short_as_of: float = 0.0
    #: Sort key of the newest event included (None: the profile must be rebuilt).
    last_sk: str | None = None
    last_event_at: str | None = None
    last_event_ts: float | None = None
    #: Events per type.
    counts: dict[str, int] = field(default_factory=dict)
    #: Decayed affinity per full category path, highest first.
    category_scores: dict[str, float] = field(default_factory=dict)
    top_categories: list[str] = field(default_factory=list)
    #: Last purchased prices, newest first.
    purchase_prices: list[float] = field(default_factory=list)
    price_band: PriceBand | None = None
    #: Last interacted products, newest first (the recommender leaves them out).
    recent_product_ids: list[str] = field(default_factory=list)
    #: Last purchased products, newest first.
    recent_purchases: list[str] = field(default_factory=list)
    #: Per recent purchase: [occasions, first time, last time, last occasion's key] ("buy again").
    purchase_stats: dict[str, list[Any]] = field(default_factory=dict)
    #: Products whose latest cart event added them, newest first (reasons say "carted").
    recent_carted: list[str] = field(default_factory=list)
    #: Only grows; part of every cache key.
    profile_version: int = 0
    updated_at: str | None = None
    updated_ts: float = 0.0
    #: Set for anonymous sessions.
    session_id: str | None = None

    @classmethod
    def read(cls, payload: Mapping[str, Any] | None) -> ProfilePayload:
        """The payload of a stored point (unknown keys ignored, missing ones defaulted)."""
        if not payload:
            return cls()
        return cls(**{k: v for k, v in payload.items() if k in _NAMES})

    def to_payload(self) -> dict[str, Any]:
        """The point payload to store (unset optional fields left out)."""
        out = {name: getattr(self, name) for name in _FIELDS}
        return {k: v for k, v in out.items() if v is not None}

    @property
    def is_user(self) -> bool:
        """A signed-in user's profile (not an anonymous session's)."""
        return self.kind == "user"

    @property
    def bought_or_seen(self) -> list[str]:
        """What the user bought, else what they interacted with, newest first (what a similar
        user lends to collaborative candidates)."""
        return self.recent_purchases or self.recent_product_ids


_FIELDS = tuple(f.name for f in fields(ProfilePayload))
_NAMES = frozenset(_FIELDS)
