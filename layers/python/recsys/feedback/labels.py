"""Attributed clicks as training labels for the ranking (the self-tuning job reads these).

From logged events (the event log is the source of truth; the nightly job reads it anyway):
each item shown in a list (an ``impression`` with ``context.request_id``) becomes one
:class:`Label` — clicked or not, bought or not (a purchase naming the list, or of a clicked
item by the same owner within the window) — with its position, so a learner can correct for
position bias (e.g. weight by the inverse of the click rate at that position:
:func:`position_propensity`). Impressions without a click are the negatives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from recsys.events.models import LoggedEvent
from recsys.feedback.attribution import request_id_of

__all__ = ["Label", "labels_from_events", "position_propensity"]


@dataclass(frozen=True)
class Label:
    """One shown item of one list and what the shopper did with it."""

    request_id: str
    owner: str
    product_id: str
    position: int
    at: float
    clicked: bool
    purchased: bool


def _position(ev: LoggedEvent) -> int:
    pos = (ev.context or {}).get("position")
    return int(pos) if isinstance(pos, int | float) and not isinstance(pos, bool) else -1


def labels_from_events(events: Iterable[LoggedEvent], *, window_s: float) -> list[Label]:
    """One label per (list, product) shown, in time order."""
    shown: dict[tuple[str, str], LoggedEvent] = {}
    clicks: dict[tuple[str, str], LoggedEvent] = {}
    by_owner_product: dict[tuple[str, str], list[LoggedEvent]] = defaultdict(list)
    bought: set[tuple[str, str]] = set()
    ordered = sorted(events, key=lambda e: e.at)
    for ev in ordered:
        rid = request_id_of(ev)
        if ev.product_id is None:
            continue
        if ev.type == "impression" and rid is not None:
            shown.setdefault((rid, ev.product_id), ev)
        elif ev.type == "click" and rid is not None:
            clicks.setdefault((rid, ev.product_id), ev)
            by_owner_product[(ev.owner, ev.product_id)].append(ev)
        elif ev.type == "purchase":
            if rid is not None:
                bought.add((rid, ev.product_id))
                continue
            for c in reversed(by_owner_product.get((ev.owner, ev.product_id), [])):
                if c.at <= ev.at <= c.at + window_s:
                    bought.add((request_id_of(c) or "", ev.product_id))
                    break
    return [
        Label(
            request_id=rid,
            owner=imp.owner,
            product_id=pid,
            position=_position(imp),
            at=imp.at,
            clicked=(rid, pid) in clicks,
            purchased=(rid, pid) in bought,
        )
        for (rid, pid), imp in shown.items()
    ]


def position_propensity(labels: Iterable[Label], *, positions: int = 20) -> list[float]:
    """Click rate per position relative to position 0 (1.0 at the top): the examination
    probability a position-debiased learner divides by. Positions without data get 1.0."""
    shown = [0] * positions
    clicked = [0] * positions
    for lab in labels:
        if 0 <= lab.position < positions:
            shown[lab.position] += 1
            clicked[lab.position] += lab.clicked
    rates = [c / s if s else 0.0 for c, s in zip(clicked, shown, strict=True)]
    top = rates[0] or max(rates, default=0.0)
    return [min(1.0, r / top) if top > 0 and r > 0 else 1.0 for r in rates]
