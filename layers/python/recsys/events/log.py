"""The durable event log in DynamoDB: the source of truth profiles are rebuilt from.

Items (table key pk/sk as template.yaml declares): events and idempotency claims, shaped by
:mod:`recsys.events.items`.

Idempotency (exactly once in the log per event_id) and exact counts:
- Every call first reads the claims of its events (BatchGetItem, 100 keys a request); a claim
  names where its event lives (owner, sk), and those event items are read back the same way.
  An event whose claim and item both exist is a duplicate — also when the retry carries
  another timestamp. So a replay of logged history costs two batched reads per 100 events.
- Every other event is claimed with a conditional PutItem (``attribute_not_exists(pk)``); a
  lost race returns the winner's claim (ReturnValuesOnConditionCheckFailure).
- The event item itself is then put, conditionally, at the key its claim names — by the
  claim's winner, and by anyone who found a claim without its item (a writer that died between
  its two writes, or one still writing). Exactly one such put succeeds, and only its request
  counts the event as accepted; every other request counts it as a duplicate. So concurrent
  writers of the same events (several Lambda containers, client retries) get replies whose
  ``accepted`` add up to exactly what the log holds, and a half-written event is completed by
  the first retry that sees it.
A new event costs two conditional writes besides its share of those reads (the pool runs them in
parallel), the price of exact counts: BatchWriteItem cannot be conditional.

Why not TransactWriteItems (event + claim atomically, 50 events per call): a transaction that
hits one duplicate is cancelled whole and must be retried, and the emulator (moto 5.2.5)
deep-copies the entire table for every item of a transaction, which makes it quadratic in the
table size — unusable for replays and benchmarks here.

Retention: ``expires_at`` (the table's TTL attribute) counts from when an event is logged, not
from when it happened, so a backfill of old history is not erased on arrival. DynamoDB deletes
expired items itself; ``prune_expired`` does it where TTL is not enforced (emulators).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from recsys.core.aws import client
from recsys.core.config import Settings
from recsys.core.errors import DependencyError
from recsys.events.items import at_claim, claim_item, claim_key, from_item, to_item
from recsys.events.models import LoggedEvent, WriteResult, sk_lower_bound


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

    backend = "dynamodb"

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    def ping(self) -> dict[str, Any]:
        """Cheap readiness probe: one key read (a missing item is fine; an error is not)."""
        try:
            self.ddb.get_item(TableName=self.table, Key=claim_key("probe"))
        except ClientError as exc:
            raise DependencyError(f"event log {self.table} unreachable: {exc}") from exc
        return {"backend": self.backend, "table": self.table}

    # --- writing ------------------------------------------------------------------------------

    def write(self, events: Sequence[LoggedEvent]) -> WriteResult:
        """Log ``events`` durably and exactly once per event_id; returns what was new.

        ``written`` holds the events this call logged, ``duplicates`` the rest — exact even
        when other writers log the same events at the same time (see module doc).
        """
        result, firsts = WriteResult.first_of_each(events)
        if not firsts:
            return result
        unique = {ev.event_id: ev for ev in firsts}
        expires_at = int(time.time()) + self.retention_s
        claims = self._existing_claims(list(unique))
        fresh = [ev for ev in unique.values() if ev.event_id not in claims]
        # Claim what nobody has claimed; a lost race hands back the winner's claim.
        mine: list[LoggedEvent] = []
        for ev, theirs in zip(
            fresh, self._pool.map(lambda ev: self._claim(ev, expires_at), fresh), strict=True
        ):
            if theirs is None:
                mine.append(ev)
            else:
                claims[ev.event_id] = theirs
        # Claimed by someone else: a duplicate unless the event item is missing.
        located = {eid: at_claim(unique[eid], owner, sk) for eid, (owner, sk) in claims.items()}
        present = self._existing_events(list(located.values()))
        to_put = list(mine)
        for ev in located.values():
            if (ev.owner, ev.sk) in present:
                result.duplicates.append(unique[ev.event_id])
            else:
                to_put.append(ev)
        for ev, won in zip(
            to_put,
            self._pool.map(lambda ev: self._put_event(ev, expires_at), to_put),
            strict=True,
        ):
            (result.written if won else result.duplicates).append(ev)
        return result

    def _put_all(self, items: list[dict[str, Any]]) -> None:
        requests = [{"PutRequest": {"Item": it}} for it in items]
        chunks = [requests[i : i + 25] for i in range(0, len(requests), 25)]
        list(self._pool.map(self._batch_write, chunks))

    def _batch_get(self, keys: list[dict[str, Any]], projection: str) -> list[dict[str, Any]]:
        """Items at ``keys`` (≤ 100), retrying unprocessed keys."""
        request: dict[str, Any] = {
            self.table: {
                "Keys": keys,
                "ProjectionExpression": projection,
                "ExpressionAttributeNames": {"#o": "owner"} if "#o" in projection else None,
            }
        }
        if request[self.table]["ExpressionAttributeNames"] is None:
            del request[self.table]["ExpressionAttributeNames"]
        found: list[dict[str, Any]] = []
        for attempt in range(8):
            try:
                resp = self.ddb.batch_get_item(RequestItems=request)
            except ClientError as exc:
                raise DependencyError(f"event log read failed: {exc}") from exc
            found.extend(resp["Responses"].get(self.table, []))
            request = resp.get("UnprocessedKeys") or {}
            if not request:
                return found
            time.sleep(0.05 * 2**attempt)
        raise DependencyError("event log read left unprocessed keys after retries")

    def _existing_claims(self, event_ids: list[str]) -> dict[str, tuple[str, str]]:
        """event_id → (owner, sk) the claim names, for the ids already claimed."""

        def get(chunk: list[str]) -> dict[str, tuple[str, str]]:
            keys = [claim_key(e) for e in chunk]
            items = self._batch_get(keys, "pk, #o, event_sk")
            return {
                it["pk"]["S"][2:]: (it["owner"]["S"], it["event_sk"]["S"])
                for it in items
                if "owner" in it and "event_sk" in it
            }

        chunks = [event_ids[i : i + 100] for i in range(0, len(event_ids), 100)]
        out: dict[str, tuple[str, str]] = {}
        for part in self._pool.map(get, chunks):
            out.update(part)
        return out

    def _existing_events(self, located: list[LoggedEvent]) -> set[tuple[str, str]]:
        """The (owner, sk) keys among ``located`` whose event item exists."""

        def get(chunk: list[LoggedEvent]) -> set[tuple[str, str]]:
            keys = [{"pk": {"S": ev.owner}, "sk": {"S": ev.sk}} for ev in chunk]
            return {(it["pk"]["S"], it["sk"]["S"]) for it in self._batch_get(keys, "pk, sk")}

        chunks = [located[i : i + 100] for i in range(0, len(located), 100)]
        return set().union(*self._pool.map(get, chunks)) if chunks else set()

    def _claim(self, ev: LoggedEvent, expires_at: int) -> tuple[str, str] | None:
        """Put the idempotency item if absent: None when this call claimed the id, else the
        (owner, sk) that the existing claim names."""
        guard = claim_item(ev, expires_at)
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=guard,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise DependencyError(f"event log write failed: {exc}") from exc
            old: dict[str, Any] = exc.response.get("Item") or self.ddb.get_item(  # type: ignore[assignment]
                TableName=self.table, Key={"pk": guard["pk"], "sk": guard["sk"]}
            ).get("Item", {})
        return (
            old.get("owner", {}).get("S", ev.owner),
            old.get("event_sk", {}).get("S", ev.sk),
        )

    def _put_event(self, ev: LoggedEvent, expires_at: int) -> bool:
        """Put the event item if absent; True when this call wrote it."""
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=to_item(ev, expires_at=expires_at),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise DependencyError(f"event log write failed: {exc}") from exc
        return True

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
        lower, exclusive = sk_lower_bound(after_sk, since)
        if lower is not None:
            cond += " AND sk > :lo" if exclusive else " AND sk >= :lo"
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
                yield from_item(item)
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
                out.extend(from_item(it) for it in resp.get("Items", []))
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
            keys.append(claim_key(ev.event_id))
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
        moved = [LoggedEvent(**{**ev.__dict__, "owner": target}) for ev in events]
        self._put_all([to_item(ev, expires_at=expires_at) for ev in moved])
        self._put_all([claim_item(ev, expires_at) for ev in moved])
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
