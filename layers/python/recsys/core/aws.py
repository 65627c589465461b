"""boto3 clients pointed at AWS, LocalStack or moto by one setting.

Emulator provisioning from template.yaml lives in :mod:`recsys.local.provision` (not shipped).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import boto3

from recsys.core.config import Settings


def client(service: str, settings: Settings) -> Any:
    """A boto3 client for ``service`` honouring ``aws_endpoint_url`` and ``aws_region``."""
    return _client(service, settings.aws_endpoint_url, settings.aws_region)


#: boto3 sessions are not thread-safe; clients are created under this lock.
_SESSION_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _session() -> boto3.session.Session:
    # One session for every client: each new session reloads botocore's endpoint and service
    # data, which a cold start building 2-3 clients would otherwise pay for each (the cost:
    # docs/BENCHMARKS.md, Lambda layer).
    return boto3.session.Session()


@lru_cache(maxsize=32)
def _client(service: str, endpoint_url: str | None, region: str) -> Any:
    # Clients are thread-safe and costly to build: one per service and endpoint.
    with _SESSION_LOCK:
        return _session().client(  # type: ignore[call-overload]
            service, endpoint_url=endpoint_url, region_name=region
        )


def qdrant_api_key(settings: Settings) -> str | None:
    """The Qdrant API key: ``qdrant_api_key`` if set, else the Secrets Manager secret named by
    ``qdrant_api_key_secret_arn`` (how the template passes it on Lambda), else None."""
    if settings.qdrant_api_key:
        return settings.qdrant_api_key
    if not settings.qdrant_api_key_secret_arn:
        return None
    return _secret_string(
        settings.qdrant_api_key_secret_arn, settings.aws_endpoint_url, settings.aws_region
    )


@lru_cache(maxsize=8)
def _secret_string(arn: str, endpoint_url: str | None, region: str) -> str:
    # Read once per container: a cold start pays one Secrets Manager call, warm calls none.
    reply = _client("secretsmanager", endpoint_url, region).get_secret_value(SecretId=arn)
    value: str = reply["SecretString"]
    return value
