"""Values a store can hold: the limits of DynamoDB items and Qdrant payloads, checked up front.

A value a store refuses must be refused at the door, one record at a time, with the field and
the reason — not discovered by the store halfway through a batch (a 500 that loses the good
records of the same request) or, worse, accepted by an emulator and then break every later
read of that record. JSON gives us objects, arrays, strings, numbers, booleans and null; what
each store cannot take of those:

DynamoDB (event log items):
- numbers: 38 significant digits, magnitude 1e-130 … 9.99…e125 (or zero); no NaN/Infinity;
- map keys: non-empty;
- nesting: at most 32 levels (the item is not counted);
- an item: at most 400 KB (names + values, UTF-8).
Qdrant (product payloads), through qdrant-edge (Rust) or the JSON API:
- integers: 64-bit signed; floats: finite;
- keys: non-empty (an empty key cannot be addressed by a filter or an index);
- the same nesting bound, so a payload can always be serialised without recursion limits.
Both: strings must be valid Unicode (no lone surrogates: they cannot be encoded as UTF-8).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any


@dataclass(frozen=True)
class Rules:
    """What one store accepts."""

    name: str
    max_depth: int = 32
    max_digits: int | None = None
    min_magnitude: float | None = None
    max_magnitude: float | None = None
    int_range: tuple[int, int] | None = None


DYNAMODB = Rules(
    name="DynamoDB",
    max_digits=38,
    min_magnitude=1e-130,
    # The largest DynamoDB number is 9.9999999999999999999999999999999999999E+125.
    max_magnitude=1e126,
)
QDRANT_PAYLOAD = Rules(name="Qdrant", int_range=(-(2**63), 2**63 - 1))

#: DynamoDB's item size limit.
DYNAMODB_MAX_ITEM_BYTES = 400 * 1024


class Problem(ValueError):
    """A value a store cannot hold; ``path`` says where inside it (``a.b[2]``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _significant_digits(number: int | float) -> int:
    # Not Decimal.normalize(): it rounds to the context's 28 digits first.
    try:
        digits = Decimal(repr(number) if isinstance(number, float) else number).as_tuple().digits
    except InvalidOperation:  # pragma: no cover - finite numbers always convert
        return 0
    text = "".join(map(str, digits)).strip("0")
    return len(text)


def _check_number(number: int | float, rules: Rules, path: str) -> None:
    if isinstance(number, float) and not math.isfinite(number):
        raise Problem(path, f"{number} is not a number {rules.name} can store")
    if rules.int_range is not None and isinstance(number, int):
        lo, hi = rules.int_range
        if not lo <= number <= hi:
            raise Problem(path, f"integer outside {rules.name}'s 64-bit range")
    if number == 0:
        return
    magnitude = abs(number)
    if rules.min_magnitude is not None and magnitude < rules.min_magnitude:
        raise Problem(
            path, f"{number!r} is too small for {rules.name} (nonzero magnitude ≥ 1e-130)"
        )
    if rules.max_magnitude is not None and magnitude >= rules.max_magnitude:
        raise Problem(path, f"{number!r} is too large for {rules.name} (magnitude < 1e126)")
    if rules.max_digits is not None and _significant_digits(number) > rules.max_digits:
        raise Problem(
            path, f"more than {rules.max_digits} significant digits ({rules.name}'s precision)"
        )


def _check_string(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Problem(path, "text is not valid Unicode (lone surrogate)") from None


def check_value(value: Any, rules: Rules, *, path: str = "", depth: int = 0) -> None:
    """Raise :class:`Problem` for the first part of ``value`` that ``rules`` refuse.

    ``depth`` is the nesting level of ``value`` itself (0 for a top-level attribute).
    """
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int | float):
        _check_number(value, rules, path)
        return
    if isinstance(value, str):
        _check_string(value, path)
        return
    if isinstance(value, Mapping | list | tuple):
        if depth >= rules.max_depth:
            raise Problem(path, f"nested deeper than {rules.max_depth} levels")
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str) or key == "":
                    raise Problem(path, "an object key is empty")
                _check_string(key, _join(path, "<key>"))
                check_value(item, rules, path=_join(path, key), depth=depth + 1)
        else:
            for i, item in enumerate(value):
                check_value(item, rules, path=f"{path}[{i}]", depth=depth + 1)
        return
    raise Problem(path, f"a {type(value).__name__} cannot be stored")


def problem_of(value: Any, rules: Rules, *, path: str = "") -> Problem | None:
    """The first problem :func:`check_value` finds, or None."""
    try:
        check_value(value, rules, path=path)
    except Problem as exc:
        return exc
    return None
