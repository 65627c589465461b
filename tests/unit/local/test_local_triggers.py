"""S3 notification routing and the schedule, as the local stack fires them."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from recsys.local.template import S3Source
from recsys.local.triggers import S3Watcher, Scheduler, s3_event, scheduled_event


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="shop")
        yield client


def test_new_and_overwritten_objects_under_the_prefix_are_delivered_once(s3: Any) -> None:
    # GIVEN a watcher for ObjectCreated under catalog/, and an object already there at start
    s3.put_object(Bucket="shop", Key="catalog/old.jsonl", Body=b"{}")
    events: list[dict[str, Any]] = []
    source = S3Source(
        bucket="Shop", event="Upload", events=("s3:ObjectCreated:*",), prefix="catalog/"
    )
    watcher = S3Watcher(s3=s3, bucket="shop", source=source, handler=events.append)
    watcher.prime()
    # WHEN new objects arrive in and outside the prefix, and the watcher scans twice
    s3.put_object(Bucket="shop", Key="catalog/spring sale.jsonl", Body=b"{}")
    s3.put_object(Bucket="shop", Key="aggregates/latest.json.gz", Body=b"{}")
    first = watcher.scan()
    second = watcher.scan()
    s3.put_object(Bucket="shop", Key="catalog/spring sale.jsonl", Body=b'{"v": 2}')
    third = watcher.scan()
    # THEN only the new catalog object, then its overwrite, were delivered
    assert (first, second, third) == (1, 0, 1)
    keys = [e["Records"][0]["s3"]["object"]["key"] for e in events]
    assert keys == ["catalog/spring+sale.jsonl", "catalog/spring+sale.jsonl"]
    record = events[0]["Records"][0]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["bucket"]["name"] == "shop"


def test_a_failing_handler_is_counted_and_not_retried(s3: Any) -> None:
    # GIVEN a handler that raises
    source = S3Source(bucket="Shop", event="Upload", events=("s3:ObjectCreated:*",))

    def boom(event: dict[str, Any]) -> None:
        raise RuntimeError("bad file")

    watcher = S3Watcher(s3=s3, bucket="shop", source=source, handler=boom)
    s3.put_object(Bucket="shop", Key="x.csv", Body=b"a")
    # WHEN scanned twice THEN the error is counted once
    watcher.scan()
    watcher.scan()
    assert (watcher.delivered, watcher.errors) == (1, 1)


def test_the_scheduler_sends_a_scheduled_event_on_demand() -> None:
    # GIVEN a scheduler that only fires on demand
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any]) -> dict[str, int]:
        seen.append(event)
        return {"refreshed": 3}

    scheduler = Scheduler(rule="UpdateProfileFunctionNightly", handler=handler, interval_s=0)
    scheduler.start()
    # WHEN fired
    result = scheduler.fire()
    scheduler.stop()
    # THEN the handler got EventBridge's Scheduled Event and the reply is kept
    assert result == {"refreshed": 3}
    assert seen[0]["detail-type"] == "Scheduled Event"
    assert seen[0]["source"] == "aws.events"
    assert seen[0]["resources"][0].endswith(":rule/UpdateProfileFunctionNightly")
    assert scheduler.runs == 1


def test_event_shapes_match_the_canonical_samples() -> None:
    # GIVEN the events the local stack builds
    s3_ev = s3_event(bucket="b", key="catalog/a b.csv", size=3, etag='"abc"')
    sched = scheduled_event(rule="r")
    # THEN they carry the fields Lambda handlers rely on
    assert s3_ev["Records"][0]["s3"]["object"] == {
        "key": "catalog/a+b.csv",
        "size": 3,
        "eTag": "abc",
        "sequencer": s3_ev["Records"][0]["s3"]["object"]["sequencer"],
    }
    assert set(sched) >= {"id", "detail-type", "source", "time", "resources", "detail"}
