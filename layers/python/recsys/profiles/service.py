"""Keeping user and session profiles in the ``users`` collection up to date from the event log.

What a profile point holds and how it is computed: :mod:`recsys.profiles.point`.

Incremental update (the common case): read only the events after the stored ``last_sk`` and
continue the sum. Full rebuild (from the newest ``profile_rebuild_max_events`` events) when the
profile is missing, older than ``profile_rebuild_after_days``, asked for, after a session merge,
or when the triggering write added an event older than what the profile already covers (a late
or replayed event) — the incremental path would otherwise miss it.

Merging (an event carrying both user_id and session_id): the session's logged events are
re-keyed under the user (same event ids and sort keys, so repeating a merge changes nothing),
the session profile is deleted, and the user profile is rebuilt from the combined history.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.core.config import Settings
from recsys.core.types import Encoder
from recsys.events.backend import EventLogBackend
from recsys.events.models import LoggedEvent, ProfileUpdate
from recsys.profiles.point import ProfileWork, profile_key, profile_point
from recsys.profiles.schema import ProfilePayload
from recsys.store.base import PointIn, Record, Vector, VectorStore

#: What a profile point reads of a product's payload (price band, category affinity).
PRODUCT_FIELDS = ("category", "price")


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


@dataclass
class UpdateStats:
    """What ``update_profiles`` did."""

    incremental: int = 0
    rebuilt: int = 0
    unchanged: int = 0
    merged_sessions: int = 0
    empty: int = 0
    keys: list[str] = field(default_factory=list)


def _needs_rebuild(upd: ProfileUpdate, stored: Record | None, settings: Settings) -> bool:
    if upd.rebuild or upd.merge_from or stored is None:
        return True
    p = ProfilePayload.read(stored.payload)
    if p.last_sk is None or "long" not in stored.vectors:
        return True
    if upd.oldest_sk is not None and upd.oldest_sk <= p.last_sk:
        return True
    age_days = (time.time() - float(p.updated_ts)) / 86400.0
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


@cache
def _readers() -> ThreadPoolExecutor:
    """The threads that read owners' events, one pool per process (per Lambda container): a
    pool per call started eight threads a batch, and each opened its own event-log connection."""
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="profiles")


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
    work = list(
        _readers().map(
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
        point = profile_point(w, vectors, products, settings=settings, now=now)
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
) -> ProfileWork:
    rebuild = _needs_rebuild(upd, stored, settings)
    n = settings.profile_short_events
    # Held history replaces the log only for a first profile: an existing one may rest on
    # events logged by others, which the holder does not have.
    if history is not None and upd.key in history and stored is None:
        limit = settings.profile_rebuild_max_events
        events = sorted(history[upd.key], key=lambda e: e.sk)[-limit:]
        return ProfileWork(upd, stored, events, True, events[-n:])
    if rebuild:
        events = list(
            reversed(
                log.query(upd.key, limit=settings.profile_rebuild_max_events, newest_first=True)
            )
        )
        return ProfileWork(upd, stored, events, True, events[-n:])
    assert stored is not None
    events = log.query(upd.key, after_sk=str(ProfilePayload.read(stored.payload).last_sk))
    last_n = events[-n:] if len(events) >= n else (log.recent(upd.key, n) if events else [])
    return ProfileWork(upd, stored, events, False, last_n)


def _item_data(
    work: Sequence[ProfileWork], *, store: VectorStore, encoder: Encoder, settings: Settings
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
        # Only what a profile point reads of a product: its vector, category and price.
        found = store.retrieve(
            settings.products_collection,
            sorted(ids),
            with_vectors=["text"],
            fields=PRODUCT_FIELDS,
        )
        for rec in found:
            vec = rec.vectors.get("text")
            if vec is not None:
                vectors[rec.key] = np.asarray(vec, dtype=np.float32)
            products[rec.key] = rec.payload
    if queries:
        ordered = sorted(queries)
        for q, vec in zip(ordered, np.asarray(encoder.encode(ordered)), strict=True):
            vectors.setdefault(q, vec.astype(np.float32))
    return vectors, products


def catalog_mean(store: VectorStore, settings: Settings) -> Vector | None:
    """Mean of the products' "text" vectors (None for an empty catalog)."""
    total: npt.NDArray[np.float64] | None = None
    n = 0
    for rec in store.scroll(settings.products_collection, batch_size=512, with_vectors=True):
        vec = rec.vectors.get("text")
        if vec is not None:
            total = vec.astype(np.float64) if total is None else total + vec
            n += 1
    return (total / n).astype(np.float32) if total is not None else None


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
