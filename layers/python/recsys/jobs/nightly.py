"""The nightly job: aggregates, stale and active profiles, pruning of expired events.

Steps (``nightly_refresh``):
1. read the event log (a parallel scan — the log is the source of truth; at larger scale a
   DynamoDB export to S3 would feed the same pure ``compute_aggregates``);
2. compute popularity, trending and co-purchase neighbours, fit the ranking to the store's
   history (:mod:`recsys.ranking.tuner`; kept inside the aggregates) and save them to S3
   (``aggregates/latest.json.gz``); write ``popularity`` and ``trending`` into the product
   payloads that changed, so filters and scoring in the store can use them;
3. give the products that lack the second encoder's vector their collection declares (embedded
   where its model was not installed) that vector, when the model is installed here
   (:func:`recsys.catalog.embed.fill_second_vectors`);
4. fan out full rebuilds to the profile queue for profiles that were active lately (their
   incremental updates are re-derived from the log, which also removes drift from concurrent
   updates), that were not rebuilt for ``profile_rebuild_after_days``, or that are missing
   although the log has events (a lost notification);
5. delete events past their retention (DynamoDB's TTL does that in AWS; emulators keep them).

Clock: the aggregates are computed as of the newest logged event when that is older than the
wall clock (a replayed history such as Online Retail 2010-2011), otherwise as of now — in a live
shop the two coincide, and a replay still gets a meaningful "trending".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from recsys.aggregates.compute import Aggregates, compute_aggregates
from recsys.aggregates.store import AggregatesStore
from recsys.catalog.embed import fill_second_vectors
from recsys.core.config import Settings
from recsys.core.errors import EventLogUnusableError
from recsys.events.backend import EventLogBackend
from recsys.events.models import LoggedEvent, ProfileUpdate
from recsys.events.queue import ProfileSink
from recsys.feedback.labels import labels_from_events
from recsys.profiles.point import to_profile_event
from recsys.profiles.schema import ProfilePayload
from recsys.profiles.service import UpdateStats, catalog_mean
from recsys.store.base import VectorStore

__all__ = ["RefreshReport", "nightly_refresh"]

logger = Logger(service="recsys")


@dataclass
class RefreshReport:
    """What the nightly job did, for logs and the CLI."""

    events: int = 0
    as_of: float = 0.0
    products_scored: int = 0
    payloads_written: int = 0
    trending: int = 0
    co_purchase_items: int = 0
    profiles_queued: int = 0
    profiles_updated: int = 0
    events_pruned: int = 0
    #: Products given the second encoder's vector they lacked (written without its model).
    second_vectors_filled: int = 0
    #: The fitted ranking kept tonight (``FittedRanking.summary``; empty: not tuned).
    ranking: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _product_payload_updates(
    store: VectorStore, agg: Aggregates, collection: str
) -> list[tuple[str, dict[str, float]]]:
    """The popularity/trending payload changes to write (unchanged products are skipped)."""
    changes: list[tuple[str, dict[str, float]]] = []
    for rec in store.scroll(collection, batch_size=512):
        want = {
            "popularity": round(agg.popularity(rec.key), 6),
            "trending": round(agg.trending_scores.get(rec.key, 0.0), 6),
        }
        have = {k: rec.payload.get(k) for k in want}
        if have != want:
            changes.append((rec.key, want))
    return changes


def _read_log(log: EventLogBackend, engine: str) -> list[LoggedEvent]:
    """The whole log (none with Athena, which reads the archive); unreadable is an error."""
    if engine == "athena":
        return []
    try:
        return list(log.scan())
    except Exception as exc:
        raise EventLogUnusableError(f"the event log could not be read: {exc}") from exc


def _refuse_an_empty_log(
    n_events: int, store: VectorStore, settings: Settings, *, engine: str
) -> None:
    """An empty log beside stored profiles means the log was lost (or another one was opened),
    not that every shopper left: rebuilding from it would delete every profile. Stop and say so.
    """
    if n_events or engine == "athena":
        return
    profiles = store.count(settings.users_collection)
    if profiles:
        raise EventLogUnusableError(
            f"the event log is empty but {profiles} profiles exist: refusing to rebuild them "
            "from nothing (is events_backend / the data directory the one they were built from?)"
        )


def nightly_refresh(
    *,
    store: VectorStore,
    log: EventLogBackend,
    settings: Settings,
    queue: ProfileSink | None,
    aggregates: AggregatesStore,
    now: float | None = None,
    update_inline: Callable[[list[ProfileUpdate]], UpdateStats] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The nightly job. Profiles go to ``queue``, or to ``update_inline`` when given (CLI)."""
    report = RefreshReport()
    say = progress or (lambda msg: logger.info(msg))
    wall = time.time() if now is None else now
    t0 = time.perf_counter()

    # RECSYS_AGGREGATES_ENGINE: python reads the whole log into memory; duckdb snapshots the
    # (local) log into the Parquet archive and runs the SQL; athena runs the SQL over the S3
    # archive the table's stream feeds, and the job never reads the log (docs/SCALE.md).
    engine = settings.aggregates_engine
    say("querying the event archive" if engine == "athena" else "reading the event log")
    logged = _read_log(log, engine)
    events = [to_profile_event(ev) for ev in logged]
    # The shown items, clicked or not, for the tuner (attributed clicks become its labels).
    labels = labels_from_events(logged, window_s=settings.attribution_window_s)
    if engine == "duckdb":
        from recsys.events.archive import local_archive_dir, write_snapshot

        write_snapshot(logged, local_archive_dir(settings))
    del logged
    report.events = len(events)
    _refuse_an_empty_log(report.events, store, settings, engine=engine)
    newest = max((e.at for e in events), default=wall)
    report.as_of = min(wall, newest) if newest < wall - 86400 else wall
    t1 = time.perf_counter()
    report.seconds["scan"] = round(t1 - t0, 2)

    say(f"computing aggregates over {len(events)} events")
    products = settings.products_collection
    categories = {
        r.key: str(r.payload.get("category") or "") for r in store.scroll(products, batch_size=512)
    }
    owners_in_log = {e.owner for e in events if e.owner}
    if engine == "python":
        agg = compute_aggregates(events, now=report.as_of, catalog_categories=categories)
    else:
        from recsys.aggregates.sql import SqlParams, compute_with_sql

        params = SqlParams(wall=wall, active_days=settings.refresh_active_days)
        sql = compute_with_sql(settings, params, catalog_categories=categories)
        agg, report.as_of, report.events = sql.aggregates, sql.now, sql.log_events
        if engine == "athena":
            # Without the log in memory, profiles missing although their owner was active
            # lately are found by the query; older gaps are left to the profile queue.
            owners_in_log = set(sql.active_owners)
    mean = catalog_mean(store, settings)
    agg.item_mean = [round(float(x), 7) for x in mean] if mean is not None else None
    t_tune = time.perf_counter()
    if events:
        # Fit the ranking to this store's history; it is saved inside the aggregates.
        from recsys.ranking.fitted import attach, fitted_of
        from recsys.ranking.tuner import nightly_tuning

        say("tuning the ranking to the store's history")
        try:
            current = fitted_of(aggregates.load())
        except Exception:  # no readable previous aggregates: the defaults are current
            current = None
        fitted = nightly_tuning(
            events,
            store=store,
            settings=settings,
            as_of=report.as_of,
            current=current,
            say=say,
            labels=labels,
        )
        attach(agg, fitted)
        report.ranking = fitted.summary()
    report.seconds["tuning"] = round(time.perf_counter() - t_tune, 2)
    aggregates.save(agg)
    changes = _product_payload_updates(store, agg, products)
    for key, payload in changes:
        store.set_payload(products, key, payload)
    report.products_scored = len(agg.popularity_scores)
    report.payloads_written = len(changes)
    report.trending = len(agg.trending_scores)
    report.co_purchase_items = len(agg.neighbours)
    t_fill = time.perf_counter()
    report.seconds["aggregates"] = round(t_fill - t1, 2)

    # Products embedded where the second encoder's model was missing (a Lambda layer without
    # it, an ingest while it was being installed) lack its vector: search lists them by the
    # primary's alone until they get it.
    say("adding missing second-encoder vectors")
    report.second_vectors_filled = fill_second_vectors(store, settings)
    t2 = time.perf_counter()
    report.seconds["second_vectors"] = round(t2 - t_fill, 2)

    say("selecting profiles to rebuild")
    active_since = report.as_of - settings.refresh_active_days * 86400.0
    stale_before = wall - settings.profile_rebuild_after_days * 86400.0
    have: set[str] = set()
    todo: list[ProfileUpdate] = []
    for rec in store.scroll(settings.users_collection, batch_size=512):
        profile = ProfilePayload.read(rec.payload)
        owner = profile.owner or f"u#{rec.key}"
        have.add(owner)
        active = float(profile.last_event_ts or 0.0) >= active_since
        stale = float(profile.updated_ts) < stale_before
        if active or stale:
            todo.append(ProfileUpdate(key=owner, rebuild=True))
    todo += [ProfileUpdate(key=o, rebuild=True) for o in sorted(owners_in_log - have)]
    report.profiles_queued = len(todo)
    if update_inline is not None:
        for i in range(0, len(todo), 64):
            report.profiles_updated += len(update_inline(todo[i : i + 64]).keys)
    elif queue is not None:
        queue.send(todo)
    t3 = time.perf_counter()
    report.seconds["profiles"] = round(t3 - t2, 2)

    say("pruning expired events")
    # With Athena the job runs on AWS, where the table's TTL deletes expired events; a scan of
    # the whole table here would be the very ceiling the archive removes.
    report.events_pruned = 0 if engine == "athena" else log.prune_expired(now=wall)
    report.seconds["prune"] = round(time.perf_counter() - t3, 2)
    logger.info("nightly refresh done", extra=report.as_dict())
    return report.as_dict()
