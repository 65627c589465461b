"""The event archive's AWS side: stream records → rows → Firehose, and the Athena request flow.

moto delivers Firehose records to S3 as they are put (no Parquet conversion: that is Firehose's
job, configured in template.yaml) and does not execute SQL: its Athena answers with results a
test queues. So the Athena test checks the request flow — the query text, database, workgroup
and parameters sent, polling, reading the result CSV from S3 — with the rows DuckDB computed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from recsys.aggregates.sql import AthenaQuery, SqlParams, athena_sql, run_duckdb, to_result
from recsys.core.config import Settings
from recsys.events.archive import FirehoseSink, rows_from_stream, write_snapshot
from recsys.events.items import claim_item, to_item
from recsys.events.models import LoggedEvent

ROOT = Path(__file__).resolve().parents[3]


def _record(name: str, item: dict[str, Any], seq: int, **extra: Any) -> dict[str, Any]:
    change: dict[str, Any] = {
        "Keys": {"pk": item["pk"], "sk": item["sk"]},
        "SequenceNumber": str(seq),
        "StreamViewType": "NEW_IMAGE",
    }
    if name != "REMOVE":
        change["NewImage"] = item
    return {"eventName": name, "eventSource": "aws:dynamodb", "dynamodb": change, **extra}


EV = LoggedEvent("e1", "u#7", "purchase", 1_700_000_000.5, "7", None, "p1", None, "o1", 2, 9.5)


def test_stream_records_become_archive_rows() -> None:
    # GIVEN the items the event log writes, as the table's stream carries them
    item = to_item(EV, expires_at=1)
    records = [
        _record("INSERT", item, 11),
        _record("INSERT", claim_item(EV, 1), 12),  # idempotency claim: not an event
        _record("MODIFY", item, 13),  # a retry that changed only expires_at
        _record("REMOVE", item, 14),  # erasure
        _record(
            "REMOVE",
            item,
            15,
            userIdentity={"type": "Service", "principalId": "dynamodb.amazonaws.com"},
        ),  # TTL expiry: the archive keeps its own retention
    ]
    # WHEN
    rows = rows_from_stream(records)
    # THEN two puts and one delete, ordered by the zero-padded sequence number
    assert [(r["op"], r["version"]) for r in rows] == [
        ("put", f"{11:040d}"),
        ("put", f"{13:040d}"),
        ("delete", f"{14:040d}"),
    ]
    assert rows[0] | {"version": None} == {
        "owner": "u#7",
        "sk": EV.sk,
        "event_id": "e1",
        "type": "purchase",
        "at_s": EV.at,
        "user_id": "7",
        "session_id": None,
        "product_id": "p1",
        "query": None,
        "order_id": "o1",
        "quantity": 2,
        "price": 9.5,
        "context": None,
        "op": "put",
        "version": None,
    }
    assert rows[2]["owner"] == "u#7" and rows[2]["sk"] == EV.sk and rows[2]["type"] is None


@mock_aws
def test_the_archive_handler_puts_rows_on_firehose(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a delivery stream into a bucket, and the archive handler configured for it
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="archive")
    boto3.client("firehose", region_name="us-east-1").create_delivery_stream(
        DeliveryStreamName="archive",
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "BucketARN": "arn:aws:s3:::archive",
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "Prefix": "events/",
        },
    )
    monkeypatch.setenv("RECSYS_ARCHIVE_STREAM", "archive")
    spec = importlib.util.spec_from_file_location(
        "log_event_app", ROOT / "functions/log_event/app.py"
    )
    assert spec and spec.loader
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    events = [
        LoggedEvent(f"e{i}", f"u#{i % 3}", "view", 1_700_000_000.0 + i, product_id=f"p{i}")
        for i in range(1200)
    ]
    stream_event = {
        "Records": [_record("INSERT", to_item(ev, expires_at=1), i) for i, ev in enumerate(events)]
    }
    # WHEN the handler gets a stream batch (more than one PutRecordBatch of 500)
    reply = app.handler(stream_event, None)
    # THEN every event arrived once, as one JSON row per line
    assert reply == {"archived": 1200}
    lines = []
    for obj in s3.list_objects_v2(Bucket="archive", Prefix="events/")["Contents"]:
        body = s3.get_object(Bucket="archive", Key=obj["Key"])["Body"].read().decode()
        lines += [json.loads(line) for line in body.splitlines()]
    assert sorted(r["event_id"] for r in lines) == sorted(ev.event_id for ev in events)
    assert len(list(s3.list_objects_v2(Bucket="archive")["Contents"])) == 3


def test_firehose_sink_needs_a_stream() -> None:
    from recsys.core.errors import ConfigError

    with pytest.raises(ConfigError, match="RECSYS_ARCHIVE_STREAM"):
        FirehoseSink(Settings(archive_stream=None)).put([{"owner": "u#1"}])


@mock_aws
def test_the_athena_query_flow(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    from moto.athena.models import QueryResults, athena_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    # GIVEN a workgroup and results bucket, and Athena's answer queued: the rows DuckDB computes
    # for the same archive (moto does not run SQL), in Athena's result format (header first)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="results")
    athena = boto3.client("athena", region_name="us-east-1")
    athena.create_work_group(Name="recsys-test")
    events = [
        LoggedEvent(
            f"e{i}",
            f"u#{i % 4}",
            "purchase",
            1e9 + i * 60,
            None,
            None,
            f"p{i % 5}",
            None,
            f"o{i // 3}",
        )
        for i in range(60)
    ]
    write_snapshot(events, tmp_path)
    params = SqlParams(wall=1e9 + 4000, follow_log=False)
    rows = run_duckdb(tmp_path, params)

    def cell(v: Any) -> dict[str, str]:
        return {} if v is None else {"VarCharValue": repr(v) if isinstance(v, float) else str(v)}

    athena_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].query_results_queue.append(
        QueryResults(
            rows=[{"Data": [cell(c) for c in ("kind", "k", "k2", "v")]}]
            + [{"Data": [cell(c) for c in row]} for row in rows],
            column_info=[],
        )
    )
    settings = Settings(
        athena_workgroup="recsys-test",
        athena_database="recsys_test",
        athena_output="s3://results/aggregates/",
    )
    # WHEN the aggregates run on Athena
    query = AthenaQuery(settings, poll_s=0.01)
    got = to_result(query.run(params), catalog_categories={})
    # THEN the request carried the shipped Trino text, the database, workgroup and parameters
    (qid,) = athena.list_query_executions(WorkGroup="recsys-test")["QueryExecutionIds"]
    sent = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
    assert sent["Query"] == athena_sql()
    assert sent["QueryExecutionContext"]["Database"] == "recsys_test"
    assert sent["ExecutionParameters"] == [
        "1000004000.0",
        "false",
        *sent["ExecutionParameters"][2:],
    ]
    assert len(sent["ExecutionParameters"]) == len(params.values())
    # AND the result read back from S3 is what DuckDB computed
    want = to_result(rows, catalog_categories={})
    assert got.aggregates.neighbours == want.aggregates.neighbours
    assert got.aggregates.popularity_scores == want.aggregates.popularity_scores
    assert (got.now, got.log_events, got.active_owners) == (
        want.now,
        want.log_events,
        want.active_owners,
    )
    assert want.aggregates.neighbours
