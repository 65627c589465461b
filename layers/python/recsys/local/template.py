"""What the local stack needs of template.yaml, read once into plain dataclasses.

Only the parts that decide behaviour are read: each ``AWS::Serverless::Function``'s CodeUri and
Handler (with Globals), its HttpApi routes, SQS sources (queue, BatchSize, batching window,
ReportBatchItemFailures), S3 notifications (bucket, events, key prefix/suffix) and schedules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys.core.errors import TemplateError
from recsys.local.provision import TEMPLATE_PATH, load_template


@dataclass(frozen=True)
class HttpRoute:
    """One API Gateway route: method and path template (``/products/{product_id}``)."""

    method: str
    path: str
    event: str
    authorized: bool

    def pattern(self) -> re.Pattern[str]:
        """Regex for request paths, as API Gateway: ``{x}`` one segment, ``{x+}`` the rest."""
        out = ""
        for part in re.split(r"(\{[^}]+\})", self.path):
            if part.startswith("{") and part.endswith("+}"):
                out += f"(?P<{part[1:-2]}>.+)"
            elif part.startswith("{"):
                out += f"(?P<{part[1:-1]}>[^/]+)"
            else:
                out += re.escape(part)
        return re.compile(f"^{out}/?$")


@dataclass(frozen=True)
class SqsSource:
    """An SQS event source mapping."""

    queue: str
    event: str
    batch_size: int
    window_s: float
    report_failures: bool


@dataclass(frozen=True)
class S3Source:
    """An S3 notification to the function."""

    bucket: str
    event: str
    events: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""

    def matches(self, key: str) -> bool:
        """Whether an object key passes the notification's filter rules."""
        return key.startswith(self.prefix) and key.endswith(self.suffix)


@dataclass(frozen=True)
class ScheduleSource:
    """An EventBridge schedule rule targeting the function."""

    event: str
    expression: str
    enabled: bool


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function: where its code is and what invokes it."""

    logical_id: str
    code_uri: Path
    handler: str
    timeout_s: int
    http: tuple[HttpRoute, ...] = ()
    sqs: tuple[SqsSource, ...] = ()
    s3: tuple[S3Source, ...] = ()
    schedules: tuple[ScheduleSource, ...] = ()

    @property
    def module_file(self) -> Path:
        """The handler's source file, e.g. ``functions/ingest/app.py`` for ``app.handler``."""
        module, _, _ = self.handler.rpartition(".")
        return self.code_uri.joinpath(*module.split(".")).with_suffix(".py")

    @property
    def function_name(self) -> str:
        """The handler's attribute name in its module (``handler`` for ``app.handler``)."""
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class LocalTemplate:
    """The template's functions, with a check that no route or queue is claimed twice."""

    path: Path
    functions: dict[str, FunctionSpec] = field(default_factory=dict)

    def routes(self) -> list[tuple[HttpRoute, FunctionSpec]]:
        """Every HTTP route with the function serving it, literal paths before parameterised."""
        pairs = [(r, f) for f in self.functions.values() for r in f.http]
        # API Gateway prefers the most specific route: fewer path variables first.
        return sorted(pairs, key=lambda p: (p[0].path.count("{"), -len(p[0].path)))

    def function_for_queue(self, queue: str) -> FunctionSpec | None:
        """The function consuming the queue with this logical id, if any."""
        for fn in self.functions.values():
            if any(s.queue == queue for s in fn.sqs):
                return fn
        return None


def _ref_target(value: Any, *, resource: str, what: str) -> str:
    """The logical id behind ``!Ref X`` or ``!GetAtt X.Arn``."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    raise TemplateError(
        f"{what} must be !Ref or !GetAtt of a resource, got {value!r}", resource=resource
    )


def _s3_filter(props: dict[str, Any]) -> tuple[str, str]:
    prefix = suffix = ""
    for rule in props.get("Filter", {}).get("S3Key", {}).get("Rules", []):
        if str(rule["Name"]).lower() == "prefix":
            prefix = str(rule["Value"])
        elif str(rule["Name"]).lower() == "suffix":
            suffix = str(rule["Value"])
    return prefix, suffix


def _function(
    logical_id: str, props: dict[str, Any], globals_: dict[str, Any], root: Path
) -> FunctionSpec:
    merged = {**globals_, **props}
    for key in ("CodeUri", "Handler"):
        if not isinstance(merged.get(key), str):
            raise TemplateError(f"needs a literal {key}", resource=logical_id)
    http: list[HttpRoute] = []
    sqs: list[SqsSource] = []
    s3: list[S3Source] = []
    schedules: list[ScheduleSource] = []
    for name, ev in (props.get("Events") or {}).items():
        where = f"{logical_id}.Events.{name}"
        ev_props = ev.get("Properties", {})
        kind = ev.get("Type")
        if kind == "HttpApi":
            auth = ev_props.get("Auth", {}).get("Authorizer")
            http.append(
                HttpRoute(
                    method=str(ev_props["Method"]).upper(),
                    path=str(ev_props["Path"]),
                    event=name,
                    authorized=auth != "NONE",
                )
            )
        elif kind == "SQS":
            sqs.append(
                SqsSource(
                    queue=_ref_target(ev_props["Queue"], resource=where, what="Queue"),
                    event=name,
                    batch_size=int(ev_props.get("BatchSize", 10)),
                    window_s=float(ev_props.get("MaximumBatchingWindowInSeconds", 0)),
                    report_failures="ReportBatchItemFailures"
                    in ev_props.get("FunctionResponseTypes", []),
                )
            )
        elif kind == "S3":
            events = ev_props["Events"]
            prefix, suffix = _s3_filter(ev_props)
            s3.append(
                S3Source(
                    bucket=_ref_target(ev_props["Bucket"], resource=where, what="Bucket"),
                    event=name,
                    events=tuple(events) if isinstance(events, list) else (str(events),),
                    prefix=prefix,
                    suffix=suffix,
                )
            )
        elif kind == "Schedule":
            schedules.append(
                ScheduleSource(
                    event=name,
                    expression=str(ev_props["Schedule"]),
                    enabled=bool(ev_props.get("Enabled", True)),
                )
            )
        elif kind == "DynamoDB":
            # The table's stream feeds the S3 event archive on AWS; locally the nightly job
            # writes the archive itself (recsys.events.archive.write_snapshot).
            continue
        else:
            raise TemplateError(f"event type {kind!r} is not run locally", resource=where)
    return FunctionSpec(
        logical_id=logical_id,
        code_uri=(root / str(merged["CodeUri"])).resolve(),
        handler=str(merged["Handler"]),
        timeout_s=int(merged.get("Timeout", 3)),
        http=tuple(http),
        sqs=tuple(sqs),
        s3=tuple(s3),
        schedules=tuple(schedules),
    )


def read_template(path: Path = TEMPLATE_PATH) -> LocalTemplate:
    """Read the functions of a SAM template; paths resolve against the template's folder.

    Raises :class:`TemplateError` when a route (method + path) or a queue is claimed by two
    functions, (handler files are checked when loaded).
    """
    data = load_template(path)
    globals_ = data.get("Globals", {}).get("Function", {})
    root = path.resolve().parent
    functions: dict[str, FunctionSpec] = {}
    for logical_id, res in data.get("Resources", {}).items():
        if res.get("Type") == "AWS::Serverless::Function":
            functions[logical_id] = _function(logical_id, res.get("Properties", {}), globals_, root)

    seen_routes: dict[tuple[str, str], str] = {}
    seen_queues: dict[str, str] = {}
    for fn in functions.values():
        for route in fn.http:
            key = (route.method, route.path)
            if key in seen_routes:
                raise TemplateError(
                    f"route {route.method} {route.path} is also declared by {seen_routes[key]}",
                    resource=fn.logical_id,
                )
            seen_routes[key] = fn.logical_id
        for src in fn.sqs:
            if src.queue in seen_queues:
                raise TemplateError(
                    f"queue {src.queue} is also consumed by {seen_queues[src.queue]}",
                    resource=fn.logical_id,
                )
            seen_queues[src.queue] = fn.logical_id
    return LocalTemplate(path=path.resolve(), functions=functions)
