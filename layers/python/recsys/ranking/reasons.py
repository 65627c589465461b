"""Human-readable reasons: the signal that contributed most to an item's score explains it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recsys.ranking.rules import top_category


def _title(payloads: Mapping[str, Mapping[str, Any]], pid: str | None) -> str:
    if not pid:
        return "something you liked"
    return str(payloads.get(pid, {}).get("title") or pid)


def explain(
    *,
    contributions: Mapping[str, float],
    evidence: Mapping[str, str],
    payload: Mapping[str, Any],
    payloads: Mapping[str, Mapping[str, Any]],
) -> str:
    """The reason for one item from its weighted signal contributions and their evidence."""
    signal = max(contributions, key=lambda s: contributions[s], default="popularity")
    if contributions.get(signal, 0.0) <= 0.0:
        signal = "popularity"
    if signal == "repeat":
        return "buy it again: you bought this before"
    if signal == "collaborative":
        return f"often bought with {_title(payloads, evidence.get('collaborative'))}"
    if signal == "content":
        seed = evidence.get("content")
        if seed:
            return f"because you bought {_title(payloads, seed)}"
        return "matches your taste"
    if signal == "similar_users":
        return "customers with similar taste bought this"
    if signal == "trending":
        cat = top_category(payload)
        return f"trending in {cat}" if cat else "trending now"
    if signal == "freshness":
        return "new in"
    return "popular right now"
