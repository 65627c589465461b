import json

from moto import mock_aws

from recsys.core.config import Settings
from recsys.local.provision import load_template, provision_from_template


def test_queues_tables_and_bucket_follow_the_template() -> None:
    # GIVEN the template's resource properties
    resources = load_template()["Resources"]
    with mock_aws():
        # WHEN the emulated infrastructure is provisioned from it
        prov = provision_from_template(Settings(), prefix="unit")
        import boto3

        sqs = boto3.client("sqs", region_name="us-east-1")
        attrs = sqs.get_queue_attributes(
            QueueUrl=prov.queue_urls["EmbedQueue"], AttributeNames=["All"]
        )["Attributes"]
        # THEN the queue carries the template's visibility timeout and redrive policy
        props = resources["EmbedQueue"]["Properties"]
        assert attrs["VisibilityTimeout"] == str(props["VisibilityTimeout"])
        redrive = json.loads(attrs["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == prov.queue_arns["EmbedDLQ"]
        assert redrive["maxReceiveCount"] == props["RedrivePolicy"]["maxReceiveCount"]
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        table = ddb.describe_table(TableName=prov.tables["EventsTable"])["Table"]
        assert table["KeySchema"] == resources["EventsTable"]["Properties"]["KeySchema"]
        ttl = ddb.describe_time_to_live(TableName=prov.tables["EventsTable"])
        assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
        # AND provisioning twice reuses what exists
        again = provision_from_template(Settings(), prefix="unit")
        assert again.queue_urls == prov.queue_urls
