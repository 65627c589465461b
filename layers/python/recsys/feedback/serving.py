"""The feedback loop as the API uses it: choose the variant, log what was served, attribute
what came back, report.

One :class:`Feedback` per process (built with the handler's other dependencies). Nothing in it
may fail a reply: a stats table that cannot be written is logged and counted
(``ListLogFailures`` / ``AttributionFailures``) and the list or the 202 goes out anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, wait
from typing import Any

from recsys.core.config import Settings
from recsys.core.observability import add_flush_hook, logger, metric
from recsys.events.models import LoggedEvent
from recsys.feedback.attribution import Attribution, attribute
from recsys.feedback.experiments import DEFAULT_VARIANT, Experiment, subject_of
from recsys.feedback.model import ServedList
from recsys.feedback.report import build_report, day_range
from recsys.feedback.store import StatsBackend, open_stats_store

__all__ = ["Feedback"]


def _cause(problem: str) -> str:
    """The dependency a problem names ("profile: timeout" → "profile")."""
    return problem.split(":", 1)[0].strip() or "unknown"


class Feedback:
    """Experiments, list logging, attribution and stats over one :class:`StatsStore`."""

    def __init__(
        self,
        settings: Settings,
        *,
        experiment: Experiment | None = None,
        store: StatsBackend | None = None,
    ) -> None:
        self.settings = settings
        self.experiment = experiment
        self.store = store
        self._variant_settings: dict[str, Settings] = {}
        self._lock = threading.Lock()
        self._pending: set[Future[None]] = set()
        add_flush_hook(self.flush)

    @classmethod
    def from_settings(cls, settings: Settings) -> Feedback:
        """Parse ``RECSYS_EXPERIMENT`` (a ConfigError now if it is wrong) and open the table."""
        experiment = Experiment.from_settings(settings)
        return cls(settings, experiment=experiment, store=open_stats_store(settings))

    # --- experiments ------------------------------------------------------------------------

    def variant(self, user_id: str | None = None, session_id: str | None = None) -> str:
        """The variant of this subject ("default" without an experiment or a subject)."""
        if self.experiment is None:
            return DEFAULT_VARIANT
        return self.experiment.assign(subject_of(user_id, session_id))

    @property
    def variants(self) -> list[str]:
        """Every variant a list may be served under."""
        names = self.experiment.names if self.experiment else []
        return [DEFAULT_VARIANT, *names]

    def settings_for(self, variant: str) -> Settings:
        """The settings a variant ranks with (the process's own for "default")."""
        if self.experiment is None or variant == DEFAULT_VARIANT:
            return self.settings
        if variant not in self._variant_settings:
            self._variant_settings[variant] = self.experiment.settings_for(self.settings, variant)
        return self._variant_settings[variant]

    def cache_tag(self, variant: str) -> str:
        """Part of every cache key: a variant's lists never answer another's requests."""
        if self.experiment is None or variant == DEFAULT_VARIANT:
            return DEFAULT_VARIANT
        return f"{self.experiment.name}/{variant}"

    # --- served lists -------------------------------------------------------------------------

    def served(
        self,
        *,
        request_id: str,
        endpoint: str,
        strategy: str,
        variant: str,
        subject: str | None,
        items: int,
        cold: bool = False,
        cache_state: str = "miss",
        problems: Sequence[str] = (),
    ) -> None:
        """Count the list and log it under its request id (never raises)."""
        metric("ListsServed", strategy=strategy, variant=variant)
        metric("CacheHit" if cache_state == "hit" else "CacheMiss", endpoint=endpoint)
        for cause in sorted({_cause(p) for p in problems}):
            metric("DegradedReplies", cause=cause)
        if self.store is None:
            return
        served = ServedList(
            request_id=request_id,
            strategy=strategy,
            variant=variant,
            at=time.time(),
            subject=subject,
            cold=cold,
            items=items,
        )
        try:
            pending = self.store.record_list(served)
        except Exception as exc:  # the shopper's list matters more than its statistics
            self._log_failed(exc)
            return
        # The reply does not wait for the write: the end of the invocation does (``flush``,
        # called by the handler wrapper), so on Lambda nothing is left behind a frozen
        # container, and locally the list goes out while the writer commits it.
        with self._lock:
            fresh = pending not in self._pending  # lists batched together share one future
            self._pending.add(pending)
        if fresh:
            pending.add_done_callback(self._written)

    def _written(self, fut: Future[None]) -> None:
        exc = fut.exception()
        if exc is not None:
            self._log_failed(exc)
        with self._lock:
            self._pending.discard(fut)

    @staticmethod
    def _log_failed(exc: BaseException) -> None:
        metric("ListLogFailures")
        logger.warning("served list not logged", extra={"error": str(exc)[:300]})

    def flush(self, timeout_s: float = 5.0) -> None:
        """Wait for the served lists still being written (end of an invocation)."""
        with self._lock:
            pending = list(self._pending)
        if pending:
            wait(pending, timeout=timeout_s)

    def close(self) -> None:
        """Write what is still pending and close the stats store (process shutdown)."""
        if self.store is not None:
            self.flush()
            self.store.close()

    # --- events -------------------------------------------------------------------------------

    def attribute(self, events: Sequence[LoggedEvent]) -> Attribution | None:
        """Count newly logged events for their lists (never raises)."""
        if self.store is None or not events:
            return None
        try:
            result = attribute(
                events, lookups=self.store, window_s=self.settings.attribution_window_s
            )
            if result.clicks:
                self.store.put_clicks(result.clicks)
            self.store.add(result.deltas)
        except Exception as exc:
            metric("AttributionFailures")
            logger.error("attribution failed", extra={"error": str(exc)[:300]})
            return None
        for (_day, strategy, variant), c in result.deltas.items():
            for name, n in (
                ("Impressions", c.impressions),
                ("Clicks", c.clicks),
                ("AddToCarts", c.add_to_carts),
                ("Conversions", c.conversions),
            ):
                if n:
                    metric(name, n, strategy=strategy, variant=variant)
        return result

    # --- stats ----------------------------------------------------------------------------------

    def report(
        self,
        *,
        days: int,
        catalog_products: int | None,
        ranking: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> dict[str, Any]:
        """The /stats body for the last ``days`` days."""
        window = day_range(days, now=time.time() if now is None else now)
        buckets = self.store.read_days(window) if self.store is not None else {}
        report = build_report(
            buckets,
            days=window,
            experiment=self.experiment,
            catalog_products=catalog_products,
            ranking=ranking,
        )
        report["stats_table"] = self.store is not None
        return report
