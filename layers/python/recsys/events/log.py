"""The durable event log in DynamoDB: the source of truth profiles are rebuilt from.

Items (table key pk/sk as template.yaml declares):
- event:       pk "u#<user_id>" | "s#<session_id>", sk "<epoch ms, 13 digits>#<event_id>"
- idempotency: pk "e#<event_id>", sk "e", with the owner and sk of the event it guards

Idempotency: an event is new only if the conditional put of its idempotency item
(``attribute_not_exists(pk)``) succeeds; a repeated event_id fails the condition and is counted
as a duplicate — never logged twice, even when the retry carries a different timestamp or
arrives while the first write is in flight. The claims run in parallel from a thread pool (one
small request each); the event items of the claimed events then go in BatchWriteItem calls of
25. A writer that dies between the two steps leaves a claim without its event: the retry's
failed claim returns the old claim (ReturnValuesOnConditionCheckFailure), and the event is put
at the claimed key if still missing — so nothing is lost and nothing doubled.

Why not TransactWriteItems (event + claim atomically, 50 events per call): it was the first
design, but a transaction that hits one duplicate is cancelled whole and must be retried, and
the emulator (moto 5.2.5) deep-copies the entire table for every item of a transaction, which
makes it quadratic in the table size — unusable for replays and benchmarks here.

Retention: ``expires_at`` (the table's TTL attribute) counts from when an event is logged, not
from when it happened, so a backfill of old history is not erased on arrival. DynamoDB deletes
expired items itself; ``prune_expired`` does it where TTL is not enforced (emulators).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from recsys.aws import client
from recsys.config import Settings
from recsys.errors import DependencyError
from recsys.events.models import LoggedEvent, sk_floor

_IDEMPOTENCY_SK = "e"
_OPTIONAL = ("user_id", "session_id", "product_id", "query", "order_id")


@dataclass
class WriteResult:
    """Outcome of a write: events newly logged and event ids already present."""

    written: list[LoggedEvent] = field(default_factory=list)
    duplicates: list[LoggedEvent] = field(default_factory=list)


def _to_item(ev: LoggedEvent, *, expires_at: int) -> dict[str, Any]:
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
        item["context"] = {"M": _to_attr_map(ev.context)}
    return item


def _to_attr(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float | Decimal):
        return {"N": str(value)}
    if isinstance(value, dict):
        return {"M": _to_attr_map(value)}
    if isinstance(value, list | tuple):
        return {"L": [_to_attr(v) for v in value]}
    return {"S": str(value)}


def _to_attr_map(value: Any) -> dict[str, Any]:
    return {str(k): _to_attr(v) for k, v in dict(value).items()}


def _from_attr(attr: dict[str, Any]) -> Any:
    ((kind, value),) = attr.items()
    if kind == "S" or kind == "BOOL":
        return value
    if kind == "N":
        num = float(value)
        return int(num) if num.is_integer() and "." not in value and "e" not in value else num
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: _from_attr(v) for k, v in value.items()}
    if kind == "L":
        return [_from_attr(v) for v in value]
    return value


def _from_item(item: dict[str, Any]) -> LoggedEvent:
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
        context=_from_attr(item["context"]) if "context" in item else None,
    )


class EventLog:
    """Write, read and erase events in the DynamoDB table ``settings.events_table``."""

    def __init__(self, settings: Settings, *, threads: int | None = None) -> None:
        self.settings = settings
        self.table = settings.events_table
        self.ddb = client("dynamodb", settings)
        self.retention_s = settings.events_retention_days * 86400
        self._pool = ThreadPoolExecutor(
            max_workers=threads or settings.events_write_threads, thread_name_prefix="eventlog"
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    # --- writing ------------------------------------------------------------------------------

    def write(self, events: Sequence[LoggedEvent]) -> WriteResult:
        """Log ``events`` durably and exactly once per event_id; returns what was new."""
        result = WriteResult()
        unique: dict[str, LoggedEvent] = {}
        for ev in events:
            if ev.event_id in unique:
                result.duplicates.append(ev)
            else:
                unique[ev.event_id] = ev
        expires_at = int(time.time()) + self.retention_s
        fresh: list[LoggedEvent] = []
        claimed = self._pool.map(lambda ev: self._claim(ev, expires_at), unique.values())
        for ev, (is_new, repaired) in zip(unique.values(), claimed, strict=True):
            if is_new:
                fresh.append(ev)
            elif repaired is not None:
                result.written.append(repaired)
            else:
                result.duplicates.append(ev)
        items = [{"PutRequest": {"Item": _to_item(ev, expires_at=expires_at)}} for ev in fresh]
        list(
            self._pool.map(self._batch_write, [items[i : i + 25] for i in range(0, len(items), 25)])
        )
        result.written.extend(fresh)
        return result

    def _claim(self, ev: LoggedEvent, expires_at: int) -> tuple[bool, LoggedEvent | None]:
        """Put the idempotency item if absent: (True, None) when the event is new.

        For a known id, the event item the first writer recorded is put if it is missing
        (that writer died between its two writes) and returned as ``repaired``.
        """
        guard = {
            "pk": {"S": f"e#{ev.event_id}"},
            "sk": {"S": _IDEMPOTENCY_SK},
            "owner": {"S": ev.owner},
            "event_sk": {"S": ev.sk},
            "expires_at": {"N": str(expires_at)},
        }
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=guard,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return True, None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise DependencyError(f"event log write failed: {exc}") from exc
            old: dict[str, Any] = exc.response.get("Item") or self.ddb.get_item(  # type: ignore[assignment]
                TableName=self.table, Key={"pk": guard["pk"], "sk": guard["sk"]}
            ).get("Item", {})
        owner = old.get("owner", {}).get("S", ev.owner)
        event_sk = old.get("event_sk", {}).get("S", ev.sk)
        at = int(event_sk.split("#", 1)[0]) / 1000.0
        original = LoggedEvent(**{**ev.__dict__, "owner": owner, "at": at})
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=_to_item(original, expires_at=expires_at),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False, None
            raise DependencyError(f"event log write failed: {exc}") from exc
        return False, original

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {self.table: requests}
        for attempt in range(8):
            try:
                resp = self.ddb.batch_write_item(RequestItems=pending)
            except ClientError as exc:
                raise DependencyError(f"event log write failed: {exc}") from exc
            pending = resp.get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(0.05 * 2**attempt)
        raise DependencyError("event log write left unprocessed items after retries")

    # --- reading ------------------------------------------------------------------------------

    def query(
        self,
        owner: str,
        *,
        after_sk: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[LoggedEvent]:
        """An owner's events in time order (or newest first), after a sort key or since a time."""
        return list(
            self._iter(
                owner, after_sk=after_sk, since=since, limit=limit, newest_first=newest_first
            )
        )

    def recent(self, owner: str, n: int) -> list[LoggedEvent]:
        """The owner's last ``n`` events, oldest first."""
        return list(reversed(self.query(owner, limit=n, newest_first=True)))

    def _iter(
        self,
        owner: str,
        *,
        after_sk: str | None,
        since: float | None,
        limit: int | None,
        newest_first: bool,
    ) -> Iterator[LoggedEvent]:
        values: dict[str, Any] = {":pk": {"S": owner}}
        cond = "pk = :pk"
        lower = after_sk
        if since is not None:
            floor = sk_floor(since)
            lower = max(lower, floor) if lower else floor
        if lower is not None:
            # "> after_sk" for a full key; a bare time floor sorts before every key of that ms.
            cond += " AND sk > :lo" if lower == after_sk else " AND sk >= :lo"
            values[":lo"] = {"S": lower}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": cond,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest_first,
        }
        got = 0
        while True:
            if limit is not None:
                kwargs["Limit"] = limit - got
            try:
                resp = self.ddb.query(**kwargs)
            except ClientError as exc:
                raise DependencyError(f"event log query failed: {exc}") from exc
            for item in resp.get("Items", []):
                yield _from_item(item)
                got += 1
            last = resp.get("LastEvaluatedKey")
            if not last or (limit is not None and got >= limit):
                return
            kwargs["ExclusiveStartKey"] = last

    def scan(self, *, segments: int = 4) -> Iterator[LoggedEvent]:
        """Every logged event (the nightly aggregates read the whole log), parallel segments."""

        def segment(i: int) -> list[LoggedEvent]:
            out: list[LoggedEvent] = []
            kwargs: dict[str, Any] = {
                "TableName": self.table,
                "Segment": i,
                "TotalSegments": segments,
                "FilterExpression": "NOT begins_with(pk, :e)",
                "ExpressionAttributeValues": {":e": {"S": "e#"}},
            }
            while True:
                resp = self.ddb.scan(**kwargs)
                out.extend(_from_item(it) for it in resp.get("Items", []))
                if "LastEvaluatedKey" not in resp:
                    return out
                kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

        for chunk in self._pool.map(segment, range(segments)):
            yield from chunk

    # --- erasing ------------------------------------------------------------------------------

    def _delete_keys(self, keys: list[dict[str, Any]]) -> None:
        requests = [{"DeleteRequest": {"Key": k}} for k in keys]
        list(
            self._pool.map(
                self._batch_write, [requests[i : i + 25] for i in range(0, len(requests), 25)]
            )
        )

    def delete_owner(self, owner: str) -> int:
        """Erase every event of ``owner`` and their idempotency items; returns how many events."""
        events = self.query(owner)
        keys: list[dict[str, Any]] = []
        for ev in events:
            keys.append({"pk": {"S": owner}, "sk": {"S": ev.sk}})
            keys.append({"pk": {"S": f"e#{ev.event_id}"}, "sk": {"S": _IDEMPOTENCY_SK}})
        self._delete_keys(keys)
        return len(events)

    def move_owner(self, source: str, target: str) -> int:
        """Re-key ``source``'s events under ``target`` (a session merging into its user).

        Events keep their ids and sort keys, so a repeated merge rewrites the same items; the
        copies are written before the originals are deleted, so a crash loses nothing.
        """
        events = self.query(source)
        if not events:
            return 0
        expires_at = int(time.time()) + self.retention_s
        puts: list[dict[str, Any]] = []
        for ev in events:
            moved = LoggedEvent(**{**ev.__dict__, "owner": target})
            puts.append({"PutRequest": {"Item": _to_item(moved, expires_at=expires_at)}})
            guard = {
                "pk": {"S": f"e#{ev.event_id}"},
                "sk": {"S": _IDEMPOTENCY_SK},
                "owner": {"S": target},
                "event_sk": {"S": ev.sk},
                "expires_at": {"N": str(expires_at)},
            }
            puts.append({"PutRequest": {"Item": guard}})
        list(self._pool.map(self._batch_write, [puts[i : i + 25] for i in range(0, len(puts), 25)]))
        self._delete_keys([{"pk": {"S": source}, "sk": {"S": ev.sk}} for ev in events])
        return len(events)

    def prune_expired(self, *, now: float | None = None) -> int:
        """Delete items whose ``expires_at`` has passed (DynamoDB's TTL does this in AWS)."""
        cutoff = int(time.time() if now is None else now)
        keys: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "expires_at < :now",
            "ExpressionAttributeValues": {":now": {"N": str(cutoff)}},
            "ProjectionExpression": "pk, sk",
        }
        while True:
            resp = self.ddb.scan(**kwargs)
            keys.extend({"pk": it["pk"], "sk": it["sk"]} for it in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        self._delete_keys(keys)
        return sum(1 for k in keys if not k["pk"]["S"].startswith("e#"))
