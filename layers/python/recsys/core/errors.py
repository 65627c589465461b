"""One error tree for the whole package.

Each subclass says in one line what went wrong; extra context is kept as attributes so
handlers can shape replies (HTTP status, rejected rows) without parsing messages.
"""

from __future__ import annotations


class RecsysError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(RecsysError):
    """Settings are missing or inconsistent."""


class ValidationError(RecsysError):
    """An input record is invalid."""

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.row = row
        self.reason = message


class EncoderError(RecsysError):
    """The text encoder could not be loaded or was given bad input."""


class StoreError(RecsysError):
    """The vector store failed or is unreachable."""


class NotFoundError(RecsysError):
    """A product, user or resource does not exist."""


class DependencyError(RecsysError):
    """A downstream dependency (queue, table, cache) failed."""


class StackStartError(RecsysError):
    """The local stack could not start (port taken, handler missing, API not answering)."""


class DemoError(RecsysError):
    """The demo data is missing or the stack refused it."""
