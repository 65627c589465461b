"""template.yaml: lints clean, expands (samtranslator, offline) to what the design says, and the
emulated resources tests build from it carry the same properties."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from recsys.core.aws import client
from recsys.core.config import Settings
from recsys.local.provision import Provisioned, load_template

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
PARAMETERS = {
    "QdrantUrl": "https://qdrant.example:6333",
    "QdrantApiKeySecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:qdrant-AbCdEf",
    "JwtIssuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example",
    "JwtAudience": "storefront",
    "CorsAllowOrigin": "https://shop.example.com",
}
#: Writes only an operator may do: a JWT with the admin scope, not just any valid token.
ADMIN_ROUTES = {
    ("post", "/products"),
    ("delete", "/products/{product_id}"),
    ("delete", "/users/{user_id}"),
}
WRITE_ROUTES = {
    ("post", "/products"),
    ("delete", "/products/{product_id}"),
    ("post", "/events"),
    ("delete", "/users/{user_id}"),
}
READ_ROUTES = {
    ("get", "/users/{user_id}/recommendations"),
    ("get", "/users/{user_id}/buy-again"),
    ("get", "/products/{product_id}/similar"),
    ("get", "/products/{product_id}/bought-together"),
    ("post", "/recommendations/cart"),
    ("get", "/trending"),
    ("get", "/search"),
    ("get", "/categories"),
    ("get", "/health"),
}
#: Reads for the store's operators, not for shoppers' browsers: behind the JWT like writes.
OPERATOR_ROUTES = {("get", "/stats")}


class _NoManagedPolicies:
    """samtranslator asks IAM for managed policy ARNs; offline there are none to look up."""

    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def expanded() -> dict[str, Any]:
    """The template as CloudFormation sees it after the SAM transform."""
    import os

    from samtranslator.translator.transform import transform

    sam = copy.deepcopy(load_template(TEMPLATE))
    # Local artefact paths are uploaded by `sam package`; the transform needs S3 locations.
    for res in sam["Resources"].values():
        props = res.get("Properties", {})
        if "CodeUri" in props:
            props["CodeUri"] = "s3://placeholder-bucket/code.zip"
        if "ContentUri" in props:
            props["ContentUri"] = "s3://placeholder-bucket/layer.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    out: dict[str, Any] = transform(sam, dict(PARAMETERS), _NoManagedPolicies())
    return out["Resources"]


def _function(ref: dict[str, Any]) -> str:
    """The function a reference invokes: event sources point at the `live` alias (SnapStart)."""
    target = ref["Ref"] if "Ref" in ref else ref["Fn::GetAtt"][0]
    return str(target).removesuffix("Aliaslive")


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for policy in role["Properties"].get("Policies", []):
        if "Fn::If" in policy:  # conditional policies: check the granted branch
            policy = policy["Fn::If"][1]
        out.extend(policy["PolicyDocument"]["Statement"])
    return out


def _actions(role: dict[str, Any]) -> set[str]:
    acts: set[str] = set()
    for st in _statements(role):
        action = st["Action"]
        acts.update([action] if isinstance(action, str) else action)
    return acts


def test_cfn_lint_finds_nothing() -> None:
    # GIVEN the template WHEN cfn-lint checks it (errors and warnings)
    from cfnlint.api import lint_file

    matches = lint_file(TEMPLATE)
    # THEN nothing is reported
    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []


def test_the_nightly_rule_targets_update_profile(expanded: dict[str, Any]) -> None:
    # GIVEN the expanded template WHEN its EventBridge rules are read
    rules = _of_type(expanded, "AWS::Events::Rule")
    # THEN one cron rule, enabled, invokes UpdateProfileFunction (and may invoke it)
    (rule,) = rules.values()
    assert rule["Properties"]["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert rule["Properties"]["State"] == "ENABLED"
    (target,) = rule["Properties"]["Targets"]
    assert _function(target["Arn"]) == "UpdateProfileFunction"
    perms = _of_type(expanded, "AWS::Lambda::Permission")
    assert any(
        p["Properties"]["Principal"] == "events.amazonaws.com"
        and _function(p["Properties"]["FunctionName"]) == "UpdateProfileFunction"
        for p in perms.values()
    )


def test_queue_mappings_report_partial_failures_and_batch(expanded: dict[str, Any]) -> None:
    # GIVEN the event source mappings and the functions they feed
    mappings = {
        k: m
        for k, m in _of_type(expanded, "AWS::Lambda::EventSourceMapping").items()
        if m["Properties"]["EventSourceArn"]["Fn::GetAtt"][1] == "Arn"  # queues, not streams
    }
    feeds = {
        m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]: _function(
            m["Properties"]["FunctionName"]
        )
        for m in mappings.values()
    }
    # THEN the embed and profile queues feed embed and update-profile ...
    assert feeds == {"EmbedQueue": "EmbedFunction", "ProfileQueue": "UpdateProfileFunction"}
    for mapping in mappings.values():
        props = mapping["Properties"]
        queue = props["EventSourceArn"]["Fn::GetAtt"][0]
        function = expanded[_function(props["FunctionName"])]["Properties"]
        # ... reporting partial batch failures, batching within a window ...
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert 1 <= props["BatchSize"] <= 100
        assert 1 <= props["MaximumBatchingWindowInSeconds"] <= 5
        # ... with a visibility timeout of about 6 x the function's timeout
        visibility = expanded[queue]["Properties"]["VisibilityTimeout"]
        assert visibility == 6 * function["Timeout"], queue


def test_every_consumed_queue_redrives_to_its_dlq(expanded: dict[str, Any]) -> None:
    # GIVEN the two work queues
    for queue, dlq in (("EmbedQueue", "EmbedDLQ"), ("ProfileQueue", "ProfileDLQ")):
        redrive = expanded[queue]["Properties"]["RedrivePolicy"]
        # THEN failed messages end in the DLQ after a few tries, kept for 14 days
        assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq, "Arn"]}
        assert 2 <= redrive["maxReceiveCount"] <= 5
        assert expanded[dlq]["Properties"]["MessageRetentionPeriod"] == 1209600
        # AND an alarm watches the DLQ
        alarms = _of_type(expanded, "AWS::CloudWatch::Alarm").values()
        assert any(
            a["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dlq, "QueueName"]}
            for a in alarms
        )


def test_each_function_gets_only_what_it_touches(expanded: dict[str, Any]) -> None:
    # GIVEN each function's role
    actions = {
        fn: _actions(expanded[f"{fn}Role"])
        for fn in (
            "IngestFunction",
            "EmbedFunction",
            "LogEventFunction",
            "UpdateProfileFunction",
            "RecommendFunction",
        )
    }
    secret = {"secretsmanager:GetSecretValue"}
    # THEN ingest reads the bucket and sends to the embed queue
    assert {"s3:GetObject", "sqs:SendMessage*"} | secret <= actions["IngestFunction"]
    assert not any(a.startswith("dynamodb:") for a in actions["IngestFunction"])
    # AND embed only reads the Qdrant key (its queue access comes with the SQS event source)
    assert actions["EmbedFunction"] == secret
    # AND log-event writes the table and sends to the profile queue, nothing in S3
    assert {"dynamodb:PutItem", "dynamodb:Query", "sqs:SendMessage*"} <= actions["LogEventFunction"]
    assert not any(a.startswith("s3:") for a in actions["LogEventFunction"])
    # AND update-profile reads/writes the table and the aggregates, and fans out to its queue
    assert {"dynamodb:Query", "dynamodb:DeleteItem", "s3:GetObject", "s3:PutObject"} <= actions[
        "UpdateProfileFunction"
    ]
    # AND recommend reads the aggregates (and the key), and logs served lists / reads the
    # counters of the stats table — that table only
    stats = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"}
    health = {"dynamodb:GetItem", "sqs:GetQueueAttributes"}  # GET /health's probes
    assert actions["RecommendFunction"] == {"s3:GetObject"} | secret | stats | health
    for fn in ("RecommendFunction", "LogEventFunction"):
        for st in _statements(expanded[f"{fn}Role"]):
            if "StatsTable" in json.dumps(st["Resource"]):
                assert st["Resource"] == {"Fn::GetAtt": ["StatsTable", "Arn"]}
                assert not {"dynamodb:Scan", "dynamodb:DeleteItem"} & set(st["Action"])
    # AND the catalog-bucket grants outside ingest are limited to the aggregates/ prefix
    for fn in ("UpdateProfileFunction", "RecommendFunction"):
        s3_resources = [
            json.dumps(st["Resource"])
            for st in _statements(expanded[f"{fn}Role"])
            if any(str(a).startswith("s3:") for a in st["Action"])
            and "recsys-catalog" in json.dumps(st["Resource"])
        ]
        assert s3_resources and all("/aggregates/*" in r for r in s3_resources), fn
    # AND the secret grant names the one secret
    role = expanded["RecommendFunctionRole"]
    granted = [st for st in _statements(role) if st["Action"] == ["secretsmanager:GetSecretValue"]]
    assert granted[0]["Resource"]["Fn::Sub"][1]["secretArn"] == {"Ref": "QdrantApiKeySecretArn"}


def test_routes_exist_and_writes_need_a_jwt(expanded: dict[str, Any]) -> None:
    # GIVEN the HTTP API's generated OpenAPI body
    body = expanded["HttpApi"]["Properties"]["Body"]
    security = {
        (method, path): op.get("security")
        for path, ops in body["paths"].items()
        for method, op in ops.items()
    }
    # THEN every architecture route is there ...
    assert set(security) == WRITE_ROUTES | READ_ROUTES | OPERATOR_ROUTES
    # ... writes (and the operators' /stats) require the JWT authorizer and reads are open
    for route in (WRITE_ROUTES - ADMIN_ROUTES) | OPERATOR_ROUTES:
        assert security[route] == [{"StorefrontJwt": []}], route
    # ... catalog writes and erasure need the admin scope in the token
    for route in ADMIN_ROUTES:
        assert security[route] == [{"StorefrontJwt": [{"Ref": "AdminScope"}]}], route
    for route in READ_ROUTES:
        assert security[route] == [{"NONE": []}], route
    # AND the authorizer checks the configured issuer and audience
    scheme = body["components"]["securitySchemes"]["StorefrontJwt"]
    jwt = scheme["x-amazon-apigateway-authorizer"]
    assert jwt["type"] == "jwt"
    assert jwt["jwtConfiguration"] == {
        "issuer": {"Ref": "JwtIssuer"},
        "audience": [{"Ref": "JwtAudience"}],
    }


def test_catalog_uploads_notify_ingest_only_under_catalog_prefix(
    expanded: dict[str, Any],
) -> None:
    # GIVEN the bucket's notifications
    config = expanded["CatalogBucket"]["Properties"]["NotificationConfiguration"]
    (lam,) = config["LambdaConfigurations"]
    # THEN ObjectCreated under catalog/ invokes ingest (aggregates/ writes do not)
    assert lam["Event"] == "s3:ObjectCreated:*"
    assert _function(lam["Function"]) == "IngestFunction"
    assert lam["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "catalog/"}]


def test_functions_share_the_layer_runtime_and_settings(expanded: dict[str, Any]) -> None:
    # GIVEN the five Lambda functions
    functions = _of_type(expanded, "AWS::Lambda::Function")
    (layer_id,) = _of_type(expanded, "AWS::Lambda::LayerVersion")
    assert len(functions) == 5
    for name, fn in functions.items():
        props = fn["Properties"]
        env = props["Environment"]["Variables"]
        # THEN each runs python3.12 with the shared layer and the model path inside it
        assert props["Runtime"] == "python3.12", name
        assert props["Layers"] == [{"Ref": layer_id}], name
        assert props["Handler"] == "app.handler", name
        # AND cold starts restore a SnapStart snapshot of the initialised function
        assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}, name
        assert env["RECSYS_MODEL_DIR"] == "/opt/models_onnx/all-MiniLM-L6-v2-int8"
        # AND Powertools and the stores are configured from parameters, not literals
        assert env["POWERTOOLS_SERVICE_NAME"] == "recsys"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "recsys"
        assert env["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
        assert env["RECSYS_QDRANT_URL"] == {"Ref": "QdrantUrl"}
        assert env["RECSYS_QDRANT_API_KEY_SECRET_ARN"] == {"Ref": "QdrantApiKeySecretArn"}
        assert env["RECSYS_REDIS_URL"] == {"Ref": "RedisUrl"}
        # AND the aggregates live in the catalog bucket (the embedded default is a local file)
        assert env["RECSYS_AGGREGATES_BACKEND"] == "s3"
        assert env["RECSYS_EVENTS_TABLE"] == {"Ref": "EventsTable"}
        # AND no secret value is in the environment
        assert "RECSYS_QDRANT_API_KEY" not in env


def test_emulated_resources_match_the_template(
    aws_stack: tuple[Settings, Provisioned],
) -> None:
    # GIVEN resources provisioned on the moto server from template.yaml
    settings, prov = aws_stack
    resources = load_template(TEMPLATE)["Resources"]
    sqs, ddb = client("sqs", settings), client("dynamodb", settings)
    for queue, dlq in (("EmbedQueue", "EmbedDLQ"), ("ProfileQueue", "ProfileDLQ")):
        props = resources[queue]["Properties"]
        # WHEN their attributes are read back
        attrs = sqs.get_queue_attributes(QueueUrl=prov.queue_urls[queue], AttributeNames=["All"])[
            "Attributes"
        ]
        # THEN visibility timeouts and redrive policies are the template's
        assert int(attrs["VisibilityTimeout"]) == props["VisibilityTimeout"]
        redrive = json.loads(attrs["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == prov.queue_arns[dlq]
        assert int(redrive["maxReceiveCount"]) == props["RedrivePolicy"]["maxReceiveCount"]
    # AND the event table has the template's keys and TTL attribute
    table_props = resources["EventsTable"]["Properties"]
    table = ddb.describe_table(TableName=prov.tables["EventsTable"])["Table"]
    assert table["KeySchema"] == table_props["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        table_props["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    ttl = ddb.describe_time_to_live(TableName=prov.tables["EventsTable"])["TimeToLiveDescription"]
    assert ttl["AttributeName"] == table_props["TimeToLiveSpecification"]["AttributeName"]
    assert ttl["TimeToLiveStatus"] == "ENABLED"


def _role_statements(expanded: dict[str, Any], role: str) -> list[dict[str, Any]]:
    statements = _statements(expanded[role])
    for st in statements:
        # Least privilege: no wildcard action or resource anywhere in the archive's roles.
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        assert all(a != "*" and not a.endswith(":*") for a in actions), (role, st)
        assert (
            st["Resource"] != "*" and "*" not in st["Resource"]
            if isinstance(st["Resource"], list)
            else st["Resource"] != "*"
        ), (role, st)
    return statements


def test_the_event_archive_is_fed_by_the_table_stream(expanded: dict[str, Any]) -> None:
    from recsys.events.archive import COLUMNS, PARTITION

    # GIVEN the events table, its stream mapping, the delivery stream and the Glue table
    table = expanded["EventsTable"]["Properties"]
    (mapping,) = [
        m["Properties"]
        for m in _of_type(expanded, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["EventsTable", "StreamArn"]}
    ]
    # THEN the table streams new images to the log-event function (the event log's owner),
    # claims filtered out, failures halved and retried, then parked in the archive DLQ
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert _function(mapping["FunctionName"]) == "LogEventFunction"
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["BisectBatchOnFunctionError"] is True
    (pattern,) = mapping["FilterCriteria"]["Filters"]
    assert json.loads(pattern["Pattern"]) == {
        "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "u#"}, {"prefix": "s#"}]}}}
    }
    dlq = mapping["DestinationConfig"]["OnFailure"]["Destination"]
    assert dlq == {"Fn::GetAtt": ["ArchiveDLQ", "Arn"]}
    # AND the function may put records on that delivery stream only, and park failures in the
    # archive DLQ only
    statements = _role_statements(expanded, "LogEventFunctionRole")
    firehose = [st for st in statements if "firehose" in json.dumps(st["Action"])]
    assert [(st["Action"], st["Resource"]) for st in firehose] == [
        (["firehose:PutRecordBatch"], {"Fn::GetAtt": ["ArchiveDeliveryStream", "Arn"]})
    ]
    parked = [st for st in statements if st["Resource"] == {"Fn::GetAtt": ["ArchiveDLQ", "Arn"]}]
    assert parked and all("sqs:SendMessage" in json.dumps(st["Action"]) for st in parked)
    # AND Firehose converts the JSON rows to Parquet with the Glue table's schema, by day
    s3 = expanded["ArchiveDeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
    assert s3["Prefix"].startswith("events/dt=!{timestamp:yyyy-MM-dd}/")
    conversion = s3["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert "ParquetSerDe" in conversion["OutputFormatConfiguration"]["Serializer"]
    assert conversion["SchemaConfiguration"]["TableName"] == {"Ref": "ArchiveTable"}
    # AND the Glue table has exactly the archive's columns, partitioned (projected) by day
    glue = expanded["ArchiveTable"]["Properties"]["TableInput"]
    columns = [(c["Name"], c["Type"]) for c in glue["StorageDescriptor"]["Columns"]]
    assert columns == list(COLUMNS)
    assert [(c["Name"], c["Type"]) for c in glue["PartitionKeys"]] == [PARTITION]
    assert glue["Parameters"]["projection.enabled"] == "true"
    # AND the delivery role writes only under events/ and errors/ and reads only that table
    delivery = _role_statements(expanded, "ArchiveDeliveryRole")
    writes = [st for st in delivery if "s3:PutObject" in st["Action"]]
    assert [json.dumps(st["Resource"]) for st in writes] == [
        json.dumps(
            [
                {"Fn::Sub": "${ArchiveBucket.Arn}/events/*"},
                {"Fn::Sub": "${ArchiveBucket.Arn}/errors/*"},
            ]
        )
    ]
    glue_grants = {a for st in delivery for a in st["Action"] if a.startswith("glue:")}
    assert glue_grants == {"glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"}
    # AND the archive expires by the retention parameter
    rules = expanded["ArchiveBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {"Ref": "ArchiveRetentionDays"} in [r["ExpirationInDays"] for r in rules]


def test_athena_runs_the_aggregates_in_its_own_workgroup(expanded: dict[str, Any]) -> None:
    # GIVEN the workgroup and update-profile's role
    group = expanded["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    role = expanded["UpdateProfileFunctionRole"]
    conditional = [p["Fn::If"] for p in role["Properties"]["Policies"] if "Fn::If" in p]
    # THEN results go to the results bucket, enforced, with a cap on bytes scanned
    assert group["EnforceWorkGroupConfiguration"] is True
    assert group["ResultConfiguration"]["OutputLocation"] == {
        "Fn::Sub": "s3://${AthenaResultsBucket}/aggregates/"
    }
    assert group["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoff"}
    # AND update-profile gets the Athena, Glue and S3 grants only with the athena engine
    (athena,) = [c for c in conditional if c[0] == "UseAthena"]
    assert athena[2] == {"Ref": "AWS::NoValue"}
    statements = {st["Sid"]: st for st in athena[1]["PolicyDocument"]["Statement"]}
    _role_statements(expanded, "UpdateProfileFunctionRole")
    assert set(statements["AthenaAggregates"]["Action"]) == {
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
        "athena:StopQueryExecution",
    }
    assert "workgroup/${AthenaWorkGroup}" in statements["AthenaAggregates"]["Resource"]["Fn::Sub"]
    assert statements["ArchiveRead"]["Action"] == ["s3:GetObject"]
    assert statements["ArchiveRead"]["Resource"] == {"Fn::Sub": "${ArchiveBucket.Arn}/events/*"}
    assert statements["AthenaResults"]["Resource"] == {
        "Fn::Sub": "${AthenaResultsBucket.Arn}/aggregates/*"
    }
    assert {a for st in statements.values() for a in st["Action"] if a.startswith("glue:")} == {
        "glue:GetDatabase",
        "glue:GetTable",
        "glue:GetPartitions",
    }
    # AND the function is told the engine, workgroup and database by parameters
    env = expanded["UpdateProfileFunction"]["Properties"]["Environment"]["Variables"]
    assert env["RECSYS_AGGREGATES_ENGINE"] == {"Ref": "AggregatesEngine"}
    assert env["RECSYS_ATHENA_WORKGROUP"] == {"Ref": "AthenaWorkGroup"}
    assert env["RECSYS_ATHENA_DATABASE"] == {"Ref": "ArchiveDatabaseName"}


def test_the_stage_throttles_and_cors_is_an_explicit_list(expanded: dict[str, Any]) -> None:
    # GIVEN the HTTP API's stage and its CORS configuration
    stages = _of_type(expanded, "AWS::ApiGatewayV2::Stage")
    (stage,) = stages.values()
    # THEN every route is throttled by parameters
    settings = stage["Properties"]["DefaultRouteSettings"]
    assert settings == {
        "ThrottlingRateLimit": {"Ref": "ThrottleRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ThrottleBurstLimit"},
    }
    # AND the allowed origins are the operator's list: no "*" anywhere, no default
    cors = expanded["HttpApi"]["Properties"]["Body"]["x-amazon-apigateway-cors"]
    assert cors["allowOrigins"] == ["https://shop.example.com"]
    params = load_template(TEMPLATE)["Parameters"]
    assert "Default" not in params["CorsAllowOrigin"]
    assert "*" not in json.dumps(cors["allowOrigins"])
    # AND the functions read the event log from the table
    env = load_template(TEMPLATE)["Globals"]["Function"]["Environment"]["Variables"]
    assert env["RECSYS_EVENTS_BACKEND"] == "dynamodb"
