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

import hashlib
import itertools
import os
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


_REPLY_KEY = os.urandom(32)
_REPLY_COUNTER = itertools.count()


def new_request_id() -> str:
    """A reply's id: 32 hex digits, unique and unguessable, without a system call per reply.

    A keyed BLAKE2b of a per-process counter (the key drawn from the OS once per process), so
    ids are no more predictable than ``uuid4`` ones — a shopper who sees their own cannot work
    out another's list to credit clicks to — while ``uuid4`` reads the OS's random source on
    every reply, which on a busy server gives up the interpreter lock each time.
    """
    n = next(_REPLY_COUNTER)  # itertools.count is atomic under the interpreter lock
    return hashlib.blake2b(n.to_bytes(8, "little"), key=_REPLY_KEY, digest_size=16).hexdigest()
