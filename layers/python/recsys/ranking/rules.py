"""Filters and business rules applied to candidate payloads.

Candidates come from several sources (ANN, co-purchase lists, aggregates, other users' items)
and only the ANN path can push filters into the store, so every candidate is checked here
against the same :class:`~recsys.store.base.Filters` the store honours.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from recsys.catalog.categories import brand_key, category_key, category_keys
from recsys.catalog.categories import top_category as category_top
from recsys.store.base import Filters


def top_category(payload: Mapping[str, Any]) -> str:
    """The first level of the product's category path ("" when it has none)."""
    return category_top(str(payload.get("category") or ""))


def _flag(payload: Mapping[str, Any], name: str, default: bool) -> bool:
    value = payload.get(name)
    return default if value is None else bool(value)


def predicate(filters: Filters | None) -> Callable[[Mapping[str, Any]], bool]:
    """A payload test for ``filters``, with its sets built once (it runs per candidate)."""
    if filters is None:
        return lambda _: True
    f = filters
    # The store's semantics (recsys.store.base.Filters): case aside, any level, any word of one.
    categories = {category_key(c) for c in f.categories or ()}
    brands = {brand_key(b) for b in f.brands or ()} - {None}
    excluded = set(f.exclude_keys)
    priced = f.price_min is not None or f.price_max is not None

    def test(payload: Mapping[str, Any]) -> bool:
        if f.is_active is not None and _flag(payload, "is_active", True) != f.is_active:
            return False
        if f.in_stock is not None and _flag(payload, "in_stock", True) != f.in_stock:
            return False
        if categories and not categories.intersection(
            payload.get("category_keys") or category_keys(payload.get("category"))
        ):
            return False
        if brands and brand_key(payload.get("brand")) not in brands:
            return False
        if priced:
            price = payload.get("price")
            if price is None:
                return False
            if f.price_min is not None and float(price) < f.price_min:
                return False
            if f.price_max is not None and float(price) > f.price_max:
                return False
        return not excluded or str(payload.get("product_id", "")) not in excluded

    return test


def matches(payload: Mapping[str, Any], filters: Filters | None) -> bool:
    """True when ``payload`` passes ``filters`` (``None`` fields impose nothing)."""
    return predicate(filters)(payload)


def cap_per_category(
    ranked: Sequence[str], payloads: Mapping[str, Mapping[str, Any]], *, cap: int
) -> list[str]:
    """Keep the order but at most ``cap`` items per top-level category (cap 0: no limit)."""
    if cap <= 0:
        return list(ranked)
    seen: dict[str, int] = {}
    out: list[str] = []
    for pid in ranked:
        cat = top_category(payloads.get(pid, {}))
        if seen.get(cat, 0) < cap:
            seen[cat] = seen.get(cat, 0) + 1
            out.append(pid)
    return out
