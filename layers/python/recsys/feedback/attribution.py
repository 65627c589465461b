"""Attribution: newly logged events → counts of the lists that earned them.

- ``impression`` / ``click`` / ``add_to_cart`` / ``purchase`` carrying ``context.request_id``
  count for that list (its strategy and variant come from the list logged when it was served);
  an unknown or expired request id counts under ``(unknown)``.
- A click is remembered per (owner, product) for ``attribution_window_s``: an ``add_to_cart``
  or ``purchase`` of that product by the same owner (the user, or their session) within the
  window counts for the clicked list even without a request id.
- Revenue = price × quantity (quantity 1 when absent), summed exactly as decimals.

Only events the log wrote for the first time are passed here, so a redelivered event is never
counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from recsys.events.models import LoggedEvent
from recsys.feedback.model import UNKNOWN, Click, Counts, ListInfo, day_of, pseudonym
from recsys.feedback.store import BucketKey

__all__ = ["ATTRIBUTED_TYPES", "Attribution", "attribute", "request_id_of"]

ATTRIBUTED_TYPES = frozenset({"impression", "click", "add_to_cart", "purchase"})


class Lookups(Protocol):
    """What attribution reads: served lists and remembered clicks."""

    def lookup_lists(self, request_ids: Iterable[str]) -> Mapping[str, ListInfo]: ...

    def lookup_clicks(self, keys: Iterable[tuple[str, str]]) -> Mapping[tuple[str, str], Click]: ...


def request_id_of(ev: LoggedEvent) -> str | None:
    """The list an event came from (``context.request_id``), if it says."""
    ctx: Mapping[str, Any] = ev.context or {}
    rid = ctx.get("request_id")
    return str(rid) if isinstance(rid, str | int) and str(rid) else None


def _owners(ev: LoggedEvent) -> list[str]:
    """Pseudonyms under which this event's clicks are remembered: the user and the session."""
    out = []
    if ev.user_id:
        out.append(pseudonym(f"u#{ev.user_id}"))
    if ev.session_id:
        out.append(pseudonym(f"s#{ev.session_id}"))
    return out


def revenue_of(ev: LoggedEvent) -> Decimal:
    """price × quantity, exactly (a missing quantity is 1, a missing price 0)."""
    if ev.price is None:
        return Decimal(0)
    qty = 1 if ev.quantity is None else ev.quantity
    return Decimal(repr(ev.price)) * qty


@dataclass
class Attribution:
    """What a batch of events adds: counts per bucket and the clicks to remember."""

    deltas: dict[BucketKey, Counts] = field(default_factory=dict)
    clicks: list[Click] = field(default_factory=list)
    attributed: int = 0

    def bucket(self, at: float, strategy: str, variant: str) -> Counts:
        return self.deltas.setdefault((day_of(at), strategy, variant), Counts())


def attribute(events: Sequence[LoggedEvent], *, lookups: Lookups, window_s: float) -> Attribution:
    """Count ``events`` (newly logged ones only) for the lists they came from."""
    relevant = sorted((e for e in events if e.type in ATTRIBUTED_TYPES), key=lambda e: e.at)
    out = Attribution()
    if not relevant:
        return out
    lists = lookups.lookup_lists({rid for e in relevant if (rid := request_id_of(e))})
    # Clicks may come in the same batch as the purchase they lead to: those are known here,
    # older ones are looked up once for every (owner, product) a sale without an id names.
    wanted = {
        (o, e.product_id)
        for e in relevant
        if e.type in ("add_to_cart", "purchase") and not request_id_of(e) and e.product_id
        for o in _owners(e)
    }
    remembered: dict[tuple[str, str], Click] = dict(lookups.lookup_clicks(wanted) if wanted else {})
    for ev in relevant:
        source = _source(ev, lists, remembered, window_s)
        if source is None:
            continue  # not from a list
        rid, strategy, variant = source
        out.attributed += 1
        _count(out, ev, rid, strategy, variant, remembered)
    return out


def _source(
    ev: LoggedEvent,
    lists: Mapping[str, ListInfo],
    remembered: Mapping[tuple[str, str], Click],
    window_s: float,
) -> tuple[str, str, str] | None:
    """(request id, strategy, variant) of the list this event counts for, if any."""
    rid = request_id_of(ev)
    if rid is not None:
        info = lists.get(rid)
        return (rid, info.strategy, info.variant) if info else (rid, UNKNOWN, UNKNOWN)
    if ev.type in ("add_to_cart", "purchase") and ev.product_id:
        click = _clicked(remembered, ev, window_s)
        if click is not None:
            return click.request_id, click.strategy, click.variant
    return None


def _count(
    out: Attribution,
    ev: LoggedEvent,
    rid: str,
    strategy: str,
    variant: str,
    remembered: dict[tuple[str, str], Click],
) -> None:
    counts = out.bucket(ev.at, strategy, variant)
    if ev.type == "impression":
        counts.impressions += 1
        if ev.product_id and strategy != UNKNOWN:
            counts.shown.add(ev.product_id)
    elif ev.type == "click":
        counts.clicks += 1
        for owner in _owners(ev) if ev.product_id else []:
            click = Click(owner, ev.product_id or "", rid, strategy, variant, ev.at)
            out.clicks.append(click)
            prev = remembered.get((owner, click.product_id))
            if prev is None or prev.at <= ev.at:
                remembered[(owner, click.product_id)] = click
    elif ev.type == "add_to_cart":
        counts.add_to_carts += 1
    else:
        counts.conversions += 1
        counts.revenue += revenue_of(ev)


def _clicked(
    remembered: Mapping[tuple[str, str], Click], ev: LoggedEvent, window_s: float
) -> Click | None:
    """The latest click on this product by this owner within the window before ``ev``."""
    best: Click | None = None
    for owner in _owners(ev):
        c = remembered.get((owner, ev.product_id or ""))
        if c is not None and c.at <= ev.at <= c.at + window_s and (best is None or c.at > best.at):
            best = c
    return best
