"""The Qdrant API key comes from Secrets Manager on Lambda (the template passes only the ARN)."""

from typing import Any

import boto3
import pytest
from moto import mock_aws

from recsys.core.aws import qdrant_api_key
from recsys.core.config import Settings


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


def test_open_store_hands_the_secret_key_to_the_qdrant_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the qdrant backend configured as on Lambda: a server URL and the key's secret ARN
    import recsys.store.qdrant as qdrant_backend
    from recsys.store import open_store

    seen: dict[str, Any] = {}

    class Recording:
        def __init__(self, location: str, **kwargs: Any) -> None:
            seen.update(kwargs, location=location)

    monkeypatch.setattr(qdrant_backend, "QdrantStore", Recording)
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        arn = sm.create_secret(Name="qdrant-key-2", SecretString="from-secret")["ARN"]
        settings = Settings(
            vector_backend="qdrant",
            qdrant_url="https://qdrant.example.invalid:6333",
            qdrant_api_key_secret_arn=arn,
        )
        # WHEN the store is opened
        open_store(settings)
    # THEN the backend got the key read from the secret, not the (empty) plain setting
    assert seen["location"] == "https://qdrant.example.invalid:6333"
    assert seen["api_key"] == "from-secret"
