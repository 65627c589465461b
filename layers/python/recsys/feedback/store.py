"""Attribution state in DynamoDB (the template's ``StatsTable``): served lists, remembered
clicks and the per-day counters ``GET /stats`` reads.

Items (pk / sk):

- ``l#<request_id>`` / ``l`` — a served list: strategy, variant, time, cold start. Written when
  the list is served; read when its impressions, clicks and sales come in. TTL
  ``stats_list_retention_days``.
- ``c#<owner pseudonym>`` / ``<product_id>`` — the last click on that product from a list, so
  a purchase without a request id within ``attribution_window_s`` still counts for the list.
- ``d#<day>`` / ``b#<strategy>#<variant>#<shard>`` — counters (``ADD``: lists, cold_lists,
  impressions, clicks, add_to_carts, conversions, revenue) and the set of user pseudonyms
  served; ``d#<day>`` / ``p#<strategy>#<variant>#<shard>`` — the set of products shown
  (coverage). Sets are split over ``stats_shards`` items by hash so none nears 400 KB.

Counting is exact because only events the log wrote for the first time are counted (a
redelivered event is a duplicate there and never reaches this store) and because set members
are idempotent. ``GET /stats`` reads one partition per day of its window: its cost follows the
number of days and groups, not the number of events.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Any, Protocol

from botocore.exceptions import ClientError

from recsys.core.aws import client
from recsys.core.config import Settings
from recsys.core.errors import ConfigError, DependencyError
from recsys.feedback.model import (
    Click,
    Counts,
    ListInfo,
    ServedList,
    day_of,
    latest_clicks,
    pseudonym,
    shard_of,
)

__all__ = ["BucketKey", "StatsBackend", "StatsStore", "open_stats_store"]

#: (day, strategy, variant)
BucketKey = tuple[str, str, str]


def _n(value: int | Decimal) -> dict[str, str]:
    return {"N": str(value)}


class _Joined(Future[None]):
    """Done when both writes of a served list are; their first error is its error."""

    def __init__(self, *parts: Future[Any]) -> None:
        super().__init__()
        self._left = len(parts)
        self._guard = threading.Lock()
        for part in parts:
            part.add_done_callback(self._one_done)

    def _one_done(self, part: Future[Any]) -> None:
        exc = part.exception()
        with self._guard:
            self._left -= 1
            if self.done():
                return
            if exc is not None:
                self.set_exception(exc)
            elif self._left == 0:
                self.set_result(None)


class StatsBackend(Protocol):
    """What every stats backend provides: this DynamoDB table, or the embedded SQLite file
    (:mod:`recsys.feedback.sqlite`); the same tests run against both."""

    backend: str

    def record_list(self, served: ServedList) -> Future[None]: ...

    def lookup_lists(self, request_ids: Iterable[str]) -> Mapping[str, ListInfo]: ...

    def put_clicks(self, clicks: Sequence[Click]) -> None: ...

    def lookup_clicks(self, keys: Iterable[tuple[str, str]]) -> Mapping[tuple[str, str], Click]: ...

    def add(self, deltas: Mapping[BucketKey, Counts]) -> None: ...

    def read_days(self, days: Sequence[str]) -> dict[BucketKey, Counts]: ...

    def close(self) -> None: ...


def open_stats_store(settings: Settings) -> StatsBackend | None:
    """The stats store ``stats_backend`` names; None (no stats) without ``stats_table``.

    As with the event log, ``stats_table`` is set wherever the template's table exists (on
    AWS, and by the local stack): ``dynamodb`` uses it, ``sqlite`` (the embedded default)
    keeps the same items in ``<data_dir>/stats/stats.sqlite3`` instead.
    """
    if not settings.stats_table:
        return None
    if getattr(settings, "stats_backend", "dynamodb") == "sqlite":
        from recsys.feedback.sqlite import SqliteStatsStore

        return SqliteStatsStore(settings)
    return StatsStore(settings)


class StatsStore:
    """Reads and writes the attribution items of ``settings.stats_table``."""

    backend = "dynamodb"

    def __init__(self, settings: Settings, *, threads: int = 8) -> None:
        if not settings.stats_table:
            raise ConfigError("stats_table is not configured")
        self.table: str = settings.stats_table
        self.shards = settings.stats_shards
        self.list_ttl_s = int(settings.stats_list_retention_days * 86400)
        self.click_ttl_s = int(settings.attribution_window_s) + 86400
        self.day_ttl_s = int(settings.stats_retention_days * 86400)
        self.ddb = client("dynamodb", settings)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="stats")

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    # --- served lists -------------------------------------------------------------------------

    def record_list(self, served: ServedList) -> Future[None]:
        """Log the list under its request id and count it; returns once both writes are sent
        to the pool (``.result()`` waits for them and raises what they raised)."""
        now = int(time.time())
        item = {
            "pk": {"S": f"l#{served.request_id}"},
            "sk": {"S": "l"},
            "strategy": {"S": served.strategy},
            "variant": {"S": served.variant},
            "at": {"N": repr(served.at)},
            "cold": {"BOOL": served.cold},
            "expires_at": _n(now + self.list_ttl_s),
        }
        counts = Counts(lists=1, cold_lists=int(served.cold))
        if served.subject:
            counts.users.add(pseudonym(served.subject))
        key = (day_of(served.at), served.strategy, served.variant)
        shard = shard_of(served.subject or served.request_id, self.shards)
        put = self._pool.submit(self._call, "put_item", TableName=self.table, Item=item)
        update = self._pool.submit(self._update_bucket, key, shard, counts)
        return _Joined(put, update)

    def lookup_lists(self, request_ids: Iterable[str]) -> dict[str, ListInfo]:
        """The served lists these request ids name (unknown or expired ones are absent)."""
        keys = [{"pk": {"S": f"l#{rid}"}, "sk": {"S": "l"}} for rid in sorted(set(request_ids))]
        out: dict[str, ListInfo] = {}
        for item in self._batch_get(keys):
            out[item["pk"]["S"][2:]] = ListInfo(
                strategy=item["strategy"]["S"],
                variant=item["variant"]["S"],
                at=float(item["at"]["N"]),
                cold=bool(item.get("cold", {}).get("BOOL", False)),
            )
        return out

    # --- clicks ---------------------------------------------------------------------------------

    def put_clicks(self, clicks: Sequence[Click]) -> None:
        """Remember each (owner, product)'s latest click (later clicks replace earlier ones)."""
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": f"c#{c.owner}"},
                        "sk": {"S": c.product_id},
                        "request_id": {"S": c.request_id},
                        "strategy": {"S": c.strategy},
                        "variant": {"S": c.variant},
                        "at": {"N": repr(c.at)},
                        "expires_at": _n(int(c.at) + self.click_ttl_s),
                    }
                }
            }
            for c in latest_clicks(clicks)
        ]
        chunks = [requests[i : i + 25] for i in range(0, len(requests), 25)]
        list(self._pool.map(self._batch_write, chunks))

    def lookup_clicks(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Click]:
        """Remembered clicks by (owner pseudonym, product_id)."""
        wanted = [{"pk": {"S": f"c#{o}"}, "sk": {"S": p}} for o, p in sorted(set(keys))]
        out: dict[tuple[str, str], Click] = {}
        for item in self._batch_get(wanted):
            owner, product = item["pk"]["S"][2:], item["sk"]["S"]
            out[(owner, product)] = Click(
                owner=owner,
                product_id=product,
                request_id=item["request_id"]["S"],
                strategy=item["strategy"]["S"],
                variant=item["variant"]["S"],
                at=float(item["at"]["N"]),
            )
        return out

    # --- counters -------------------------------------------------------------------------------

    def add(self, deltas: Mapping[BucketKey, Counts]) -> None:
        """Add each bucket's counts (counters to the bucket, shown products by shard)."""
        calls: list[tuple[BucketKey, int, Counts, bool]] = []
        for key, counts in deltas.items():
            if counts.is_empty():
                continue
            base = Counts(**{n: getattr(counts, n) for n in (*Counts.COUNTERS, "revenue")})
            base.users = counts.users
            # Any shard will do for counters (they are summed when read): spreading the
            # writes keeps one busy list group from becoming a hot item.
            calls.append((key, random.randrange(self.shards), base, False))
            by_shard: dict[int, set[str]] = {}
            for pid in counts.shown:
                by_shard.setdefault(shard_of(pid, self.shards), set()).add(pid)
            for shard, pids in by_shard.items():
                calls.append((key, shard, Counts(shown=pids), True))
        futures = [
            self._pool.submit(self._update_bucket, key, shard, c, shown)
            for key, shard, c, shown in calls
        ]
        for f in futures:
            f.result()

    def _update_bucket(
        self, key: BucketKey, shard: int, counts: Counts, shown: bool = False
    ) -> None:
        day, strategy, variant = key
        adds: list[str] = []
        values: dict[str, Any] = {}
        for name in Counts.COUNTERS:
            v = getattr(counts, name)
            if v:
                adds.append(name)
                values[f":{name}"] = _n(v)
        if counts.revenue:
            adds.append("revenue")
            values[":revenue"] = _n(counts.revenue)
        if counts.users:
            adds.append("users")
            values[":users"] = {"SS": sorted(counts.users)}
        if counts.shown:
            adds.append("shown")
            values[":shown"] = {"SS": sorted(counts.shown)}
        if not adds:
            return
        values[":exp"] = _n(int(time.time()) + self.day_ttl_s)
        kind = "p" if shown else "b"
        self._call(
            "update_item",
            TableName=self.table,
            Key={"pk": {"S": f"d#{day}"}, "sk": {"S": f"{kind}#{strategy}#{variant}#{shard}"}},
            # Names go through placeholders: "users" is a DynamoDB reserved word.
            UpdateExpression="ADD "
            + ", ".join(f"#{n} :{n}" for n in adds)
            + " SET expires_at = :exp",
            ExpressionAttributeNames={f"#{n}": n for n in adds},
            ExpressionAttributeValues=values,
        )

    def read_days(self, days: Sequence[str]) -> dict[BucketKey, Counts]:
        """Every bucket of these days, shards summed (one Query per day, in parallel)."""
        out: dict[BucketKey, Counts] = {}
        for day, items in zip(days, self._pool.map(self._query_day, days), strict=True):
            for item in items:
                _kind, strategy, variant, _shard = item["sk"]["S"].split("#")
                c = out.setdefault((day, strategy, variant), Counts())
                for name in Counts.COUNTERS:
                    if name in item:
                        setattr(c, name, getattr(c, name) + int(item[name]["N"]))
                if "revenue" in item:
                    c.revenue += Decimal(item["revenue"]["N"])
                c.users |= set(item.get("users", {}).get("SS", []))
                c.shown |= set(item.get("shown", {}).get("SS", []))
        return out

    # --- DynamoDB plumbing ------------------------------------------------------------------------

    def _query_day(self, day: str) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"d#{day}"}},
        }
        items: list[dict[str, Any]] = []
        while True:
            resp = self._call("query", **kwargs)
            items.extend(resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return items
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def _call(self, op: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.ddb, op)(**kwargs)
        except ClientError as exc:
            raise DependencyError(f"stats table {op} failed: {exc}") from exc

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        def get(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
            request: dict[str, Any] = {self.table: {"Keys": chunk}}
            found: list[dict[str, Any]] = []
            for attempt in range(8):
                resp = self._call("batch_get_item", RequestItems=request)
                found.extend(resp["Responses"].get(self.table, []))
                request = resp.get("UnprocessedKeys") or {}
                if not request:
                    return found
                time.sleep(0.05 * 2**attempt)
            raise DependencyError("stats table read left unprocessed keys after retries")

        chunks = [keys[i : i + 100] for i in range(0, len(keys), 100)]
        return [it for part in self._pool.map(get, chunks) for it in part]

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {self.table: requests}
        for attempt in range(8):
            resp = self._call("batch_write_item", RequestItems=pending)
            pending = resp.get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(0.05 * 2**attempt)
        raise DependencyError("stats table write left unprocessed items after retries")
