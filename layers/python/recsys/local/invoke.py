"""Load handlers by path as Lambda does, and invoke them with a Lambda-shaped context."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from recsys.core.errors import TemplateError
from recsys.local.template import FunctionSpec

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LocalContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    timeout_s: int
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "local"
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        )

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _module_name(spec: FunctionSpec) -> str:
    # Every handler file is called app.py: give each its own name in sys.modules.
    return f"recsys_local_fn_{spec.logical_id}"


_load_lock = threading.Lock()


def import_file(path: Path, name: str) -> ModuleType:
    """Execute the handler file ``path`` as module ``name``, like Lambda's bootstrap.

    The module is registered in ``sys.modules`` before it runs (pydantic and dataclasses resolve
    types through it); a new ``name`` gives a fresh import, i.e. a new container.
    """
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_module(spec: FunctionSpec) -> ModuleType:
    """Import the function's handler file by path (once per process), like Lambda's bootstrap."""
    name = _module_name(spec)
    with _load_lock:
        loaded = sys.modules.get(name)
        if loaded is not None:
            return loaded
        path = spec.module_file
        if not path.is_file():
            raise TemplateError(
                f"handler file {path} (CodeUri + Handler {spec.handler!r}) does not exist",
                resource=spec.logical_id,
            )
        try:
            return import_file(path, name)
        except ImportError as exc:
            if exc.name is not None:  # a module the handler imports is missing: its own error
                raise
            raise TemplateError(str(exc), resource=spec.logical_id) from exc


@dataclass
class LocalFunction:
    """A loaded function: its module, its handler, and counters of what it was asked to do."""

    spec: FunctionSpec
    module: ModuleType
    invocations: int = 0
    errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, spec: FunctionSpec) -> LocalFunction:
        """Import the handler file and check it exposes the declared handler."""
        module = load_module(spec)
        if not callable(getattr(module, spec.function_name, None)):
            raise TemplateError(
                f"{spec.module_file} has no callable {spec.function_name!r}",
                resource=spec.logical_id,
            )
        return cls(spec=spec, module=module)

    @property
    def handler(self) -> Handler:
        """The handler callable named by the template."""
        fn: Handler = getattr(self.module, self.spec.function_name)
        return fn

    def invoke(self, event: dict[str, Any]) -> Any:
        """Call the handler with ``event`` and a fresh context; exceptions propagate."""
        context = LocalContext(function_name=self.spec.logical_id, timeout_s=self.spec.timeout_s)
        with self._lock:
            self.invocations += 1
        try:
            return self.handler(event, context)
        except Exception:
            with self._lock:
                self.errors += 1
            raise
