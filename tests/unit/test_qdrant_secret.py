"""The Qdrant API key comes from Secrets Manager on Lambda (the template passes only the ARN)."""

import boto3
from moto import mock_aws

from recsys.aws import qdrant_api_key
from recsys.config import Settings


def test_the_key_is_read_from_the_secret_the_template_names() -> None:
    with mock_aws():
        # GIVEN a secret holding the key, and settings that only know its ARN
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        arn = sm.create_secret(Name="qdrant-key", SecretString="s3cr3t")["ARN"]
        settings = Settings(qdrant_api_key_secret_arn=arn)
        # WHEN the key is resolved THEN it is the secret's value
        assert qdrant_api_key(settings) == "s3cr3t"


def test_an_explicit_key_wins_and_no_key_is_none() -> None:
    # GIVEN a key set directly, or nothing (the template's empty ARN default)
    # THEN the explicit key is used as is, and an empty ARN means no key
    assert qdrant_api_key(Settings(qdrant_api_key="k", qdrant_api_key_secret_arn="x")) == "k"
    assert qdrant_api_key(Settings(qdrant_api_key_secret_arn="")) is None
