"""What ranking consumes: a user's state, request options, and the sources it reads.

Sources are protocols so the same ranking code runs over the vector store and aggregates in
production (:mod:`recsys.ranking.sources`) and over in-memory arrays in offline evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

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
    profile_version: int | None = None

    @property
    def is_known(self) -> bool:
        return self.long is not None or bool(self.purchases) or bool(self.recent)


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
