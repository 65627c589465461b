"""What ranking consumes: a user's state, request options, candidate budgets and the sources
it reads.

Sources are protocols so the same ranking code runs over the vector store and aggregates in
production (:mod:`recsys.ranking.sources`) and over in-memory arrays in offline evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from recsys.store.base import Filters, Vector


@dataclass(frozen=True)
class Purchase:
    """One past purchase (or other strong interaction) of the user, for "buy again" and seeds."""

    product_id: str
    at: float


@dataclass
class UserState:
    """Everything known about the requesting user; an unknown user has nothing set."""

    user_id: str | None = None
    long: Vector | None = None
    short: Vector | None = None
    #: Purchases, most recent first (one entry per order line; repeats carry the signal).
    purchases: Sequence[Purchase] = ()
    #: Recently viewed / carted products, most recent first (seeds; "exclude seen").
    recent: Sequence[str] = ()
    #: Which of ``recent`` were added to a cart (the rest were viewed), for reasons.
    carted: Sequence[str] = ()
    #: The products of the cart a list complements (POST /recommendations/cart): only these
    #: are named in its reasons.
    in_cart: Sequence[str] = ()
    profile_version: int | None = None

    @property
    def is_known(self) -> bool:
        return self.long is not None or bool(self.purchases) or bool(self.recent)

    def query_vector(self) -> Vector | None:
        """What the user's nearest products are searched with: the long- and short-term
        vectors blended (unit length), or whichever of them there is."""
        long, short = self.long, self.short
        if long is None or short is None:
            return long if long is not None else short
        v = np.asarray(long, dtype=np.float32) + np.asarray(short, dtype=np.float32)
        n = float(np.linalg.norm(v))
        return (v / n).astype(np.float32) if n > 1e-9 else np.asarray(long, dtype=np.float32)

    def interactions(self) -> dict[str, str]:
        """How the user met each product a reason may name: "in_cart" (the cart being
        complemented — then nothing else is named), else "bought", "carted" or "viewed"."""
        if self.in_cart:
            return dict.fromkeys(self.in_cart, "in_cart")
        out = dict.fromkeys(self.recent, "viewed")
        out.update(dict.fromkeys(self.carted, "carted"))
        out.update(dict.fromkeys((p.product_id for p in self.purchases), "bought"))
        return out


@dataclass(frozen=True)
class Scored:
    """A ranked item with its score, the reason shown to the shopper and its payload."""

    product_id: str
    score: float
    reason: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    signals: Mapping[str, float] = field(default_factory=dict)


class ItemSource(Protocol):
    """The product side: nearest neighbours by vector, payloads and vectors by id."""

    def nearest(
        self, vector: Vector, *, limit: int, filters: Filters | None
    ) -> list[tuple[str, float]]: ...

    def items(
        self, ids: Sequence[str], *, with_vectors: bool
    ) -> dict[str, tuple[Mapping[str, Any], Vector | None]]: ...


class UserSource(Protocol):
    """The users side: users whose long-term profile is nearest, with their recent products."""

    def similar_users(
        self, vector: Vector, *, limit: int, exclude: str | None
    ) -> list[tuple[str, float, Sequence[str]]]: ...


class AggregateSource(Protocol):
    """The catalog-wide aggregates (:class:`recsys.aggregates.Aggregates` satisfies it)."""

    def popular(self, *, limit: int, category: str | None = None) -> list[tuple[str, float]]: ...

    def trending(self, *, limit: int, category: str | None = None) -> list[tuple[str, float]]: ...

    def bought_with(self, product_id: str, *, limit: int) -> list[tuple[str, float]]: ...

    def popularity(self, product_id: str) -> float: ...


@dataclass(frozen=True)
class Budgets:
    """How many candidates each source contributes (fixed, so tuning and serving agree)."""

    seeds: int = 50
    neighbours: int = 20
    ann: int = 50
    similar_users: int = 30
    #: at most this many co-purchase and similar-user candidates (the strongest by value)
    collab_items: int = 100
    similar_items: int = 50
    repeat: int = 100
    popular: int = 60
    #: the all-time bestsellers by distinct buyers (``popular`` is the 30-day decayed list):
    #: what a bestseller list would show is always a candidate the scorer can rank first
    bestsellers: int = 50
    trending: int = 25
    categories: int = 3
    per_category: int = 10
    #: favourite categories when bought products are excluded ("new"): their bestsellers are
    #: then the personal candidates that take the re-purchases' place
    new_categories: int = 5
    #: With a pre-score (serving), only this many candidates have payloads and vectors read:
    #: the best by every feature but the content cosine (reading them is most of a request).
    fetch: int = 100

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Budgets:
        known = set(cls.__dataclass_fields__)
        values = {k: int(v) for k, v in data.items() if k in known}
        if data and "bestsellers" not in data:
            # Stored before these budgets existed: serve the pools it was checked on.
            values["bestsellers"] = 0
        if data and "new_categories" not in data:
            values["new_categories"] = values.get("categories", cls.categories)
        return cls(**values)
