"""Keeping user and session profiles in the ``users`` collection up to date from the event log.

A profile point (key: the user_id; ``session:<session_id>`` for anonymous sessions) holds:
- vector "long": the decayed sum over the user's history (τ = ``profile_tau_long_days``),
  normalised; its norm, reference time and event count are in the payload (``long_norm``,
  ``long_as_of``, ``long_count``), so the exact unnormalised sum can be continued;
- vector "short": the same over the last ``profile_short_events`` events with τ =
  ``profile_tau_short_s`` (the current session's intent), reference time ``short_as_of``;
- payload: kind (user|session), counts per event type, category affinity (``category_scores``
  decayed like the long vector, ``top_categories``), ``price_band`` (quantiles of the last
  purchased prices), ``recent_product_ids`` (last interacted, newest first — the recommender
  excludes them), ``recent_purchases``, ``purchase_stats`` (per recent purchase: occasions —
  distinct orders, or days without an order id — first and last time, and the last occasion's
  key, for "buy again"), ``recent_carted`` (products whose latest cart event added them, for
  reasons), ``last_event_at``, ``last_sk``, ``profile_version``.

Time reference: a profile is kept "as of" its newest event, not as of the wall clock. Decay
multiplies the whole sum by one factor, which changes its norm and never its direction, so the
vector is the same and an old history cannot underflow to zero. Whoever needs the strength
"now" multiplies ``long_norm`` by exp(−(now − long_as_of)/τ).

Incremental update (the common case): read only the events after the stored ``last_sk`` and
continue the sum. Full rebuild (from the newest ``profile_rebuild_max_events`` events) when the
profile is missing, older than ``profile_rebuild_after_days``, asked for, after a session merge,
or when the triggering write added an event older than what the profile already covers (a late
or replayed event) — the incremental path would otherwise miss it.

Merging (an event carrying both user_id and session_id): the session's logged events are
re-keyed under the user (same event ids and sort keys, so repeating a merge changes nothing),
the session profile is deleted, and the user profile is rebuilt from the combined history.

``profile_version`` is max(previous + 1, wall-clock ms): it only grows, also across an erasure
and re-creation, so a cache keyed on it never serves a list computed for an older profile.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from recsys.core.config import Settings
from recsys.core.types import Encoder
from recsys.events.backend import EventLogBackend
from recsys.events.models import LoggedEvent, ProfileUpdate
from recsys.profiles.maths import DEFAULT_WEIGHTS, DecayedSum, ProfileEvent, build_profile
from recsys.store.base import PointIn, Record, Vector, VectorStore

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


def get_profile(
    store: VectorStore,
    settings: Settings,
    *,
    user_id: str | None = None,
    session_id: str | None = None,
) -> Record | None:
    """The stored profile (with vectors) of a user, else of a session; None if there is none."""
    keys = ([user_id] if user_id else []) + ([f"session:{session_id}"] if session_id else [])
    found = store.retrieve(settings.users_collection, keys, with_vectors=True) if keys else []
    return found[0] if found else None


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
class UpdateStats:
    """What ``update_profiles`` did."""

    incremental: int = 0
    rebuilt: int = 0
    unchanged: int = 0
    merged_sessions: int = 0
    empty: int = 0
    keys: list[str] = field(default_factory=list)


@dataclass
class _Work:
    update: ProfileUpdate
    stored: Record | None
    events: list[LoggedEvent]
    rebuild: bool
    last_n: list[LoggedEvent] = field(default_factory=list)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _needs_rebuild(upd: ProfileUpdate, stored: Record | None, settings: Settings) -> bool:
    if upd.rebuild or upd.merge_from or stored is None:
        return True
    p = stored.payload
    if "last_sk" not in p or "long" not in stored.vectors:
        return True
    if upd.oldest_sk is not None and upd.oldest_sk <= p["last_sk"]:
        return True
    age_days = (time.time() - float(p.get("updated_ts", 0.0))) / 86400.0
    return age_days > settings.profile_rebuild_after_days


def _merge(updates: Iterable[ProfileUpdate | str]) -> dict[str, ProfileUpdate]:
    merged: dict[str, ProfileUpdate] = {}
    for raw in updates:
        upd = ProfileUpdate(key=raw) if isinstance(raw, str) else raw
        prev = merged.get(upd.key)
        if prev is None:
            merged[upd.key] = upd
            continue
        oldest = min(filter(None, [prev.oldest_sk, upd.oldest_sk]), default=None)
        merged[upd.key] = ProfileUpdate(
            key=upd.key,
            oldest_sk=oldest,
            merge_from=sorted({*prev.merge_from, *upd.merge_from}),
            rebuild=prev.rebuild or upd.rebuild,
        )
    return merged


def update_profiles(
    user_keys: Iterable[ProfileUpdate | str],
    *,
    store: VectorStore,
    log: EventLogBackend,
    encoder: Encoder,
    settings: Settings,
    history: Mapping[str, Sequence[LoggedEvent]] | None = None,
    center: Vector | None = None,
) -> UpdateStats:
    """Bring the profiles of ``user_keys`` (owner keys "u#…"/"s#…" or queue messages) up to date.

    Updates for the same owner are merged; stored profiles, event reads, item vectors and
    query embeddings are fetched in bulk for the whole call, and all points written in one
    upsert. ``history`` (owner → its logged events) lets a caller that already holds them — a
    local bulk replay — build first profiles without reading them back from the log.
    ``center`` (the catalog's mean item vector) is subtracted from every item and query vector
    before summing: what all items share stops dominating the profile, so generic "hub" items
    stop being everyone's nearest (see ``profile_center_items``).
    """
    stats = UpdateStats()
    todo = _merge(user_keys)
    if not todo:
        return stats
    users = settings.users_collection
    for upd in todo.values():
        for session in upd.merge_from:
            if upd.key.startswith("u#") and session.startswith("s#"):
                log.move_owner(session, upd.key)
                store.delete(users, [profile_key(session)])
                stats.merged_sessions += 1

    keys = [profile_key(k) for k in todo]
    stored = {r.key: r for r in store.retrieve(users, keys, with_vectors=True)}
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="profiles") as pool:
        work = list(
            pool.map(
                lambda u: _read(u, stored.get(profile_key(u.key)), log, settings, history),
                todo.values(),
            )
        )

    vectors, products = _item_data(work, store=store, encoder=encoder, settings=settings)
    if center is not None:
        mean = np.asarray(center, dtype=np.float32)
        vectors = {k: (v - mean).astype(np.float32) for k, v in vectors.items()}
    points: list[PointIn] = []
    now = time.time()
    for w in work:
        if not w.events and not w.rebuild:
            stats.unchanged += 1
            continue
        point = _profile_point(w, vectors, products, settings=settings, now=now)
        if point is None:
            stats.empty += 1
            continue
        points.append(point)
        stats.keys.append(w.update.key)
        if w.rebuild:
            stats.rebuilt += 1
        else:
            stats.incremental += 1
    if points:
        store.upsert(users, points)
    empties = [profile_key(w.update.key) for w in work if w.rebuild and not w.events]
    if empties:
        # A rebuild that finds no events (erased, or merged away) leaves no profile behind.
        store.delete(users, empties)
    return stats


def _read(
    upd: ProfileUpdate,
    stored: Record | None,
    log: EventLogBackend,
    settings: Settings,
    history: Mapping[str, Sequence[LoggedEvent]] | None = None,
) -> _Work:
    rebuild = _needs_rebuild(upd, stored, settings)
    n = settings.profile_short_events
    # Held history replaces the log only for a first profile: an existing one may rest on
    # events logged by others, which the holder does not have.
    if history is not None and upd.key in history and stored is None:
        limit = settings.profile_rebuild_max_events
        events = sorted(history[upd.key], key=lambda e: e.sk)[-limit:]
        return _Work(upd, stored, events, True, events[-n:])
    if rebuild:
        events = list(
            reversed(
                log.query(upd.key, limit=settings.profile_rebuild_max_events, newest_first=True)
            )
        )
        return _Work(upd, stored, events, True, events[-n:])
    assert stored is not None
    events = log.query(upd.key, after_sk=str(stored.payload["last_sk"]))
    last_n = events[-n:] if len(events) >= n else (log.recent(upd.key, n) if events else [])
    return _Work(upd, stored, events, False, last_n)


def _item_data(
    work: Sequence[_Work], *, store: VectorStore, encoder: Encoder, settings: Settings
) -> tuple[dict[str, Vector], dict[str, dict[str, Any]]]:
    """Item vectors (and query embeddings, keyed by the query text) for every event at hand."""
    ids: set[str] = set()
    queries: set[str] = set()
    for w in work:
        for ev in (*w.events, *w.last_n):
            if ev.type == "search" and ev.query:
                queries.add(ev.query)
            elif ev.product_id:
                ids.add(ev.product_id)
    vectors: dict[str, Vector] = {}
    products: dict[str, dict[str, Any]] = {}
    if ids:
        for rec in store.retrieve(settings.products_collection, sorted(ids), with_vectors=True):
            vec = rec.vectors.get("text")
            if vec is not None:
                vectors[rec.key] = np.asarray(vec, dtype=np.float32)
            products[rec.key] = rec.payload
    if queries:
        ordered = sorted(queries)
        for q, vec in zip(ordered, np.asarray(encoder.encode(ordered)), strict=True):
            vectors.setdefault(q, vec.astype(np.float32))
    return vectors, products


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
        path = " > ".join(p.strip() for p in str(cat).split(">") if p.strip())
        scores[path] = scores.get(path, 0.0) + contribution
    top = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:KEEP_CATEGORY_SCORES]
    return {k: round(v, 6) for k, v in top if v > 1e-9}


def _price_band(prices: Sequence[float]) -> dict[str, float] | None:
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


def _profile_point(
    w: _Work,
    vectors: Mapping[str, Vector],
    products: Mapping[str, Mapping[str, Any]],
    *,
    settings: Settings,
    now: float,
) -> PointIn | None:
    weights = event_weights(settings)
    tau_long = settings.profile_tau_long_days * 86400.0
    prev = dict(w.stored.payload) if (w.stored is not None and not w.rebuild) else {}
    events = sorted(w.events, key=lambda e: e.sk)
    if not events and not prev:
        return None
    pevents = [to_profile_event(e) for e in events]
    last_at = max([e.at for e in events] + [float(prev.get("long_as_of", 0.0))])

    if prev and w.stored is not None:
        acc = DecayedSum.from_stored(
            w.stored.vectors["long"],
            float(prev["long_norm"]),
            float(prev["long_as_of"]),
            int(prev.get("long_count", 0)),
        ).decayed_to(last_at, tau_seconds=tau_long)
        for pe in pevents:
            key = pe.query if pe.type == "search" else pe.product_id
            vec = vectors.get(key) if key is not None else None
            if vec is not None:
                acc.add(vec, pe.type, pe.at, tau_seconds=tau_long, weights=weights)
        factor = math.exp(-(last_at - float(prev["long_as_of"])) / tau_long)
    else:
        acc = build_profile(
            pevents,
            vectors,
            now=last_at,
            tau_seconds=tau_long,
            weights=weights,
            size=settings.vector_size,
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
        size=settings.vector_size,
    )
    long_unit, short_unit = acc.unit(), short.unit()
    if long_unit is None and short_unit is None:
        return None
    long_vec = long_unit if long_unit is not None else short_unit
    short_vec = short_unit if short_unit is not None else long_unit
    assert long_vec is not None and short_vec is not None

    counts: Counter[str] = Counter({k: int(v) for k, v in prev.get("counts", {}).items()})
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
    prices += list(prev.get("purchase_prices", []))[: KEEP_PURCHASE_PRICES - len(prices)]
    cat_scores = _category_scores(
        prev.get("category_scores", {}),
        factor,
        events,
        products,
        as_of=last_at,
        tau=tau_long,
        weights=weights,
    )
    keep = settings.profile_recent_items
    recent_purchases = _dedup(
        [e.product_id for e in purchases if e.product_id] + list(prev.get("recent_purchases", [])),
        keep,
    )
    owner = w.update.key
    prev_version = int(w.stored.payload.get("profile_version", 0)) if w.stored else 0
    last_sk = max([e.sk for e in events] + ([str(prev["last_sk"])] if prev.get("last_sk") else []))
    payload: dict[str, Any] = {
        "kind": "user" if owner.startswith("u#") else "session",
        "owner": owner,
        "long_norm": acc.norm,
        "long_as_of": last_at,
        "long_count": acc.count,
        "short_as_of": short_at,
        "last_sk": last_sk,
        "last_event_at": _iso(last_at),
        "last_event_ts": last_at,
        "counts": dict(counts),
        "category_scores": cat_scores,
        "top_categories": list(cat_scores)[:TOP_CATEGORIES],
        "purchase_prices": prices,
        "price_band": _price_band(prices),
        "recent_product_ids": _dedup(
            [e.product_id for e in newest_first if e.type in SEEN_TYPES and e.product_id]
            + list(prev.get("recent_product_ids", [])),
            keep,
        ),
        "recent_purchases": recent_purchases,
        "purchase_stats": _purchase_stats(
            purchases, prev.get("purchase_stats") or {}, recent_purchases
        ),
        "recent_carted": _carted(newest_first, prev.get("recent_carted") or [], keep),
        "profile_version": max(prev_version + 1, int(now * 1000)),
        "updated_at": _iso(now),
        "updated_ts": now,
    }
    if owner.startswith("s#"):
        payload["session_id"] = owner[2:]
    return PointIn(
        key=profile_key(owner), vectors={"long": long_vec, "short": short_vec}, payload=payload
    )


def catalog_mean(store: VectorStore, settings: Settings) -> Vector | None:
    """Mean of the products' "text" vectors (None for an empty catalog)."""
    total = np.zeros(settings.vector_size, dtype=np.float64)
    n = 0
    for rec in store.scroll(settings.products_collection, batch_size=512, with_vectors=True):
        vec = rec.vectors.get("text")
        if vec is not None:
            total += vec
            n += 1
    return (total / n).astype(np.float32) if n else None


def erase_user(
    user_id: str, *, store: VectorStore, log: EventLogBackend, settings: Settings
) -> dict[str, int]:
    """Erase a user's events (and their idempotency items) and profile.

    Sessions merged into the user were re-keyed under it, so they go too. Cached lists become
    unreachable: the next profile, if any, gets a larger ``profile_version`` (see module doc),
    and without a profile the recommender serves non-personal lists.
    """
    owner = f"u#{user_id}"
    deleted = log.delete_owner(owner)
    existed = bool(store.retrieve(settings.users_collection, [user_id]))
    store.delete(settings.users_collection, [user_id])
    return {"events_deleted": deleted, "profile_deleted": int(existed)}
