"""One profile point from a user's events: both vectors and the payload's figures.

The point (key: the user_id; ``session:<session_id>`` for anonymous sessions) holds:
- vector "long": the decayed sum over the user's history (τ = ``profile_tau_long_days``),
  normalised; its norm, reference time and event count are in the payload, so the exact
  unnormalised sum can be continued;
- vector "short": the same over the last ``profile_short_events`` events with τ =
  ``profile_tau_short_s`` (the current session's intent);
- the payload (:class:`recsys.profiles.schema.ProfilePayload`): counts per event type, category
  affinity decayed like the long vector, price band, recent, purchased and carted products,
  purchase occasions for "buy again", ``profile_version``.

Time reference: a profile is kept "as of" its newest event, not as of the wall clock. Decay
multiplies the whole sum by one factor, which changes its norm and never its direction, so the
vector is the same and an old history cannot underflow to zero. Whoever needs the strength
"now" multiplies ``long_norm`` by exp(−(now − long_as_of)/τ).

``profile_version`` is max(previous + 1, wall-clock ms): it only grows, also across an erasure
and re-creation, so a cache keyed on it never serves a list computed for an older profile.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from recsys.catalog.categories import normalise_category
from recsys.core.config import Settings
from recsys.events.models import LoggedEvent, ProfileUpdate
from recsys.profiles.maths import DEFAULT_WEIGHTS, DecayedSum, ProfileEvent, build_profile
from recsys.profiles.schema import PriceBand, ProfilePayload
from recsys.store.base import PointIn, Record, Vector

__all__ = [
    "SEEN_TYPES",
    "ProfileWork",
    "event_weights",
    "profile_key",
    "profile_point",
    "to_profile_event",
]

#: Event types that mark a product as seen (the recommender leaves those out).
SEEN_TYPES = frozenset({"view", "click", "add_to_cart", "wishlist", "purchase"})
TOP_CATEGORIES = 5
KEEP_CATEGORY_SCORES = 20
KEEP_PURCHASE_PRICES = 50


def profile_key(owner: str) -> str:
    """Users-collection key of an owner: "u#42" → "42", "s#abc" → "session:abc"."""
    if owner.startswith("u#"):
        return owner[2:]
    if owner.startswith("s#"):
        return f"session:{owner[2:]}"
    raise ValueError(f"not an owner key: {owner!r}")


def event_weights(settings: Settings) -> dict[str, float]:
    """The default weights with ``settings.weight_overrides`` applied."""
    return {**DEFAULT_WEIGHTS, **settings.weight_overrides}


def to_profile_event(ev: LoggedEvent) -> ProfileEvent:
    """The maths' view of a logged event."""
    return ProfileEvent(
        type=ev.type,
        at=ev.at,
        product_id=ev.product_id,
        query=ev.query,
        order_id=ev.order_id,
        owner=ev.owner,
    )


@dataclass
class ProfileWork:
    """One owner's update: the request, the stored point, the events read for it (all of
    them when ``rebuild``, else those after the stored ``last_sk``) and the last N events."""

    update: ProfileUpdate
    stored: Record | None
    events: list[LoggedEvent]
    rebuild: bool
    last_n: list[LoggedEvent] = field(default_factory=list)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def profile_point(
    w: ProfileWork,
    vectors: Mapping[str, Vector],
    products: Mapping[str, Mapping[str, Any]],
    *,
    settings: Settings,
    now: float,
) -> PointIn | None:
    """The new point of ``w``'s profile: the stored one continued with ``w.events`` (or built
    from them when rebuilding); None when nothing in them carries a vector."""
    weights = event_weights(settings)
    tau_long = settings.profile_tau_long_days * 86400.0
    # The size of the vectors at hand: the store's space may not be the configured encoder's.
    size = len(next(iter(vectors.values()))) if vectors else settings.vector_size
    stored = ProfilePayload.read(w.stored.payload if w.stored is not None else None)
    # What is continued: the stored profile, unless it is being rebuilt.
    prev = stored if (w.stored is not None and not w.rebuild) else None
    events = sorted(w.events, key=lambda e: e.sk)
    if not events and prev is None:
        return None
    pevents = [to_profile_event(e) for e in events]
    last_at = max([e.at for e in events] + [float(prev.long_as_of) if prev else 0.0])

    if prev is not None and w.stored is not None:
        acc = DecayedSum.from_stored(
            w.stored.vectors["long"],
            float(prev.long_norm),
            float(prev.long_as_of),
            int(prev.long_count),
        ).decayed_to(last_at, tau_seconds=tau_long)
        for pe in pevents:
            key = pe.query if pe.type == "search" else pe.product_id
            vec = vectors.get(key) if key is not None else None
            if vec is not None:
                acc.add(vec, pe.type, pe.at, tau_seconds=tau_long, weights=weights)
        factor = math.exp(-(last_at - float(prev.long_as_of)) / tau_long)
    else:
        acc = build_profile(
            pevents,
            vectors,
            now=last_at,
            tau_seconds=tau_long,
            weights=weights,
            size=size,
        )
        factor = 0.0
    last_n = sorted(w.last_n, key=lambda e: e.sk)
    short_at = max((e.at for e in last_n), default=last_at)
    short = build_profile(
        [to_profile_event(e) for e in last_n],
        vectors,
        now=short_at,
        tau_seconds=settings.profile_tau_short_s,
        weights=weights,
        size=size,
    )
    long_unit, short_unit = acc.unit(), short.unit()
    if long_unit is None and short_unit is None:
        return None
    long_vec = long_unit if long_unit is not None else short_unit
    short_vec = short_unit if short_unit is not None else long_unit
    assert long_vec is not None and short_vec is not None

    old = prev if prev is not None else ProfilePayload()
    counts: Counter[str] = Counter({k: int(v) for k, v in old.counts.items()})
    counts.update(e.type for e in events)
    newest_first = list(reversed(events))
    purchases = [e for e in newest_first if e.type == "purchase" and e.product_id]
    prices = [
        p
        for e in purchases
        if (
            p := e.price
            if e.price is not None
            else products.get(e.product_id or "", {}).get("price")
        )
        is not None
    ]
    prices = [float(p) for p in prices][:KEEP_PURCHASE_PRICES]
    prices += list(old.purchase_prices)[: KEEP_PURCHASE_PRICES - len(prices)]
    cat_scores = _category_scores(
        old.category_scores,
        factor,
        events,
        products,
        as_of=last_at,
        tau=tau_long,
        weights=weights,
    )
    keep = settings.profile_recent_items
    recent_purchases = _dedup(
        [e.product_id for e in purchases if e.product_id] + list(old.recent_purchases),
        keep,
    )
    owner = w.update.key
    last_sk = max([e.sk for e in events] + ([str(old.last_sk)] if old.last_sk else []))
    payload = ProfilePayload(
        kind="user" if owner.startswith("u#") else "session",
        owner=owner,
        long_norm=acc.norm,
        long_as_of=last_at,
        long_count=acc.count,
        short_as_of=short_at,
        last_sk=last_sk,
        last_event_at=_iso(last_at),
        last_event_ts=last_at,
        counts=dict(counts),
        category_scores=cat_scores,
        top_categories=list(cat_scores)[:TOP_CATEGORIES],
        purchase_prices=prices,
        price_band=_price_band(prices),
        recent_product_ids=_dedup(
            [e.product_id for e in newest_first if e.type in SEEN_TYPES and e.product_id]
            + list(old.recent_product_ids),
            keep,
        ),
        recent_purchases=recent_purchases,
        purchase_stats=_purchase_stats(purchases, old.purchase_stats, recent_purchases),
        recent_carted=_carted(newest_first, old.recent_carted, keep),
        # Even a rebuild continues the stored version: it only grows.
        profile_version=max(int(stored.profile_version) + 1, int(now * 1000)),
        updated_at=_iso(now),
        updated_ts=now,
        session_id=owner[2:] if owner.startswith("s#") else None,
    )
    return PointIn(
        key=profile_key(owner),
        vectors={"long": long_vec, "short": short_vec},
        payload=payload.to_payload(),
    )


def _category_scores(
    prev: Mapping[str, float],
    factor: float,
    events: Iterable[LoggedEvent],
    products: Mapping[str, Mapping[str, Any]],
    *,
    as_of: float,
    tau: float,
    weights: Mapping[str, float],
) -> dict[str, float]:
    scores: dict[str, float] = {k: v * factor for k, v in prev.items()}
    for ev in events:
        w = weights.get(ev.type, 0.0)
        cat = products.get(ev.product_id or "", {}).get("category")
        if w <= 0.0 or not cat:
            continue
        contribution = w * math.exp(-max(as_of - ev.at, 0.0) / tau)
        # The full path only: a reader wanting a level sums the paths under it.
        path = normalise_category(str(cat))
        scores[path] = scores.get(path, 0.0) + contribution
    top = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:KEEP_CATEGORY_SCORES]
    return {k: round(v, 6) for k, v in top if v > 1e-9}


def _price_band(prices: Sequence[float]) -> PriceBand | None:
    if not prices:
        return None
    arr = np.asarray(prices, dtype=np.float64)
    p25, p50, p75 = np.percentile(arr, [25, 50, 75])
    return {
        "min": float(arr.min()),
        "p25": round(float(p25), 4),
        "median": round(float(p50), 4),
        "p75": round(float(p75), 4),
        "max": float(arr.max()),
        "n": int(arr.size),
    }


def _dedup(ids: Iterable[str], limit: int) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for pid in ids:
        if pid not in seen:
            seen.add(pid)
            out.append(pid)
            if len(out) >= limit:
                break
    return out


def _occasion(e: LoggedEvent) -> str:
    """A purchase occasion: its order, or its day when the order is unknown (as aggregates)."""
    return f"o#{e.order_id}" if e.order_id else f"d#{int(e.at // 86400)}"


def _purchase_stats(
    purchases: Sequence[LoggedEvent], prev: Mapping[str, Any], keep: Sequence[str]
) -> dict[str, list[Any]]:
    """product → [occasions, first time, last time, the last occasion's key] for the products
    in ``keep``: the stored figures continued with ``purchases`` (an occasion whose lines span
    two updates counts once)."""
    lines: dict[str, list[LoggedEvent]] = {}
    for e in purchases:
        if e.product_id:
            lines.setdefault(e.product_id, []).append(e)
    out: dict[str, list[Any]] = {}
    for pid in keep:
        old = prev.get(pid)
        new = lines.get(pid)
        if not new:
            if old:
                out[pid] = list(old)
            continue
        keys = {_occasion(e) for e in new}
        latest = max(new, key=lambda e: (e.at, e.sk))
        n, first, last, last_key = len(keys), min(e.at for e in new), latest.at, _occasion(latest)
        if old:
            n += int(old[0]) - (1 if str(old[3]) in keys else 0)
            first = min(first, float(old[1]))
            if float(old[2]) > last:
                last, last_key = float(old[2]), str(old[3])
        out[pid] = [n, first, last, last_key]
    return out


def _carted(newest_first: Sequence[LoggedEvent], prev: Sequence[str], keep: int) -> list[str]:
    """Products whose latest cart event added them (a removal un-carts), newest first."""
    decided: dict[str, bool] = {}
    for e in newest_first:
        if e.product_id and e.type in ("add_to_cart", "remove_from_cart"):
            decided.setdefault(e.product_id, e.type == "add_to_cart")
    fresh = [pid for pid, added in decided.items() if added]
    return _dedup(fresh + [pid for pid in prev if pid not in decided], keep)
