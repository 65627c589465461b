"""The shapes of attribution: a served list, a click remembered for later sales, and the
additive counts kept per (day, strategy, variant).

Nothing here does I/O; :mod:`recsys.feedback.store` keeps these in DynamoDB and
:mod:`recsys.feedback.attribution` derives them from logged events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal

__all__ = [
    "UNKNOWN",
    "Click",
    "Counts",
    "ListInfo",
    "ServedList",
    "day_of",
    "latest_clicks",
    "pseudonym",
    "shard_of",
]

#: Strategy and variant of events whose request id names no logged list.
UNKNOWN = "(unknown)"


def day_of(ts: float) -> str:
    """The UTC day of an epoch time, ``YYYY-MM-DD`` (the stats' time bucket)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def pseudonym(subject: str) -> str:
    """A stable short hash of a user or session: stats never hold the ids themselves."""
    return hashlib.sha256(subject.encode()).hexdigest()[:16]


def shard_of(key: str, shards: int) -> int:
    """Which of ``shards`` items a set member goes to (keeps each item far below 400 KB)."""
    return int(hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()[:8], 16) % shards


@dataclass(frozen=True)
class ListInfo:
    """What is known about a served list from its request id."""

    strategy: str
    variant: str
    at: float
    cold: bool = False


@dataclass(frozen=True)
class ServedList:
    """A list as served: logged under its request id so later events can name it."""

    request_id: str
    strategy: str
    variant: str
    at: float
    subject: str | None
    cold: bool
    items: int

    @property
    def info(self) -> ListInfo:
        return ListInfo(self.strategy, self.variant, self.at, self.cold)


@dataclass(frozen=True)
class Click:
    """A click on a list item, remembered per (owner, product) for the attribution window."""

    owner: str  # pseudonym of the event owner (u#... / s#...)
    product_id: str
    request_id: str
    strategy: str
    variant: str
    at: float


def latest_clicks(clicks: Iterable[Click]) -> list[Click]:
    """Each (owner, product)'s latest click of ``clicks`` (what a store remembers of them)."""
    latest: dict[tuple[str, str], Click] = {}
    for c in clicks:
        k = (c.owner, c.product_id)
        if k not in latest or c.at >= latest[k].at:
            latest[k] = c
    return list(latest.values())


@dataclass
class Counts:
    """Additive figures of one bucket; ``users`` and ``shown`` are sets (distinct counts)."""

    lists: int = 0
    cold_lists: int = 0
    impressions: int = 0
    clicks: int = 0
    add_to_carts: int = 0
    conversions: int = 0
    revenue: Decimal = Decimal(0)
    users: set[str] = field(default_factory=set)
    shown: set[str] = field(default_factory=set)

    #: The integer counters, in report order.
    COUNTERS = ("lists", "cold_lists", "impressions", "clicks", "add_to_carts", "conversions")

    def add(self, other: Counts) -> None:
        for name in self.COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.revenue += other.revenue
        self.users |= other.users
        self.shown |= other.shown

    def is_empty(self) -> bool:
        return not any(
            getattr(self, f.name) for f in fields(self) if f.name not in ("users", "shown")
        ) and not (self.users or self.shown)
