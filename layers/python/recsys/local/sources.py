"""The template's event sources, started for the loaded functions: a poller per SQS source, a
watcher per S3 notification, a timer per schedule — what event source mappings, bucket
notifications and EventBridge rules do in AWS.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from recsys.core.aws import client
from recsys.core.config import Settings
from recsys.core.errors import TemplateError
from recsys.local.foreground import ForegroundGate
from recsys.local.invoke import LocalFunction
from recsys.local.poller import SqsPoller
from recsys.local.provision import Provisioned
from recsys.local.triggers import S3Watcher, Scheduler

__all__ = ["EventSources"]


@dataclass
class EventSources:
    """The running pollers, watchers and schedulers (each listed as soon as it runs, so a start
    that fails half-way still stops what it started)."""

    pollers: list[SqsPoller] = field(default_factory=list)
    watchers: list[S3Watcher] = field(default_factory=list)
    schedulers: list[Scheduler] = field(default_factory=list)

    def start(
        self,
        functions: Iterable[LocalFunction],
        provisioned: Provisioned,
        settings: Settings,
        foreground: ForegroundGate | None = None,
    ) -> None:
        """Start every event source the functions' template entries declare (the queue
        pollers yield to the API requests ``foreground`` counts)."""
        for fn in functions:
            self._start_queues(fn, provisioned, settings, foreground)
            self._start_buckets(fn, provisioned, settings)
            for sched in fn.spec.schedules:
                scheduler = Scheduler(
                    rule=f"{fn.spec.logical_id}{sched.event}",
                    handler=fn.invoke,
                    interval_s=settings.local_refresh_interval_s if sched.enabled else 0.0,
                    region=settings.aws_region,
                )
                scheduler.start()
                self.schedulers.append(scheduler)

    def _start_queues(
        self,
        fn: LocalFunction,
        provisioned: Provisioned,
        settings: Settings,
        foreground: ForegroundGate | None,
    ) -> None:
        sqs = client("sqs", settings)
        for src in fn.spec.sqs:
            url = provisioned.queue_urls.get(src.queue)
            if url is None:
                raise TemplateError(
                    f"queue {src.queue} is not an AWS::SQS::Queue", resource=fn.spec.logical_id
                )
            poller = SqsPoller(
                sqs=sqs,
                queue_url=url,
                handler=fn.invoke,
                batch_size=src.batch_size,
                window_s=src.window_s,
                report_failures=src.report_failures,
                region=settings.aws_region,
                name=f"{fn.spec.logical_id}.{src.event}",
                foreground=foreground,
            )
            poller.start()
            self.pollers.append(poller)

    def _start_buckets(
        self, fn: LocalFunction, provisioned: Provisioned, settings: Settings
    ) -> None:
        s3 = client("s3", settings)
        for s3_src in fn.spec.s3:
            bucket = provisioned.buckets.get(s3_src.bucket)
            if bucket is None:
                raise TemplateError(
                    f"bucket {s3_src.bucket} is not an AWS::S3::Bucket",
                    resource=fn.spec.logical_id,
                )
            watcher = S3Watcher(
                s3=s3,
                bucket=bucket,
                source=s3_src,
                handler=fn.invoke,
                interval_s=settings.local_s3_poll_s,
                region=settings.aws_region,
            )
            watcher.prime()
            watcher.start()
            self.watchers.append(watcher)

    @property
    def busy(self) -> bool:
        """Some poller is handling a batch."""
        return any(p.busy for p in self.pollers)

    def stop_triggers(self) -> None:
        """Stop the schedules and bucket watchers (the pollers drain first, then stop)."""
        for scheduler in self.schedulers:
            scheduler.stop()
        for watcher in self.watchers:
            watcher.stop()

    def stop_pollers(self, *, timeout: float = 5.0) -> None:
        """Stop every queue poller."""
        for poller in self.pollers:
            poller.stop(timeout=timeout)
