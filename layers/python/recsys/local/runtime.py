"""``recsys up``: the whole system on one machine, wired from template.yaml.

- AWS: a moto server (own process) on 127.0.0.1 (free port) with the template's queues,
  DLQs, table and bucket (``provision_from_template``) — or, when ``RECSYS_AWS_ENDPOINT_URL``
  is already set (e.g. LocalStack), that endpoint instead of moto;
- Lambda: each function's handler file loaded by path from CodeUri + Handler;
- API Gateway: uvicorn serving every HttpApi route with the function's own FastAPI ``app``;
- SQS event sources, S3 notifications and the nightly schedule: :mod:`recsys.local.sources`;

The handlers read their settings from the environment as on Lambda, so the runtime sets the
same ``RECSYS_*`` variables the template would (endpoint, queue URLs, table, bucket, data dir)
before loading them. Durable state lives in files of the data directory, written as it
changes: the event log (``events_backend = "sqlite"``, the default: committed before each 202,
so ``kill -9`` loses nothing accepted) and Qdrant (embedded edge engine under
``<data_dir>/qdrant``, with its WAL). moto is in-memory: the bucket and the other tables
(and the event table when ``events_backend = "dynamodb"``) are saved under
``<data_dir>/local-aws/`` at shutdown and restored at the next start — each snapshot once: it is
set aside when restored, so a shutdown whose save fails can never bring back an older state
(erased data) at the start after.

Ctrl-C (SIGINT to the whole process group — moto ignores it) stops the stack in order, saying
what it does: HTTP first, then triggers, the queues drained for at most ``local_drain_s``
(what is left is re-derived: the nightly job rebuilds profiles from the log), the snapshots,
the stores, moto last.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys.core.aws import client
from recsys.core.config import Settings, get_settings
from recsys.core.errors import StackStartError, TemplateError
from recsys.local.admin import admin_app
from recsys.local.foreground import ForegroundGate
from recsys.local.gateway import Gateway, Mount, start_server, wait_healthy
from recsys.local.invoke import LocalFunction
from recsys.local.moto import MotoProcess, free_port
from recsys.local.poller import surface_batch_failures
from recsys.local.provision import (
    RESOURCE_PREFIX,
    TEMPLATE_PATH,
    Provisioned,
    load_template,
    provision_from_template,
    resource_env,
)
from recsys.local.snapshot import restore_snapshots, save_snapshots
from recsys.local.sources import EventSources
from recsys.local.template import LocalTemplate, read_template
from recsys.local.triggers import Scheduler

log = logging.getLogger(__name__)


@dataclass
class LocalRuntime:
    """The running local stack. ``start()`` then ``stop()`` (or use it as a context manager)."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    template_path: Path = TEMPLATE_PATH
    refresh_interval_s: float | None = None
    s3_poll_s: float | None = None
    persist: bool = True
    say: Callable[[str], None] = print

    template: LocalTemplate = field(init=False)
    settings: Settings = field(init=False)
    provisioned: Provisioned = field(init=False)
    functions: dict[str, LocalFunction] = field(default_factory=dict, init=False)
    sources: EventSources = field(default_factory=EventSources, init=False)
    _moto: MotoProcess | None = field(default=None, init=False)
    _server: Any = field(default=None, init=False)
    _gateway: Gateway | None = field(default=None, init=False)
    #: API requests in flight, which the queue pollers' invocations yield to (briefly).
    foreground: ForegroundGate = field(default_factory=ForegroundGate, init=False)
    _server_thread: threading.Thread | None = field(default=None, init=False)
    _stopped: bool = field(default=False, init=False)
    _saved_env: dict[str, str] = field(default_factory=dict, init=False)

    # --- start ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL of the API."""
        return f"http://{self.host}:{self.port}"

    @property
    def _aws_dir(self) -> Path:
        return self.data_dir / "local-aws"

    def start(self) -> str:
        """Bring everything up; returns the API URL once GET /health answers."""
        self.template = read_template(self.template_path)
        self._saved_env = dict(os.environ)
        self.data_dir = self.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            self.port = free_port(self.host)
        self._check_port()
        self._start_aws()
        self._load_functions()
        self._start_triggers()
        self._serve()
        return self.url

    def _check_port(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex((self.host, self.port)) == 0:
                raise StackStartError(
                    f"{self.host}:{self.port} is already in use (another `recsys up`?); "
                    "pick another with --port"
                )

    def _set_env(self, values: dict[str, str]) -> None:
        # Lambda hands a function its configuration as environment variables; so does this
        # runtime, then drops the cached Settings so the handlers read the new values.
        os.environ.update(values)
        get_settings.cache_clear()

    def _start_aws(self) -> None:
        env = {
            "RECSYS_DATA_DIR": str(self.data_dir),
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            # Metrics and traces would print EMF blobs / need the X-Ray SDK; off locally.
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        if self.refresh_interval_s is not None:
            env["RECSYS_LOCAL_REFRESH_INTERVAL_S"] = str(self.refresh_interval_s)
        if self.s3_poll_s is not None:
            env["RECSYS_LOCAL_S3_POLL_S"] = str(self.s3_poll_s)
        for key in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"):
            env[key] = os.environ.get(key, "recsys")
        self._set_env(env)
        endpoint = get_settings().aws_endpoint_url
        if endpoint is None:
            # moto accepts any credentials; fixed ones keep a developer's real keys out of it.
            self._set_env({"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"})
            os.environ.pop("AWS_SESSION_TOKEN", None)
            os.environ.pop("AWS_PROFILE", None)
            self._moto = MotoProcess()
            self._moto.start()
            host, port = self._moto.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            self._set_env({"RECSYS_AWS_ENDPOINT_URL": endpoint})
        # The event log writes with more threads than boto3's default pool: urllib3 then warns
        # once per request that it discards a connection. Harmless, and thousands of lines.
        logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
        surface_batch_failures()
        self.say(f"AWS emulation at {endpoint}{' (moto)' if self._moto else ''}")
        self.provisioned = provision_from_template(
            get_settings(), prefix=RESOURCE_PREFIX, template=load_template(self.template_path)
        )
        self._set_env(resource_env(self.provisioned))
        self.settings = get_settings()
        self.foreground = ForegroundGate(
            self.settings.local_foreground_wait_ms / 1000, self.settings.local_background_share
        )
        if self._moto is not None and self.persist:
            self._restore()

    def _snapshot_tables(self) -> dict[str, str]:
        """The emulated tables kept by snapshots (the event table only when it is the log)."""
        tables = dict(self.provisioned.tables)
        if self.settings.events_backend != "dynamodb":
            tables.pop("EventsTable", None)
        return tables

    def _restore(self) -> None:
        if (self._aws_dir).is_dir():
            self.say("restoring the emulated bucket and tables of the last run ...")
        items, objects = restore_snapshots(
            client("dynamodb", self.settings),
            client("s3", self.settings),
            tables=self._snapshot_tables(),
            buckets=self.provisioned.buckets,
            folder=self._aws_dir,
        )
        if items or objects:
            self.say(f"restored {items} items and {objects} objects from {self._aws_dir}")
        if self.settings.events_backend == "sqlite":
            from recsys.events.sqlite import default_path

            self.say(f"event log: {default_path(self.settings)} (SQLite, durable)")

    def _load_functions(self) -> None:
        missing = [
            f"{fn.logical_id}: {fn.module_file}"
            for fn in self.template.functions.values()
            if not fn.module_file.is_file()
        ]
        if missing:
            raise StackStartError("handler files missing: " + "; ".join(missing))
        for logical_id, spec in self.template.functions.items():
            self.functions[logical_id] = LocalFunction.load(spec)

    def _start_triggers(self) -> None:
        self.sources.start(
            self.functions.values(), self.provisioned, self.settings, self.foreground
        )

    # --- HTTP ----------------------------------------------------------------------------------
    def _mounts(self) -> list[Mount]:
        mounts: list[Mount] = []
        for route, spec in self.template.routes():
            app = getattr(self.functions[spec.logical_id].module, "app", None)
            if app is None:
                raise TemplateError(
                    f"has HttpApi events but {spec.module_file} defines no module-level `app`",
                    resource=spec.logical_id,
                )
            mounts.append(
                Mount(route=route, function=spec.logical_id, app=app, pattern=route.pattern())
            )
        return mounts

    def _fire(self, scheduler: Scheduler) -> dict[str, Any]:
        result = scheduler.fire()
        return {
            "rule": scheduler.rule,
            "result": result if isinstance(result, dict | list) else str(result),
        }

    def _serve(self) -> None:
        mounts = self._mounts()
        gateway = self._gateway = Gateway(
            mounts, admin_app(self, mounts), foreground=self.foreground
        )
        self._server, self._server_thread = start_server(gateway, host=self.host, port=self.port)
        wait_healthy(self.url, self._server_thread, timeout_s=60.0)

    # --- state ---------------------------------------------------------------------------------
    def queue_depths(self) -> dict[str, dict[str, int]]:
        """Visible and in-flight messages of every queue, by logical id."""
        sqs = client("sqs", self.settings)
        out: dict[str, dict[str, int]] = {}
        for logical_id, url in self.provisioned.queue_urls.items():
            attrs = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            out[logical_id] = {
                "visible": int(attrs["ApproximateNumberOfMessages"]),
                "in_flight": int(attrs["ApproximateNumberOfMessagesNotVisible"]),
            }
        return out

    def is_idle(self) -> bool:
        """No poller busy and nothing visible on any queue a function consumes.

        Messages still in flight while no poller is busy are failures waiting out their
        visibility timeout (up to 30 min for the profile queue) before a retry or the DLQ:
        there is no work to wait for until then.
        """
        if self.sources.busy:
            return False
        sources = {s.queue for f in self.template.functions.values() for s in f.sqs}
        depths = self.queue_depths()
        return all(depths[q]["visible"] == 0 for q in sources) and not self.sources.busy

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until :meth:`is_idle` holds twice in a row (a handler may enqueue more work)."""
        deadline = time.monotonic() + timeout_s
        streak = 0
        while time.monotonic() < deadline:
            streak = streak + 1 if self.is_idle() else 0
            if streak >= 2:
                return True
            time.sleep(0.2)
        return False

    def status(self) -> dict[str, Any]:
        """What the stack has done so far, for /_local/status."""
        return {
            "queues": self.queue_depths(),
            "pollers": {p.name: vars(p.stats) for p in self.sources.pollers},
            "foreground": self.foreground.stats(),
            "functions": {
                k: {
                    "invocations": f.invocations,
                    "errors": f.errors,
                    "http_requests": self._gateway.requests.get(k, 0) if self._gateway else 0,
                }
                for k, f in self.functions.items()
            },
            "schedules": {
                s.rule: {"runs": s.runs, "last_run_at": s.last_run_at, "last_error": s.last_error}
                for s in self.sources.schedulers
            },
            "s3": {
                w.bucket: {"delivered": w.delivered, "errors": w.errors}
                for w in self.sources.watchers
            },
        }

    def processed(self) -> dict[str, int]:
        """Messages each poller has handled so far, by poller name."""
        return {p.name: p.stats.succeeded for p in self.sources.pollers}

    def refresh(self) -> list[dict[str, Any]]:
        """Fire every schedule now (the nightly job)."""
        return [self._fire(s) for s in self.sources.schedulers]

    # --- stop ----------------------------------------------------------------------------------
    def stop(self, *, drain_s: float | None = None) -> None:
        """Stop HTTP, triggers and pollers (after draining the queues for at most ``drain_s``,
        default ``local_drain_s``), save the snapshots, close the stores, stop moto."""
        if self._stopped:
            return
        self._stopped = True
        t0 = time.monotonic()
        if drain_s is None:
            drain_s = self.settings.local_drain_s if hasattr(self, "settings") else 5.0
        self._stop_http_and_triggers()
        if self.sources.pollers and drain_s > 0:
            self.say(f"  draining the queues (at most {drain_s:g} s) ...")
            if not self._drained(drain_s):
                self.say(
                    "  queues not drained: their messages are dropped (profiles catch up from "
                    "the event log at the next nightly job)"
                )
        self.sources.stop_pollers(timeout=5.0)
        if self._moto is not None and self.persist and hasattr(self, "provisioned"):
            self.say("  saving the emulated bucket and tables ...")
            self._save()
        self.say("  closing the stores ...")
        self._close_store()
        if self._moto is not None:
            self._moto.stop()
        self.say(f"stopped in {time.monotonic() - t0:.1f} s")
        # Leave the process's environment as it was (a test may start another stack).
        os.environ.clear()
        os.environ.update(self._saved_env)
        get_settings.cache_clear()

    def _stop_http_and_triggers(self) -> None:
        if self._server is not None:
            self.say("  stopping the HTTP server ...")
            self._server.should_exit = True
            if self._server_thread is not None:
                self._server_thread.join(5.0)
        if self._gateway is not None:
            self._gateway.close()
        self.sources.stop_triggers()

    def _drained(self, timeout_s: float) -> bool:
        """:meth:`wait_idle`, tolerating an emulator that is already gone."""
        try:
            return self.wait_idle(timeout_s)
        except Exception as exc:
            self.say(f"  queues not readable ({type(exc).__name__}); not waiting for them")
            return False

    def _save(self) -> None:
        try:
            items, objects = save_snapshots(
                client("dynamodb", self.settings),
                client("s3", self.settings),
                tables=self._snapshot_tables(),
                buckets=self.provisioned.buckets,
                folder=self._aws_dir,
            )
            self.say(f"saved {items} items and {objects} objects under {self._aws_dir}")
        except Exception:
            log.exception("saving the emulated AWS state failed")

    def _close_store(self) -> None:
        # Each handler module holds its own Services (module-level, as on Lambda); closing them
        # flushes the embedded Qdrant shards (WAL) so the next start opens them cleanly.
        seen: set[int] = set()
        for fn in self.functions.values():
            module = fn.module
            app = getattr(module, "app", None)
            worker = getattr(module, "worker", None)
            for holder in (module, getattr(app, "state", None), worker):
                services = getattr(holder, "services", None)
                if services is None or id(services) in seen or not hasattr(services, "close"):
                    continue
                seen.add(id(services))
                try:
                    services.close()
                except Exception:
                    log.exception("closing a function's services failed")

    def __enter__(self) -> LocalRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
