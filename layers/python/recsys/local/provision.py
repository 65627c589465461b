"""Emulator provisioning from template.yaml (local stack and tests only; never shipped).

``provision_from_template`` creates the queues, DLQs, tables and buckets that template.yaml
declares, with the template's own properties, so emulated infrastructure cannot drift from
what deploys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from recsys.core.aws import client
from recsys.core.config import Settings

#: Physical names of the emulated resources: ``local-EmbedQueue`` etc.
RESOURCE_PREFIX = "local"
#: template.yaml at the root of a checkout.
TEMPLATE_PATH = Path(__file__).resolve().parents[4] / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation short-form intrinsics as ``{"Fn::X": ...}``."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """template.yaml as plain data; intrinsics kept as ``{"Ref": ...}``, ``{"Fn::GetAtt": ...}``."""
    with path.open(encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.load(fh, Loader=_CfnLoader)
    return data


@dataclass
class Provisioned:
    """What ``provision_from_template`` created, by logical id."""

    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The RECSYS_* variables the handlers read, as the template would set them."""
        out = {
            "RECSYS_EMBED_QUEUE_URL": self.queue_urls["EmbedQueue"],
            "RECSYS_PROFILE_QUEUE_URL": self.queue_urls["ProfileQueue"],
            "RECSYS_EVENTS_TABLE": self.tables["EventsTable"],
            "RECSYS_CATALOG_BUCKET": self.buckets["CatalogBucket"],
        }
        return out


def _queue_attributes(props: dict[str, Any], arns: dict[str, str]) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds"):
        if key in props:
            attrs[key] = str(props[key])
    redrive = props.get("RedrivePolicy")
    if redrive:
        target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        attrs["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": arns[target],
                "maxReceiveCount": int(redrive["maxReceiveCount"]),
            }
        )
    return attrs


def provision_from_template(
    settings: Settings, *, prefix: str = "recsys", template: dict[str, Any] | None = None
) -> Provisioned:
    """Create the template's SQS queues, DynamoDB tables and S3 buckets on the configured endpoint.

    Physical names are ``{prefix}-{LogicalId}``; existing resources are reused, so this is safe
    to call on every start of a local stack.
    """
    resources: dict[str, Any] = (template or load_template())["Resources"]
    out = Provisioned()
    sqs, ddb, s3 = client("sqs", settings), client("dynamodb", settings), client("s3", settings)

    queues = {k: v for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue"}
    # Dead-letter queues first: the main queues' redrive policies point at their ARNs.
    for logical_id in sorted(
        queues, key=lambda k: "RedrivePolicy" in queues[k].get("Properties", {})
    ):
        props = queues[logical_id].get("Properties", {})
        url = sqs.create_queue(
            QueueName=f"{prefix}-{logical_id}", Attributes=_queue_attributes(props, out.queue_arns)
        )["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        out.queue_urls[logical_id], out.queue_arns[logical_id] = url, arn

    for logical_id, res in resources.items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::DynamoDB::Table":
            name = f"{prefix}-{logical_id}"
            existing = ddb.list_tables()["TableNames"]
            if name not in existing:
                ddb.create_table(
                    TableName=name,
                    AttributeDefinitions=props["AttributeDefinitions"],
                    KeySchema=props["KeySchema"],
                    BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
                )
                ttl = props.get("TimeToLiveSpecification")
                if ttl:
                    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
            out.tables[logical_id] = name
        elif res["Type"] == "AWS::S3::Bucket":
            name = f"{prefix}-{logical_id}".lower()
            existing_buckets = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
            if name not in existing_buckets:
                s3.create_bucket(Bucket=name)
            out.buckets[logical_id] = name
    return out


#: Settings variable of each resource the template declares, by logical id (as on Lambda).
RESOURCE_ENV = {
    "EmbedQueue": "RECSYS_EMBED_QUEUE_URL",
    "ProfileQueue": "RECSYS_PROFILE_QUEUE_URL",
    "EventsTable": "RECSYS_EVENTS_TABLE",
    "StatsTable": "RECSYS_STATS_TABLE",
    "CatalogBucket": "RECSYS_CATALOG_BUCKET",
}


def resource_env(prov: Provisioned) -> dict[str, str]:
    """The ``RECSYS_*`` variables for the provisioned resources the template has."""
    names = {**prov.queue_urls, **prov.tables, **prov.buckets}
    return {var: names[lid] for lid, var in RESOURCE_ENV.items() if lid in names}
