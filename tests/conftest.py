"""Fixtures shared by every test: fake AWS credentials, a moto server, settings, sample events."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from recsys.core.config import Settings, get_settings
from recsys.local.provision import Provisioned, provision_from_template

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_EVENTS = ROOT / "shared" / "events"
ONLINE_RETAIL = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"


@pytest.fixture(autouse=True)
def _aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Never reach real AWS from a test, whatever the developer's environment holds.
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto server on 127.0.0.1 (free port), stopped at the end of the session."""
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings isolated under this test's tmp dir; keyword overrides win."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"data_dir": tmp_path / "data"}
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def aws_stack(
    moto_endpoint: str, make_settings: Callable[..., Settings]
) -> tuple[Settings, Provisioned]:
    """Queues, DLQs, table and bucket created from template.yaml on the moto server.

    A unique prefix per test keeps tests independent on the shared server.
    """
    base = make_settings(aws_endpoint_url=moto_endpoint)
    prov = provision_from_template(base, prefix=f"t{uuid.uuid4().hex[:10]}")
    settings = base.model_copy(
        update={
            "embed_queue_url": prov.queue_urls["EmbedQueue"],
            "profile_queue_url": prov.queue_urls["ProfileQueue"],
            "events_table": prov.tables["EventsTable"],
            "catalog_bucket": prov.buckets["CatalogBucket"],
            "aggregates_backend": "s3",
        }
    )
    return settings, prov


@pytest.fixture
def stack_env(
    aws_stack: tuple[Settings, Provisioned], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Settings]:
    """``apply(**extra)`` sets the functions' environment — template.yaml's, pointed at the
    emulator and the test's data dir, plus ``extra`` (``RECSYS_VECTOR_BACKEND="edge"`` …) — and
    returns the Settings the handlers will read from it."""

    def apply(**extra: str) -> Settings:
        settings, prov = aws_stack
        env = {
            **prov.env(),
            "RECSYS_AWS_ENDPOINT_URL": str(settings.aws_endpoint_url),
            "RECSYS_DATA_DIR": str(settings.data_dir),
            **extra,
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        return get_settings()

    return apply


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    """Load a canonical sample event from shared/events/<name>.json."""

    def load(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((SAMPLE_EVENTS / f"{name}.json").read_text())
        return data

    return load


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a real Redis server; tests using it are skipped, saying so, when none answers."""
    import redis

    url = os.environ.get("RECSYS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.RedisError as exc:
        pytest.skip(f"needs a Redis server at {url} (set RECSYS_TEST_REDIS_URL): {exc}")
    return url


class PrivateRedis:
    """A redis-server of this test's own, on a free 127.0.0.1 port, that the test can stop."""

    def __init__(self, workdir: Path) -> None:
        import socket
        import subprocess

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        workdir.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait()

    def _wait(self) -> None:
        import time

        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """Start a private redis-server (skipped when none is installed); stopped at the end."""
    import shutil

    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on PATH")
    server = PrivateRedis(tmp_path / "redis")
    try:
        yield server
    finally:
        server.stop()
