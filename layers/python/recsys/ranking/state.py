"""What ranking needs of a stored profile: the user's state (vectors, purchases, recent and
carted products), read through :class:`recsys.profiles.schema.ProfilePayload`."""

from __future__ import annotations

from recsys.profiles.schema import ProfilePayload
from recsys.ranking.types import Purchase, UserState
from recsys.store.base import Record

__all__ = ["SHORT_HORIZON_TAUS", "purchases", "user_state"]

#: A short-term vector older than this many short time constants says nothing about intent.
SHORT_HORIZON_TAUS = 6.0


def purchases(profile: ProfilePayload, *, now: float) -> list[Purchase]:
    """The profile's purchases as order lines, newest first: each recent product's occasions
    spread evenly between its first and last purchase (``purchase_stats``). A profile without
    them (written before they were kept) gives one line per product, an hour apart."""
    last_event = float(profile.last_event_ts or now)
    out: list[Purchase] = []
    for i, raw in enumerate(profile.recent_purchases):
        pid = str(raw)
        figures = profile.purchase_stats.get(pid)
        if not figures:
            out.append(Purchase(pid, last_event - i * 3600.0))
            continue
        n, first, last = max(int(figures[0]), 1), float(figures[1]), float(figures[2])
        step = (last - first) / (n - 1) if n > 1 else 0.0
        out.extend(Purchase(pid, last - k * step) for k in range(n))
    out.sort(key=lambda p: -p.at)
    return out


def user_state(record: Record | None, *, now: float, tau_short_s: float) -> UserState:
    """The ranking's view of a stored profile (an unknown user when there is none); the
    short-term vector only while it is fresh."""
    if record is None:
        return UserState()
    profile = ProfilePayload.read(record.payload)
    fresh = now - float(profile.short_as_of) < SHORT_HORIZON_TAUS * tau_short_s
    return UserState(
        user_id=record.key,
        long=record.vectors.get("long"),
        short=record.vectors.get("short") if fresh else None,
        purchases=purchases(profile, now=now),
        recent=[str(x) for x in profile.recent_product_ids],
        carted=[str(x) for x in profile.recent_carted],
        profile_version=int(profile.profile_version),
    )
