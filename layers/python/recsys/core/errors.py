"""One error tree for the whole package.

Each subclass says in one line what went wrong; extra context is kept as attributes so
handlers can shape replies (HTTP status, rejected rows) without parsing messages.
"""

from __future__ import annotations

from collections.abc import Sequence


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


class PayloadTooLargeError(RecsysError):
    """A request carries more events or bytes than one call may."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class BatchTooLargeError(ValidationError):
    """A request carried more rows than one call accepts."""

    def __init__(self, message: str, *, limit: int, size: int) -> None:
        super().__init__(message, field="products")
        self.limit = limit
        self.size = size


class ExamplesNotFoundError(NotFoundError):
    """None of a recommendation's positive examples exist in the collection."""

    def __init__(self, collection: str, keys: Sequence[str]) -> None:
        super().__init__(f"none of the positive examples exist in {collection!r}: {list(keys)}")
        self.collection = collection
        self.keys = list(keys)


class TemplateError(ConfigError):
    """template.yaml declares something the local stack cannot run (names the resource)."""

    def __init__(self, message: str, *, resource: str | None = None) -> None:
        super().__init__(f"{resource}: {message}" if resource else message)
        self.resource = resource


class EventLogUnusableError(DependencyError):
    """The event log could not be read, or is empty while profiles exist: nothing is rebuilt."""


class SpaceMismatchError(StoreError):
    """A vector of one encoder's space met a collection of another's: nothing is compared."""

    def __init__(self, message: str, *, expected: str | None, got: str | None) -> None:
        super().__init__(message)
        self.expected = expected
        self.got = got
