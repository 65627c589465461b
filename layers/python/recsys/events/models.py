"""Event shapes: what the storefront sends (``EventIn``), what the log keeps (``LoggedEvent``).

Validation is per event: ``validate_events`` turns a list of raw objects into accepted events
and ``Reject(index, field, reason)`` rows, so one bad event never stops the good ones.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from recsys.core.ids import ID_MAX_LENGTH, ID_PATTERN, ID_RULE
from recsys.core.storable import DYNAMODB, Problem, check_value

EventType = Literal[
    "view",
    "click",
    "add_to_cart",
    "remove_from_cart",
    "wishlist",
    "purchase",
    "search",
    "impression",
]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]
#: Event types that refer to one product and need ``product_id``.
ITEM_TYPES = frozenset(EVENT_TYPES) - {"search"}

# Ids keep to one alphabet (recsys.core.ids) so every route can read and erase what was logged.
_ID = Field(default=None, min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)
#: Timestamps later than now + this are refused: a clock that far ahead is a client bug.
MAX_FUTURE_S = 86400.0
#: Epoch values above this are milliseconds (year 5138 in seconds), refused with a hint.
_MS_THRESHOLD = 1e11
MAX_CONTEXT_BYTES = 4096


def _parse_timestamp(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("timestamp must be ISO 8601 or epoch seconds, not a boolean")
    if isinstance(value, int | float):
        ts = float(value)
        if not math.isfinite(ts) or ts < 0:
            raise ValueError("epoch seconds must be a finite number ≥ 0")
        if ts > _MS_THRESHOLD:
            raise ValueError("epoch seconds expected (this looks like milliseconds)")
        return ts
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            return _parse_timestamp(float(text))
        except ValueError as exc:
            if "milliseconds" in str(exc) or "finite" in str(exc):
                raise
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not ISO 8601 or epoch seconds: {value!r}") from None
    else:
        raise ValueError("timestamp must be ISO 8601 or epoch seconds")
    # A naive time is taken as UTC: the storefront's clock zone is not ours to guess.
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


class EventIn(BaseModel):
    """One storefront event, validated; ``at`` is the event time in epoch seconds (UTC)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: str | None = _ID
    user_id: str | None = _ID
    session_id: str | None = _ID
    type: EventType
    product_id: str | None = _ID
    query: str | None = Field(default=None, min_length=1, max_length=512)
    order_id: str | None = _ID
    quantity: int | None = Field(default=None, ge=0, le=1_000_000)
    price: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    timestamp: float | None = None
    context: dict[str, Any] | None = None

    @field_validator("timestamp", mode="before")
    @classmethod
    def _timestamp(cls, value: Any) -> float | None:
        if value is None:
            return None
        ts = _parse_timestamp(value)
        if ts > time.time() + MAX_FUTURE_S:
            raise ValueError("timestamp is more than a day in the future")
        return ts

    @field_validator("context")
    @classmethod
    def _context(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        # The log is DynamoDB (or keeps its contract): refuse here what it cannot hold, so one
        # odd event is rejected alone instead of failing its batch or every later read.
        try:
            check_value(value, DYNAMODB, path="context", depth=1)
        except Problem as exc:
            raise _FieldError(exc.path or "context", exc.reason) from None
        if len(json.dumps(value, default=str)) > MAX_CONTEXT_BYTES:
            raise ValueError(f"context larger than {MAX_CONTEXT_BYTES} bytes as JSON")
        return value

    @field_validator("price")
    @classmethod
    def _price(cls, value: float | None) -> float | None:
        if value is not None:
            try:
                check_value(value, DYNAMODB, path="price")
            except Problem as exc:
                raise ValueError(exc.reason) from None
        return value

    @field_validator("query")
    @classmethod
    def _query(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_value(value, DYNAMODB, path="query")
            except Problem as exc:
                raise ValueError(exc.reason) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> EventIn:
        if self.user_id is None and self.session_id is None:
            raise _FieldError("user_id", "user_id or session_id is required")
        if self.type in ITEM_TYPES and self.product_id is None:
            raise _FieldError("product_id", f"product_id is required for {self.type} events")
        if self.type == "search" and self.query is None:
            raise _FieldError("query", "query is required for search events")
        return self

    @property
    def owner(self) -> str:
        """Log partition of the event: the user when known, else the session."""
        return owner_key(user_id=self.user_id, session_id=self.session_id)


class _FieldError(ValueError):
    """A cross-field rule failed; carries the field to blame."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field_name = field_name
        self.reason = reason


def owner_key(*, user_id: str | None = None, session_id: str | None = None) -> str:
    """ "u#<user_id>" when the user is known, else "s#<session_id>"."""
    if user_id:
        return f"u#{user_id}"
    if session_id:
        return f"s#{session_id}"
    raise ValueError("user_id or session_id is required")


def sort_key(at: float, event_id: str) -> str:
    """Time-ordered sort key: zero-padded epoch milliseconds, then the event id."""
    return f"{round(at * 1000):013d}#{event_id}"


def sk_floor(at: float) -> str:
    """The smallest sort key at or after time ``at`` (for "since T" queries)."""
    return f"{round(at * 1000):013d}"


def sk_lower_bound(after_sk: str | None, since: float | None) -> tuple[str | None, bool]:
    """Where an owner's query starts and whether the bound itself is excluded: after a full
    sort key ("> after_sk"), or from a time floor (">=": it sorts before every key of its ms),
    whichever is later."""
    lower = after_sk
    if since is not None:
        floor = sk_floor(since)
        lower = max(lower, floor) if lower else floor
    return lower, lower is not None and lower == after_sk


@dataclass
class WriteResult:
    """Outcome of a write: events newly logged and event ids already present."""

    written: list[LoggedEvent] = field(default_factory=list)
    duplicates: list[LoggedEvent] = field(default_factory=list)

    @classmethod
    def first_of_each(cls, events: Sequence[LoggedEvent]) -> tuple[WriteResult, list[LoggedEvent]]:
        """A result holding the batch's own repeats of an event_id as duplicates, and the
        first event of each id (in order) still to write."""
        result = cls()
        unique: dict[str, LoggedEvent] = {}
        for ev in events:
            if ev.event_id in unique:
                result.duplicates.append(ev)
            else:
                unique[ev.event_id] = ev
        return result, list(unique.values())


class Unparsable(str):
    """A raw input that could not even be parsed; its text says why."""

    __slots__ = ()


@dataclass(frozen=True)
class Reject:
    """Why one input event was refused; ``index`` is its position in the request."""

    index: int
    field: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


@dataclass(frozen=True)
class LoggedEvent:
    """An event as the log keeps it: identity, owner, time and what the profiles need."""

    event_id: str
    owner: str
    type: str
    at: float
    user_id: str | None = None
    session_id: str | None = None
    product_id: str | None = None
    query: str | None = None
    order_id: str | None = None
    quantity: int | None = None
    price: float | None = None
    context: Mapping[str, Any] | None = field(default=None, compare=False)
    #: The sender gave the time: the log key (owner, time, id) is then the same on every retry.
    client_time: bool = field(default=True, compare=False)

    @property
    def sk(self) -> str:
        return sort_key(self.at, self.event_id)

    def to_json(self) -> dict[str, Any]:
        out = {
            "event_id": self.event_id,
            "owner": self.owner,
            "type": self.type,
            "at": self.at,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "product_id": self.product_id,
            "query": self.query,
            "order_id": self.order_id,
            "quantity": self.quantity,
            "price": self.price,
            "context": dict(self.context) if self.context else None,
        }
        return {k: v for k, v in out.items() if v is not None}


def _derived_event_id(ev: EventIn, at: float) -> str:
    # With a client timestamp the content identifies the event, so a retried request without
    # ids is still logged once; without one every request is new.
    if ev.timestamp is None:
        return uuid.uuid4().hex
    basis = json.dumps(
        [ev.user_id, ev.session_id, ev.type, ev.product_id, ev.query, ev.order_id, at],
        separators=(",", ":"),
    )
    return "h" + hashlib.sha256(basis.encode()).hexdigest()[:31]


def to_logged(ev: EventIn, *, now: float) -> LoggedEvent:
    """Fill defaults (id, time) and give the event its log identity."""
    at = ev.timestamp if ev.timestamp is not None else now
    return LoggedEvent(
        event_id=ev.event_id or _derived_event_id(ev, at),
        owner=ev.owner,
        type=ev.type,
        at=at,
        user_id=ev.user_id,
        session_id=ev.session_id,
        product_id=ev.product_id,
        query=ev.query,
        order_id=ev.order_id,
        quantity=ev.quantity,
        price=ev.price,
        context=ev.context,
        client_time=ev.timestamp is not None,
    )


def _reject_from(index: int, exc: PydanticValidationError) -> Reject:
    err = exc.errors(include_url=False)[0]
    ctx_error = (err.get("ctx") or {}).get("error")
    if isinstance(ctx_error, _FieldError):
        return Reject(index, ctx_error.field_name, ctx_error.reason)
    loc = ".".join(str(p) for p in err["loc"]) or None
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "string_pattern_mismatch":
        msg = ID_RULE
    elif err["type"] == "literal_error" and loc == "type":
        msg = f"type must be one of {', '.join(EVENT_TYPES)}"
    return Reject(index, loc, msg)


def validate_events(
    raw: Sequence[Any] | Iterable[Any], *, now: float | None = None, start_index: int = 0
) -> tuple[list[LoggedEvent], list[Reject]]:
    """Validate each raw event; returns the accepted ones (ids and times filled) and rejects."""
    now = time.time() if now is None else now
    accepted: list[LoggedEvent] = []
    rejects: list[Reject] = []
    for i, item in enumerate(raw, start=start_index):
        if isinstance(item, Unparsable):
            rejects.append(Reject(i, None, str(item)))
            continue
        if not isinstance(item, Mapping):
            rejects.append(Reject(i, None, "an event must be a JSON object"))
            continue
        try:
            accepted.append(to_logged(EventIn.model_validate(item), now=now))
        except PydanticValidationError as exc:
            rejects.append(_reject_from(i, exc))
    return accepted, rejects


class ProfileUpdate(BaseModel):
    """A profile-queue message: bring the profile of ``key`` (an owner key) up to date.

    ``oldest_sk`` is the earliest sort key the triggering write added: when it is not after
    what the profile already covers (a late or replayed event), the update rebuilds instead of
    adding. ``merge_from`` lists session owners ("s#...") whose history joins this user.
    """

    model_config = ConfigDict(extra="ignore")

    key: str = Field(min_length=3, max_length=140, pattern=r"^[us]#.+")
    oldest_sk: str | None = None
    merge_from: list[str] = Field(default_factory=list, max_length=50)
    rebuild: bool = False
