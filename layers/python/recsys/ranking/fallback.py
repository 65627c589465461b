"""The non-personal lists every strategy falls back on: trending, then popular, then catalog
order — hydrated from the product store and held to the request's filters.

Nothing here raises for an outage: what fails is recorded in the request's ``problems`` and the
list is made of what is left (bare ids when the product store is down, empty lists when the
aggregates are), so the reply can say it is ``degraded``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from recsys.ranking.rules import matches, top_category
from recsys.ranking.types import AggregateSource, Scored
from recsys.store.base import Filters, VectorStore

__all__ = ["Fallbacks", "NoAggregates", "Reply"]

log = logging.getLogger(__name__)


@dataclass
class Reply:
    """A ranked list, how it was made, and whether a dependency failed on the way."""

    strategy: str
    items: list[Scored]
    degraded: bool = False
    #: What failed, for logs (never shown to shoppers).
    problems: list[str] = field(default_factory=list)


class NoAggregates:
    """Stands in when the aggregates cannot be loaded: every list is empty."""

    def popular(self, *, limit: int, category: str | None = None) -> list[tuple[str, float]]:
        return []

    def trending(self, *, limit: int, category: str | None = None) -> list[tuple[str, float]]:
        return []

    def bought_with(self, product_id: str, *, limit: int) -> list[tuple[str, float]]:
        return []

    def popularity(self, product_id: str) -> float:
        return 0.0


class Fallbacks:
    """Aggregate lists over the product store (both read through loaders, so an outage at
    any moment degrades the one request it hits)."""

    def __init__(
        self,
        *,
        store: Callable[[], VectorStore],
        aggregates: Callable[[], AggregateSource],
        products: str,
    ) -> None:
        self._store = store
        self._aggregates = aggregates
        self.products = products

    def aggregates(self, problems: list[str]) -> AggregateSource:
        """The aggregates, or empty ones when they cannot be loaded (recorded in problems)."""
        try:
            return self._aggregates()
        except Exception as exc:  # any outage of S3 / parsing degrades, never fails the reply
            problems.append(f"aggregates: {exc}")
            log.warning("aggregates unavailable: %s", exc)
            return NoAggregates()

    def hydrate(
        self,
        ranked: Sequence[tuple[str, float]],
        *,
        reason: Callable[[Mapping[str, Any]], str],
        filters: Filters | None,
        limit: int,
        problems: list[str],
    ) -> list[Scored]:
        """Payloads for ids from the aggregates, filtered; bare ids when the store is down."""
        ids = [pid for pid, _ in ranked]
        try:
            found = {r.key: r.payload for r in self._store().retrieve(self.products, ids)}
        except Exception as exc:
            problems.append(f"products: {exc}")
            return [
                Scored(pid, round(s, 6), reason({}), {"product_id": pid})
                for pid, s in ranked[:limit]
            ]
        out = [
            Scored(pid, round(s, 6), reason(found[pid]), found[pid])
            for pid, s in ranked
            if pid in found and matches(found[pid], filters)
        ]
        return out[:limit]

    def aggregate_list(
        self,
        *,
        limit: int,
        filters: Filters | None,
        problems: list[str],
        trending_first: bool = True,
    ) -> Reply:
        """Trending, then popular, then catalog order: the cold-start and outage fallback."""
        aggs = self.aggregates(problems)
        category = filters.categories[0] if filters and filters.categories else None
        pool = max(limit * 5, 50)
        if trending_first:
            trending = aggs.trending(limit=pool, category=category)
            items = self.hydrate(
                trending,
                reason=lambda p: (
                    f"trending in {top_category(p)}" if top_category(p) else "trending now"
                ),
                filters=filters,
                limit=limit,
                problems=problems,
            )
            if len(items) >= limit:
                return Reply("trending", items, bool(problems), problems)
        else:
            items = []
        seen = {s.product_id for s in items}
        popular = [(p, s) for p, s in aggs.popular(limit=pool, category=category) if p not in seen]
        items += self.hydrate(
            popular,
            reason=lambda _: "popular right now",
            filters=filters,
            limit=limit - len(items),
            problems=problems,
        )
        if items:
            strategy = "trending" if trending_first and seen else "popular"
            return Reply(strategy, items[:limit], bool(problems), problems)
        return self.catalog_order(limit=limit, filters=filters, problems=problems)

    def catalog_order(self, *, limit: int, filters: Filters | None, problems: list[str]) -> Reply:
        """A catalog without any events yet still answers: the first matching products."""
        items: list[Scored] = []
        try:
            for rec in self._store().scroll(self.products, filters=filters, batch_size=limit):
                items.append(Scored(rec.key, 0.0, "new in our catalog", rec.payload))
                if len(items) >= limit:
                    break
        except Exception as exc:
            problems.append(f"catalog: {exc}")
        return Reply("catalog", items, bool(problems), problems)
