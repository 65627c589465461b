"""Profile maths: a decayed, weighted sum of item (and query) vectors.

profile(t) = normalise( Σ_e w(type_e) · exp(−(t − t_e)/τ) · v_e )

The unnormalised sum S and the time it refers to are kept together (``DecayedSum``), so an
incremental update is exact: S(t1) = S(t0)·exp(−(t1 − t0)/τ) + new contributions. Storing the
normalised vector plus |S| is enough to recover S.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from recsys.store.base import Vector

#: Default event weights (settings may override). Negative events subtract.
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "purchase": 5.0,
    "add_to_cart": 3.0,
    "wishlist": 2.0,
    "click": 1.5,
    "view": 1.0,
    "search": 1.0,
    "remove_from_cart": -1.0,
    "impression": 0.0,
}


@dataclass(frozen=True)
class ProfileEvent:
    """What the maths needs of an event: its type, when (epoch seconds) and its vector key."""

    type: str
    at: float
    product_id: str | None = None
    query: str | None = None
    #: The order (basket) a purchase belongs to; co-purchase aggregates group by it.
    order_id: str | None = None
    #: Whose event it is ("u#<user_id>" / "s#<session_id>"); baskets without an order fall back to
    #: the owner and day.
    owner: str | None = None


def event_weight(
    event_type: str, age_seconds: float, *, tau_seconds: float, weights: Mapping[str, float]
) -> float:
    """w(type) · exp(−age/τ); events from the future count as age 0."""
    return weights.get(event_type, 0.0) * math.exp(-max(age_seconds, 0.0) / tau_seconds)


@dataclass
class DecayedSum:
    """An unnormalised weighted vector sum valid at time ``as_of`` (epoch seconds)."""

    vector: Vector
    as_of: float
    count: int = 0

    @classmethod
    def empty(cls, size: int, as_of: float) -> DecayedSum:
        return cls(np.zeros(size, dtype=np.float32), as_of, 0)

    @classmethod
    def from_stored(cls, unit: Vector, norm: float, as_of: float, count: int) -> DecayedSum:
        """Rebuild the sum from a stored unit vector and its norm."""
        return cls((np.asarray(unit, dtype=np.float32) * np.float32(norm)), as_of, count)

    def decayed_to(self, now: float, *, tau_seconds: float) -> DecayedSum:
        """The same sum seen at ``now`` (never moves backwards in time)."""
        if now <= self.as_of:
            return self
        factor = np.float32(math.exp(-(now - self.as_of) / tau_seconds))
        return DecayedSum(self.vector * factor, now, self.count)

    def add(
        self,
        vector: Vector,
        event_type: str,
        at: float,
        *,
        tau_seconds: float,
        weights: Mapping[str, float],
    ) -> None:
        """Add one event's contribution, decayed from its time ``at`` to ``as_of``."""
        w = event_weight(event_type, self.as_of - at, tau_seconds=tau_seconds, weights=weights)
        if w != 0.0:
            self.vector = self.vector + np.float32(w) * np.asarray(vector, dtype=np.float32)
            self.count += 1

    @property
    def norm(self) -> float:
        return float(np.linalg.norm(self.vector))

    def unit(self) -> Vector | None:
        """The normalised profile vector, or None when nothing (or everything cancelled) counts."""
        n = self.norm
        if n < 1e-9:
            return None
        return (self.vector / np.float32(n)).astype(np.float32)


def build_profile(
    events: Iterable[ProfileEvent],
    vectors: Mapping[str, Vector],
    *,
    now: float,
    tau_seconds: float,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
    size: int = 384,
) -> DecayedSum:
    """The decayed sum over ``events`` at ``now``; events whose vector is unknown are skipped.

    ``vectors`` maps product ids — and, for searches, the query text — to their embeddings.
    """
    acc = DecayedSum.empty(size, now)
    for ev in events:
        key = ev.query if ev.type == "search" else ev.product_id
        vec = vectors.get(key) if key is not None else None
        if vec is not None:
            acc.add(vec, ev.type, ev.at, tau_seconds=tau_seconds, weights=weights)
    return acc
