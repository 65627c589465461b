"""Progress of long evaluation work on stderr: one short line per phase, with elapsed time."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``say("loaded …")`` prints ``[  12.3 s] <prefix>loaded …`` to stderr when enabled."""

    def __init__(
        self, *, enabled: bool = True, prefix: str = "", stream: TextIO | None = None
    ) -> None:
        self.enabled = enabled
        self.prefix = prefix
        self.stream = stream
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        out = self.stream or sys.stderr
        print(f"[{elapsed:6.1f} s] {self.prefix}{message}", file=out, flush=True)

    def child(self, prefix: str) -> Progress:
        """The same clock and stream, with another prefix (e.g. the dataset's name)."""
        other = Progress(enabled=self.enabled, prefix=prefix, stream=self.stream)
        other.start = self.start
        return other
