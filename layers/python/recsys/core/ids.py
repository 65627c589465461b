"""The alphabet of ids (products, users, sessions, events, orders).

An id travels in URL paths (``/products/{id}/similar``, ``DELETE /users/{id}``), in query
strings (``/search?user_id=``), in log keys (``u#<id>``) and in cache keys, so it is limited to
characters that mean the same thing in all of them, unescaped:

- letters ``A-Z a-z``, digits ``0-9`` and ``- _ . ~ : @``;
- the first character a letter or a digit (so ``.`` and ``..`` can never be ids — clients and
  proxies collapse those path segments);
- 1 to 128 characters.

``/`` (a path separator even percent-encoded: servers decode ``%2F`` before routing), ``?``,
``#``, ``%``, ``+`` (a space in query strings), spaces and control characters are refused with
this text as the reason, at the door, so an id that was accepted is always readable and
deletable through every route.
"""

from __future__ import annotations

import re

ID_MAX_LENGTH = 128
#: The pattern as JSON Schema / OpenAPI writes it.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@~-]{0,127}$"
_ID = re.compile(ID_PATTERN)
ID_RULE = "ids are 1-128 characters of A-Z a-z 0-9 - _ . ~ : @, starting with a letter or digit"


def is_safe_id(value: str) -> bool:
    """Whether ``value`` is in the id alphabet."""
    return bool(_ID.fullmatch(value))


def check_id(value: str) -> str:
    """``value`` when it is a safe id, else ``ValueError`` with :data:`ID_RULE`."""
    if not is_safe_id(value):
        raise ValueError(ID_RULE)
    return value
