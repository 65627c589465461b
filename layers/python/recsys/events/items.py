"""DynamoDB item shapes of the event log: event items, idempotency claims, attribute values.

The table (template.yaml) holds two kinds of item:
- event:       pk "u#<user_id>" | "s#<session_id>", sk "<epoch ms, 13 digits>#<event_id>"
- idempotency: pk "e#<event_id>", sk "e", with the owner and sk of the event it guards

:class:`recsys.events.log.EventLog` writes and reads them; the archive reads event items from
the table's stream with :func:`from_item`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from recsys.events.models import LoggedEvent

__all__ = [
    "CLAIM_SK",
    "at_claim",
    "claim_item",
    "claim_key",
    "from_attr",
    "from_item",
    "to_attr",
    "to_attr_map",
    "to_item",
]

#: Sort key of every idempotency claim (its pk is "e#<event_id>").
CLAIM_SK = "e"
_OPTIONAL = ("user_id", "session_id", "product_id", "query", "order_id")


def to_item(ev: LoggedEvent, *, expires_at: int) -> dict[str, Any]:
    """The event item of ``ev`` (retention counted from ``expires_at``)."""
    item: dict[str, Any] = {
        "pk": {"S": ev.owner},
        "sk": {"S": ev.sk},
        "event_id": {"S": ev.event_id},
        "type": {"S": ev.type},
        "at": {"N": repr(ev.at)},
        "expires_at": {"N": str(expires_at)},
    }
    for name in _OPTIONAL:
        value = getattr(ev, name)
        if value is not None:
            item[name] = {"S": value}
    if ev.quantity is not None:
        item["quantity"] = {"N": str(ev.quantity)}
    if ev.price is not None:
        item["price"] = {"N": repr(ev.price)}
    if ev.context:
        item["context"] = {"M": to_attr_map(ev.context)}
    return item


def claim_key(event_id: str) -> dict[str, Any]:
    """The table key of ``event_id``'s idempotency claim."""
    return {"pk": {"S": f"e#{event_id}"}, "sk": {"S": CLAIM_SK}}


def claim_item(ev: LoggedEvent, expires_at: int) -> dict[str, Any]:
    """The idempotency claim of ``ev``: where its event item lives (owner, sk)."""
    return {
        **claim_key(ev.event_id),
        "owner": {"S": ev.owner},
        "event_sk": {"S": ev.sk},
        "expires_at": {"N": str(expires_at)},
    }


def at_claim(ev: LoggedEvent, owner: str, event_sk: str) -> LoggedEvent:
    """``ev`` placed where its claim says it lives (the first writer's owner and time)."""
    if owner == ev.owner and event_sk == ev.sk:
        return ev
    at = int(event_sk.split("#", 1)[0]) / 1000.0
    return LoggedEvent(**{**ev.__dict__, "owner": owner, "at": at})


def to_attr(value: Any) -> dict[str, Any]:
    """A JSON-like value as a DynamoDB attribute value."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float | Decimal):
        return {"N": str(value)}
    if isinstance(value, dict):
        return {"M": to_attr_map(value)}
    if isinstance(value, list | tuple):
        return {"L": [to_attr(v) for v in value]}
    return {"S": str(value)}


def to_attr_map(value: Any) -> dict[str, Any]:
    """A mapping as a DynamoDB map's attribute values."""
    return {str(k): to_attr(v) for k, v in dict(value).items()}


def from_attr(attr: dict[str, Any]) -> Any:
    """A DynamoDB attribute value as the JSON-like value it holds."""
    ((kind, value),) = attr.items()
    if kind == "S" or kind == "BOOL":
        return value
    if kind == "N":
        num = float(value)
        return int(num) if num.is_integer() and "." not in value and "e" not in value else num
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attr(v) for k, v in value.items()}
    if kind == "L":
        return [from_attr(v) for v in value]
    return value


def from_item(item: dict[str, Any]) -> LoggedEvent:
    """The event an event item holds (also a stream record's NewImage)."""

    def get(name: str) -> str | None:
        return str(item[name]["S"]) if name in item else None

    return LoggedEvent(
        event_id=item["event_id"]["S"],
        owner=item["pk"]["S"],
        type=item["type"]["S"],
        at=float(item["at"]["N"]),
        user_id=get("user_id"),
        session_id=get("session_id"),
        product_id=get("product_id"),
        query=get("query"),
        order_id=get("order_id"),
        quantity=int(item["quantity"]["N"]) if "quantity" in item else None,
        price=float(item["price"]["N"]) if "price" in item else None,
        context=from_attr(item["context"]) if "context" in item else None,
    )
