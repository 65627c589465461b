"""The profile queue: one message per owner whose profile needs bringing up to date."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from recsys.core.aws import client
from recsys.core.config import Settings
from recsys.core.errors import ConfigError
from recsys.core.sqs import SqsBatchSender
from recsys.events.models import ProfileUpdate

__all__ = ["ProfileQueue", "ProfileSink"]


class ProfileSink(Protocol):
    """Where profile-update requests go: the SQS queue, or in-process for local replays."""

    def send(self, updates: Sequence[ProfileUpdate]) -> None: ...


class ProfileQueue:
    """The profile queue (``settings.profile_queue_url``), through the shared batch sender."""

    def __init__(self, settings: Settings) -> None:
        if not settings.profile_queue_url:
            raise ConfigError("profile_queue_url is not configured")
        self._sender = SqsBatchSender(
            client("sqs", settings), settings.profile_queue_url, name="profile"
        )

    @property
    def url(self) -> str:
        """The queue's URL (a benchmark may point it at a fresh queue)."""
        return self._sender.queue_url

    @url.setter
    def url(self, value: str) -> None:
        self._sender.queue_url = value

    def send(self, updates: Sequence[ProfileUpdate]) -> None:
        """Send one message per update; raises DependencyError for what SQS would not take."""
        self._sender.send([u.model_dump_json(exclude_defaults=True) for u in updates])
