""":class:`~recsys.store.model.Filters` as backend-neutral conditions.

The base store turns a request's filters into these once; each backend only translates the
four kinds into its engine's filter objects, so both backends select exactly the same points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from recsys.catalog.categories import brand_key, category_key
from recsys.store._common import check_filters
from recsys.store.model import FLAG_FIELDS, Filters

__all__ = ["AnyOf", "Between", "Condition", "Either", "Equals", "filter_conditions"]


@dataclass(frozen=True)
class AnyOf:
    """The keyword field holds one of ``values``."""

    field: str
    values: Sequence[Any]


@dataclass(frozen=True)
class Between:
    """The float field lies in [gte, lte] (a None bound is open)."""

    field: str
    gte: float | None
    lte: float | None


@dataclass(frozen=True)
class Equals:
    """The integer field equals ``value``."""

    field: str
    value: int


@dataclass(frozen=True)
class Either:
    """At least one of ``options`` holds."""

    options: Sequence[Condition]


Condition = AnyOf | Between | Equals | Either


def category_filter_keys(filters: Filters) -> list[str]:
    """The case-folded ``category_keys`` values a category filter selects."""
    return list(dict.fromkeys(category_key(c) for c in filters.categories or ()))


def brand_filter_keys(filters: Filters) -> list[str]:
    """The case-folded ``brand_key`` values a brand filter selects."""
    return [k for k in dict.fromkeys(brand_key(b) for b in filters.brands or ()) if k]


def filter_conditions(filters: Filters) -> list[Condition]:
    """What every matching point satisfies (``exclude_keys`` aside: those are point ids)."""
    check_filters(filters)
    must: list[Condition] = []
    if filters.categories:
        # Case-folded keys; products written before ``category_keys`` existed match on their
        # exact-case levels.
        must.append(
            Either(
                (
                    AnyOf("category_keys", category_filter_keys(filters)),
                    AnyOf("category_levels", list(filters.categories)),
                )
            )
        )
    if filters.brands:
        must.append(
            Either(
                (
                    AnyOf("brand_key", brand_filter_keys(filters)),
                    AnyOf("brand", list(filters.brands)),
                )
            )
        )
    if filters.price_min is not None or filters.price_max is not None:
        must.append(Between("price", filters.price_min, filters.price_max))
    for flag in FLAG_FIELDS:
        wanted = getattr(filters, flag)
        if wanted is not None:
            must.append(Equals(flag, int(wanted)))
    return must
