"""The composition root: everything a process talks to, built from one :class:`Settings`.

Each handler file (``functions/*/app.py``), the CLI and the local stack build one
:class:`Services` and pass it down; FastAPI apps hold it in ``app.state.services`` (read by
:mod:`recsys.api.deps`), SQS workers take it as an argument, tests build one over their own
backends (any dependency can be given ready-made). Nothing is opened before it is first used,
so a handler pays at cold start only for what it touches; each dependency is built once, under
a lock, and shared by every thread of the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from recsys.core.config import Settings, get_settings
from recsys.core.errors import ConfigError

if TYPE_CHECKING:
    from recsys.aggregates.store import AggregatesStore
    from recsys.cache import Cache
    from recsys.catalog.ingest import CatalogService
    from recsys.catalog.messages import EmbedQueue
    from recsys.core.types import Encoder
    from recsys.events.backend import EventLogBackend
    from recsys.events.queue import ProfileSink
    from recsys.feedback.serving import Feedback
    from recsys.ranking.cached import CachedRecommender
    from recsys.store.base import VectorStore

__all__ = ["Services"]

T = TypeVar("T")


class Services:
    """Store, event log, queues, cache, encoder, aggregates and the services built on them.

    Keyword arguments give a dependency ready-made (tests, benchmarks, the CLI's in-process
    queue); the rest are built from ``settings`` on first use.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: VectorStore | None = None,
        event_log: EventLogBackend | None = None,
        embed_queue: EmbedQueue | None = None,
        profile_queue: ProfileSink | None = None,
        cache: Cache | None = None,
        encoder: Encoder | None = None,
        aggregates: AggregatesStore | None = None,
        recommender: CachedRecommender | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self._lock = threading.RLock()
        self._built: dict[str, Any] = {
            name: value
            for name, value in {
                "store": store,
                "event_log": event_log,
                "embed_queue": embed_queue,
                "profile_queue": profile_queue,
                "cache": cache,
                "encoder": encoder,
                "aggregates": aggregates,
                "recommender": recommender,
            }.items()
            if value is not None
        }
        #: Built here (not given): closed by :meth:`close`.
        self._owned: list[str] = []

    def _get(self, name: str, build: Callable[[], T]) -> T:
        value = self._built.get(name)
        if value is None:
            with self._lock:
                value = self._built.get(name)
                if value is None:
                    value = self._built[name] = build()
                    self._owned.append(name)
        return value

    # --- dependencies ---------------------------------------------------------------------------

    @property
    def store(self) -> VectorStore:
        """The vector store, its products and users collections ensured."""
        from recsys.store import open_store_ready

        return self._get("store", lambda: open_store_ready(self.settings))

    @property
    def event_log(self) -> EventLogBackend:
        """The durable event log (``events_backend``: embedded SQLite, or DynamoDB)."""
        from recsys.events.backend import open_event_log

        return self._get("event_log", lambda: open_event_log(self.settings))

    @property
    def profile_queue(self) -> ProfileSink | None:
        """The profile queue, None when ``profile_queue_url`` is not set."""
        if not self.settings.profile_queue_url:
            return self._built.get("profile_queue")
        from recsys.events.queue import ProfileQueue

        return self._get("profile_queue", lambda: ProfileQueue(self.settings))

    @property
    def embed_queue(self) -> EmbedQueue:
        """The embed queue on SQS (``embed_queue_url`` must be set unless one was given)."""

        def build() -> EmbedQueue:
            from recsys.catalog.queue import SqsEmbedQueue
            from recsys.core import aws

            url = self.settings.embed_queue_url
            if not url:
                raise ConfigError(
                    "RECSYS_EMBED_QUEUE_URL is not set: the ingest service needs the embed queue"
                )
            return SqsEmbedQueue(
                aws.client("sqs", self.settings),
                url,
                per_message=self.settings.embed_message_products,
            )

        return self._get("embed_queue", build)

    @property
    def cache(self) -> Cache:
        """The reply cache: Redis at ``redis_url``, else in-process."""
        from recsys.cache import make_cache

        return self._get("cache", lambda: make_cache(self.settings))

    @property
    def encoder(self) -> Encoder:
        """The text encoder of the store's encoder space (the configured model, or the one the
        store still holds until ``recsys reembed`` switches it), loaded on the first ``encode``."""
        from recsys.catalog.encoding import SpaceEncoder

        return self._get("encoder", lambda: SpaceEncoder(lambda: self.store, self.settings))

    @property
    def aggregates(self) -> AggregatesStore:
        """Where the nightly aggregates are kept (S3), with a per-process read cache."""
        from recsys.aggregates.store import AggregatesStore

        return self._get("aggregates", lambda: AggregatesStore(self.settings))

    # --- services built on them -----------------------------------------------------------------

    @property
    def catalog(self) -> CatalogService:
        """Ingest and delete (POST/DELETE /products, S3 uploads)."""
        from recsys.catalog.ingest import CatalogService

        return self._get(
            "catalog",
            lambda: CatalogService(
                store=self.store, queue=self.embed_queue, settings=self.settings
            ),
        )

    @property
    def recommender(self) -> CachedRecommender:
        """The read API's one entry: ranking, fallbacks, reply cache and degradation."""
        return self._get("recommender", lambda: self._recommender(self.settings, "default"))

    def recommender_for(self, variant: str) -> CachedRecommender:
        """The recommender of an experiment's variant: its own ranking settings and its own
        cache keys (``"default"``, outside any experiment, is :attr:`recommender`)."""
        if variant == "default":
            return self.recommender
        fb = self.feedback
        return self._get(
            f"recommender:{variant}",
            lambda: self._recommender(fb.settings_for(variant), fb.cache_tag(variant)),
        )

    def _recommender(self, settings: Settings, cache_tag: str) -> CachedRecommender:
        from recsys.ranking.cached import CachedRecommender
        from recsys.ranking.service import Recommender

        ranker = Recommender(
            settings=settings,
            store=lambda: self.store,
            aggregates=self.aggregates.load,
            encoder=lambda: self.encoder,
        )
        return CachedRecommender(ranker, cache=self.cache, settings=settings, cache_tag=cache_tag)

    @property
    def feedback(self) -> Feedback:
        """Experiments, served-list logging, attribution and /stats (RECSYS_EXPERIMENT is
        parsed here: a bad one is a ConfigError when the handler starts)."""
        from recsys.feedback.serving import Feedback

        return self._get("feedback", lambda: Feedback.from_settings(self.settings))

    def close(self) -> None:
        """Close what this object opened (the stats writer, the store's files, the event
        log's threads)."""
        with self._lock:
            owned, self._owned = self._owned, []
            built = {name: self._built.pop(name) for name in owned}
        for name in ("feedback", "store", "event_log"):
            value = built.get(name)
            if value is not None:
                value.close()
