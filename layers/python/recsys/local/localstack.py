"""The LocalStack init script (localstack/init/ready.d/10-recsys.sh), rendered from template.yaml.

The script creates the same queues, DLQs, table and bucket as ``provision_from_template``
(same ``local-<LogicalId>`` names and properties), with ``awslocal`` inside the LocalStack
container. It is generated — ``python -m recsys.local.localstack > localstack/init/ready.d/
10-recsys.sh`` — and a test fails when the committed copy no longer matches the template.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

from recsys.local.provision import RESOURCE_PREFIX, TEMPLATE_PATH, load_template

_HEADER = """\
#!/usr/bin/env bash
# GENERATED from template.yaml by `python -m recsys.local.localstack` — do not edit by hand.
# Runs inside the LocalStack container once it is ready (mounted at /etc/localstack/init/ready.d):
# creates the queues, DLQs, event table and catalog bucket with template.yaml's properties and
# the names the local runtime uses (local-<LogicalId>), so `recsys up` pointed at LocalStack
# (RECSYS_AWS_ENDPOINT_URL=http://localhost:4566) finds them.
set -euo pipefail
REGION="${AWS_DEFAULT_REGION:-us-east-1}"
ACCOUNT="000000000000"
"""


#: Stands for the DLQ ARN while the attributes are JSON-encoded.
_ARN = "@@DLQ_ARN@@"


def _q(value: Any) -> str:
    return shlex.quote(
        value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    )


def render_init_script(template: dict[str, Any] | None = None) -> str:
    """The bash script creating the template's SQS, DynamoDB and S3 resources with awslocal."""
    resources: dict[str, Any] = (template or load_template(TEMPLATE_PATH))["Resources"]
    lines = [_HEADER]
    queues = {k: v for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue"}
    # Dead-letter queues first: redrive policies name their ARNs.
    for logical_id in sorted(
        queues, key=lambda k: "RedrivePolicy" in queues[k].get("Properties", {})
    ):
        props = queues[logical_id].get("Properties", {})
        attrs: dict[str, str] = {
            key: str(props[key])
            for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds")
            if key in props
        }
        redrive = props.get("RedrivePolicy")
        arn = ""
        if redrive:
            target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            arn = f"arn:aws:sqs:${{REGION}}:${{ACCOUNT}}:{RESOURCE_PREFIX}-{target}"
            policy = {
                "deadLetterTargetArn": _ARN,
                "maxReceiveCount": int(redrive["maxReceiveCount"]),
            }
            attrs["RedrivePolicy"] = json.dumps(policy, separators=(",", ":"))
        name = f"{RESOURCE_PREFIX}-{logical_id}"
        line = f"awslocal sqs create-queue --queue-name {name}"
        if attrs:
            # Single-quoted JSON; the DLQ ARN is spliced in double quotes so ${REGION} expands.
            encoded = json.dumps(attrs, separators=(",", ":")).replace(_ARN, f"'\"{arn}\"'")
            line += f" --attributes '{encoded}'"
        lines.append(line)
    for logical_id, res in resources.items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::DynamoDB::Table":
            name = f"{RESOURCE_PREFIX}-{logical_id}"
            lines.append(
                f"awslocal dynamodb describe-table --table-name {name} >/dev/null 2>&1 || "
                f"awslocal dynamodb create-table --table-name {name} "
                f"--attribute-definitions {_q(props['AttributeDefinitions'])} "
                f"--key-schema {_q(props['KeySchema'])} "
                f"--billing-mode {props.get('BillingMode', 'PAY_PER_REQUEST')}"
            )
            ttl = props.get("TimeToLiveSpecification")
            if ttl:
                lines.append(
                    f"awslocal dynamodb update-time-to-live --table-name {name} "
                    f"--time-to-live-specification {_q(ttl)} >/dev/null"
                )
        elif res["Type"] == "AWS::S3::Bucket":
            name = f"{RESOURCE_PREFIX}-{logical_id}".lower()
            lines.append(
                f"awslocal s3api head-bucket --bucket {name} 2>/dev/null || "
                f"awslocal s3api create-bucket --bucket {name}"
            )
    lines.append('echo "recsys: queues, table and bucket ready"')
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the init script for template.yaml (or the template given as the first argument)."""
    args = argv if argv is not None else sys.argv[1:]
    template = load_template(Path(args[0])) if args else None
    sys.stdout.write(render_init_script(template))
    return 0


if __name__ == "__main__":
    sys.exit(main())
