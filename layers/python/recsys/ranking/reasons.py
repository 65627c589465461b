"""Human-readable reasons: the signal that contributed most to an item's score explains it.

A reason that names another product says how the shopper met it, from what the ranking knows
(:meth:`recsys.ranking.types.UserState.interactions`): "because you bought X" only for a
purchase, "because you carted X" / "because you viewed X" otherwise, and on a cart's list only
the products in that cart ("goes with X in your cart"). A product the shopper never met is
never named.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recsys.ranking.rules import top_category

#: How a content reason names the product it is nearest to, by the shopper's interaction.
CONTENT_REASONS = {
    "bought": "because you bought {title}",
    "carted": "because you carted {title}",
    "viewed": "because you viewed {title}",
    "in_cart": "goes with {title} in your cart",
}


def _title(payloads: Mapping[str, Mapping[str, Any]], pid: str | None) -> str:
    if not pid:
        return "something you liked"
    return str(payloads.get(pid, {}).get("title") or pid)


def _how(interactions: Mapping[str, str] | None, pid: str | None) -> str | None:
    """How the shopper met ``pid`` (None: never, so it is not named). Without
    ``interactions`` the seeds are purchases, as in offline evaluation."""
    if not pid:
        return None
    if interactions is None:
        return "bought"
    return interactions.get(pid)


def explain(
    *,
    contributions: Mapping[str, float],
    evidence: Mapping[str, str],
    payload: Mapping[str, Any],
    payloads: Mapping[str, Mapping[str, Any]],
    interactions: Mapping[str, str] | None = None,
) -> str:
    """The reason for one item from its weighted signal contributions and their evidence
    (``evidence``: signal → the product behind it; ``interactions``: product → "bought",
    "carted", "viewed" or "in_cart")."""
    signal = max(contributions, key=lambda s: contributions[s], default="popularity")
    if contributions.get(signal, 0.0) <= 0.0:
        signal = "popularity"
    if signal == "repeat":
        return "buy it again: you bought this before"
    if signal == "collaborative":
        seed = evidence.get("collaborative")
        how = _how(interactions, seed)
        if how is None:
            return "often bought together"
        suffix = " in your cart" if how == "in_cart" else ""
        return f"often bought with {_title(payloads, seed)}{suffix}"
    if signal == "content":
        seed = evidence.get("content")
        how = _how(interactions, seed)
        if how is not None and how in CONTENT_REASONS:
            return CONTENT_REASONS[how].format(title=_title(payloads, seed))
        return "matches your taste"
    if signal == "similar_users":
        return "customers with similar taste bought this"
    if signal == "trending":
        cat = top_category(payload)
        return f"trending in {cat}" if cat else "trending now"
    if signal == "freshness":
        return "new in"
    return "popular right now"
