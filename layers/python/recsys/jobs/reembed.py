"""Changing the encoder of a running store: re-embed the catalog, rebuild profiles, switch.

``reembed`` moves a store from the encoder space it serves to ``model``'s
(:mod:`recsys.store.spaces`) while reads keep being served from the old one:

1. the new space's collections ``products__<model>`` and ``users__<model>`` are created, or
   reopened when an earlier run stopped (nothing is kept about a run but what it wrote);
2. **products**: the served products are scrolled, re-encoded from their stored text fields
   (:func:`recsys.catalog.text.product_text`) in batches with the new model, and written with
   their BM25 keywords and the second encoder's vector the new space declares
   (``RECSYS_SECOND_ENCODER``); a vector of the same space (encoder and product text) the
   served products already hold is copied, not encoded again (adding the second vector to a
   space encodes only it; MiniLM + USE~title → USE + MiniLM copies MiniLM's and encodes USE's
   "text", which embeds the full text, not the titles alone). A copy already there with the
   same content hash is skipped (payload-only changes are copied), products gone from the
   served collection go;
3. **profiles**: every served profile is rebuilt from the event log into the new space with
   the profile maths of :mod:`recsys.profiles` (an owner whose copy is as new is skipped; a
   run that keeps the encoder and only changes the products' vectors keeps the profiles);
4. **catch-up**: steps 2–3 again, for what was written to the served space meanwhile;
5. **switch**: both pointers move at once (an alias update, or ``spaces.json`` replaced);
6. after ``grace_s`` (other processes follow the pointer within it), what landed in the old
   space meanwhile is copied over once more (newer ``updated_at`` / ``updated_ts`` only), the
   catalog mean in the aggregates is recomputed in the new space, and the old collections are
   dropped (unless ``keep_old``).

Re-running after a crash resumes: finished work is skipped by the same comparisons that make
the catch-up cheap. ``max_seconds`` stops a run between batches (``complete`` False), so the
nightly function can advance a large catalog over several nights. Progress (counts, rate,
ETA) goes to ``progress``, else to the log every few seconds.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from aws_lambda_powertools import Logger

from recsys.catalog.embed import write_points
from recsys.catalog.encoding import ModelEncoder, second_vectors_for
from recsys.catalog.text import product_text
from recsys.core.config import Settings
from recsys.core.errors import EventLogUnusableError
from recsys.events.backend import EventLogBackend
from recsys.events.models import ProfileUpdate
from recsys.profiles.schema import ProfilePayload
from recsys.profiles.service import catalog_mean, update_profiles
from recsys.store import ensure_collections
from recsys.store.base import PointIn, Record, VectorStore
from recsys.store.space_ids import reusable_vectors
from recsys.store.spaces import MODEL_FIELD, SEPARATOR, forget_model, space_specs

if TYPE_CHECKING:
    from recsys.aggregates.store import AggregatesStore

__all__ = ["ReembedProgress", "ReembedReport", "reembed"]

logger = Logger(service="recsys")


@dataclass(frozen=True)
class ReembedProgress:
    """Where a phase stands: items done of ``total``, the rate so far and the time left."""

    phase: str
    done: int
    total: int
    rate: float
    eta_s: float | None


@dataclass
class ReembedReport:
    """What a run did."""

    source: str | None = None
    target: str = ""
    complete: bool = False
    switched: bool = False
    products_embedded: int = 0
    #: Vectors copied from the served products (the same encoder's) instead of encoded.
    vectors_copied: int = 0
    products_copied: int = 0
    products_skipped: int = 0
    products_deleted: int = 0
    profiles_rebuilt: int = 0
    profiles_skipped: int = 0
    dropped: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    #: Process CPU seconds per phase (every thread's: other work in the process counts too).
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    #: Products embedded per second of the products phase.
    products_per_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Budget(Exception):
    """The run's time budget is spent; the work so far stays and a re-run continues it."""


class _Phase:
    """Counts, rate and ETA of one phase, reported at most every ``every_s`` seconds."""

    def __init__(
        self, name: str, total: int, report: Callable[[ReembedProgress], None], every_s: float
    ) -> None:
        self.name, self.total, self.done = name, total, 0
        self._report, self._every = report, every_s
        self._t0 = self._last = time.perf_counter()
        self._cpu0 = time.process_time()

    def add(self, n: int, *, final: bool = False) -> None:
        self.done += n
        now = time.perf_counter()
        if not final and now - self._last < self._every:
            return
        self._last = now
        rate = self.done / max(now - self._t0, 1e-9)
        left = max(self.total - self.done, 0)
        eta = left / rate if rate > 0 else None
        self._report(ReembedProgress(self.name, self.done, self.total, round(rate, 1), eta))

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self._t0

    @property
    def cpu_seconds(self) -> float:
        return time.process_time() - self._cpu0


def _log_progress(p: ReembedProgress) -> None:
    logger.info("reembed progress", extra=asdict(p))


def _batches(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while batch := list(islice(records, size)):
        yield batch


def _plain(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != MODEL_FIELD}


class _Run:
    """One run's store, names, encoder and clock."""

    def __init__(
        self,
        *,
        store: VectorStore,
        log: EventLogBackend,
        settings: Settings,
        model: str | None,
        batch_size: int,
        progress: Callable[[ReembedProgress], None],
        every_s: float,
        deadline: float | None,
    ) -> None:
        self.store, self.log, self.settings = store, log, settings
        self.encoder = ModelEncoder(settings, model)
        self.model = self.encoder.model
        self.batch_size, self.progress, self.every_s = batch_size, progress, every_s
        self.deadline = deadline
        self.report = ReembedReport(target=self.model)
        logical = (settings.products_collection, settings.users_collection)
        self.source = {name: _served(store, name) for name in logical}
        self.specs = space_specs(settings, self.model, self.encoder.dim)
        self.target = {name: self.specs[name].name for name in logical}
        #: Vectors of the new products to copy from the served ones: new name → served name.
        self.reuse = reusable_vectors(
            store.served_spec(settings.products_collection), self.specs[logical[0]]
        )
        #: The settings update_profiles works under: the new space's names, size, encoder.
        self.shadow = self.encoder.settings.model_copy(
            update={
                "products_collection": self.target[settings.products_collection],
                "users_collection": self.target[settings.users_collection],
            }
        )

    def check_budget(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _Budget

    # --- products ----------------------------------------------------------------------------

    def products(self, source: str, *, newer_only: bool, name: str = "products") -> None:
        store, target = self.store, self.target[self.settings.products_collection]
        phase = _Phase(name, store.count(source), self.progress, self.every_s)
        embedded = 0
        # Served vectors are read to be copied, never compared: whatever this context noted
        # before (an encoder's output) does not hold them back, nor do they stay noted after.
        forget_model()
        records = store.scroll(source, batch_size=self.batch_size, with_vectors=bool(self.reuse))
        for batch in _batches(records, self.batch_size):
            self.check_budget()
            have = {r.key: r.payload for r in store.retrieve(target, [r.key for r in batch])}
            todo: list[PointIn] = []
            served: list[Record] = []
            for rec in batch:
                old = have.get(rec.key)
                if old is None or _needs_embedding(rec.payload, old, newer_only=newer_only):
                    todo.append(PointIn(key=rec.key, vectors={}, payload=_plain(rec.payload)))
                    served.append(rec)
                elif not newer_only and _plain(old) != _plain(rec.payload):
                    store.set_payload(target, rec.key, _plain(rec.payload))
                    self.report.products_copied += 1
                else:
                    self.report.products_skipped += 1
            if todo:
                vectors = self._vectors(served, todo, target)
                own = vectors.pop("text")
                embedded += write_points(
                    todo, own, store=store, collection=target, extra=vectors, model=self.model
                )
            phase.add(len(batch))
        forget_model()
        phase.add(0, final=True)
        self.report.products_embedded += embedded
        self.report.seconds[name] = round(phase.seconds, 2)
        self.report.cpu_seconds[name] = round(phase.cpu_seconds, 2)
        if name == "products" and embedded:
            self.report.products_per_s = round(embedded / max(phase.seconds, 1e-9), 1)
        if not newer_only:
            self.report.products_deleted += self._sweep(source, target)

    def _vectors(
        self, served: Sequence[Record], todo: Sequence[PointIn], target: str
    ) -> dict[str, npt.NDArray[np.float32]]:
        """Every vector the new products declare, for the products of ``served`` (``todo``:
        their new points): copied where the served point holds that space's vector (same
        encoder, same product text), else encoded."""
        texts = [product_text(p.payload) for p in todo]
        spec = self.specs[self.settings.products_collection]
        out: dict[str, npt.NDArray[np.float32]] = {}
        for name in spec.vectors:
            source = self.reuse.get(name)
            rows = [r.vectors.get(source) if source else None for r in served]
            missing = [i for i, row in enumerate(rows) if row is None]
            self.report.vectors_copied += len(rows) - len(missing)
            if missing:
                asked = [texts[i] for i in missing]
                if name == "text":
                    fresh = self.encoder.encode(asked)
                else:
                    got = second_vectors_for(
                        self.store,
                        target,
                        [todo[i].payload for i in missing],
                        self.settings,
                        texts=asked,
                        only=[name],
                    )
                    if name not in got:
                        continue  # that encoder is not installed here: the vector stays out
                    fresh = got[name]
                for j, i in enumerate(missing):
                    rows[i] = fresh[j]
            out[name] = np.stack([np.asarray(r, dtype=np.float32) for r in rows])
        return out

    def _sweep(self, source: str, target: str) -> int:
        """Delete from ``target`` the points ``source`` no longer has."""
        gone: list[str] = []
        for batch in _batches(self.store.scroll(target, batch_size=512), 512):
            present = {r.key for r in self.store.retrieve(source, [r.key for r in batch])}
            gone += [r.key for r in batch if r.key not in present]
        if gone:
            self.store.delete(target, gone)
        return len(gone)

    # --- profiles ----------------------------------------------------------------------------

    def profiles(self, source: str, *, sweep: bool, name: str = "profiles") -> None:
        store, target = self.store, self.target[self.settings.users_collection]
        center = catalog_mean(store, self.shadow) if self.settings.profile_center_items else None
        phase = _Phase(name, store.count(source), self.progress, self.every_s)
        for batch in _batches(store.scroll(source, batch_size=64), 64):
            self.check_budget()
            have = {r.key: r.payload for r in store.retrieve(target, [r.key for r in batch])}
            todo: list[ProfileUpdate] = []
            for rec in batch:
                served = ProfilePayload.read(rec.payload)
                copy = have.get(rec.key)
                if copy is not None and ProfilePayload.read(copy).updated_ts >= served.updated_ts:
                    self.report.profiles_skipped += 1
                    continue
                todo.append(ProfileUpdate(key=served.owner or f"u#{rec.key}", rebuild=True))
            if todo:
                stats = update_profiles(
                    todo,
                    store=store,
                    log=self.log,
                    encoder=self.encoder,
                    settings=self.shadow,
                    center=center,
                )
                self.report.profiles_rebuilt += stats.rebuilt
            phase.add(len(batch))
        phase.add(0, final=True)
        self.report.seconds[name] = round(phase.seconds, 2)
        if sweep:
            self._sweep(source, target)
        if store.count(source) and not store.count(target):
            raise EventLogUnusableError(
                f"{store.count(source)} profiles are served but none could be rebuilt from the "
                "event log: not switching (is events_backend / the data directory the one the "
                "profiles were built from?)"
            )


def _served(store: VectorStore, logical: str) -> str:
    spec = store.served_spec(logical)
    assert spec is not None, f"{logical} is not bound (ensure_collections first)"
    return spec.name


def _needs_embedding(new: Mapping[str, Any], old: Mapping[str, Any], *, newer_only: bool) -> bool:
    if newer_only:
        at_new, at_old = new.get("updated_at"), old.get("updated_at")
        return isinstance(at_new, str) and isinstance(at_old, str) and at_new > at_old
    digest = new.get("content_hash")
    return digest is None or digest != old.get("content_hash")


def reembed(**kwargs: Any) -> ReembedReport:
    """Move a store to encoder ``model``'s space (default: the configured encoder) while reads
    are served from the old one; see the module doc and :func:`run_reembed` for the arguments.
    Runs in a copy of the caller's context, so the vectors it encodes are not noted there."""
    return contextvars.copy_context().run(_fresh, **kwargs)


def _fresh(**kwargs: Any) -> ReembedReport:
    forget_model()  # what the caller held is not this run's
    return run_reembed(**kwargs)


def run_reembed(
    *,
    store: VectorStore,
    log: EventLogBackend,
    settings: Settings,
    model: str | None = None,
    aggregates: AggregatesStore | None = None,
    progress: Callable[[ReembedProgress], None] | None = None,
    batch_size: int = 1024,
    grace_s: float | None = None,
    keep_old: bool = False,
    max_seconds: float | None = None,
    every_s: float = 5.0,
) -> ReembedReport:
    """:func:`reembed` in the caller's context."""
    ensure_collections(store, settings)
    deadline = time.monotonic() + max_seconds if max_seconds is not None else None
    run = _Run(
        store=store,
        log=log,
        settings=settings,
        model=model,
        batch_size=batch_size,
        progress=progress or _log_progress,
        every_s=every_s,
        deadline=deadline,
    )
    report = run.report
    served = store.served_spec(settings.products_collection)
    report.source = served.model if served is not None else None
    products, users = settings.products_collection, settings.users_collection
    wanted = run.specs[products]
    if (
        served is not None
        and served.model == run.model
        and set(served.vectors) == set(wanted.vectors)
    ):
        report.dropped = _drop_leftovers(store, settings, keep_old=keep_old)
        report.complete = True
        return report
    # The same encoder with other product vectors (a second encoder's added or dropped): the
    # profiles stay where they are.
    profiles = run.source[users] != run.target[users]
    for spec in run.specs.values():
        store.ensure_collection(spec)
    try:
        for rnd in ("", "catch-up "):
            run.products(run.source[products], newer_only=False, name=f"{rnd}products")
            if profiles:
                run.profiles(run.source[users], sweep=True, name=f"{rnd}profiles")
    except _Budget:
        logger.info("reembed paused (time budget); run it again to continue", extra=asdict(report))
        return report
    store.write_pointers(run.target)
    report.switched = True
    logger.info("reembed switched", extra={"from": report.source, "to": run.model})
    # Other processes follow within follow_every_s; work under way finishes within pin_s.
    default = store.follow_every_s * 2 + store.pin_s + 0.5
    time.sleep(max(store.pin_s, default if grace_s is None else grace_s))
    run.deadline = None
    if store.collection_vectors(run.source[products]) is not None:
        run.products(run.source[products], newer_only=True, name="late products")
    if profiles and store.collection_vectors(run.source[users]) is not None:
        run.profiles(run.source[users], sweep=False, name="late profiles")
    if aggregates is not None:
        _recenter(store, settings, aggregates)
    report.dropped = _drop_leftovers(store, settings, keep_old=keep_old)
    report.complete = True
    logger.info("reembed done", extra=report.as_dict())
    return report


def _recenter(store: VectorStore, settings: Settings, aggregates: AggregatesStore) -> None:
    """The catalog mean kept in the aggregates, recomputed in the new space."""
    try:
        agg = aggregates.load()
    except Exception:  # no aggregates yet: the nightly job computes them in the new space
        return
    mean = catalog_mean(store, settings)
    agg.item_mean = [round(float(x), 7) for x in mean] if mean is not None else None
    aggregates.save(agg)


def _drop_leftovers(store: VectorStore, settings: Settings, *, keep_old: bool) -> list[str]:
    """Drop the space collections of products and users that serve nothing here."""
    if keep_old:
        return []
    served = {_served(store, n) for n in (settings.products_collection, settings.users_collection)}
    dropped = []
    for name in store.collections():
        ours = any(
            name == logical or name.startswith(f"{logical}{SEPARATOR}")
            for logical in (settings.products_collection, settings.users_collection)
        )
        if ours and name not in served:
            store.drop_collection(name)
            dropped.append(name)
    return dropped
