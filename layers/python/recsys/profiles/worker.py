"""The update-profile worker: profile-queue records and the nightly schedule, over one
:class:`~recsys.services.Services`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import Json

from recsys.core.types import Vector
from recsys.events.models import ProfileUpdate
from recsys.profiles.service import UpdateStats, update_profiles
from recsys.services import Services

__all__ = ["ProfileRecord", "ProfileWorker", "is_scheduled_event"]


class ProfileRecord(SqsRecordModel):
    """An SQS record of the profile queue, its body parsed as a ``ProfileUpdate``."""

    body: Json[ProfileUpdate]


def is_scheduled_event(event: Mapping[str, Any]) -> bool:
    """True for an EventBridge schedule invocation ("Scheduled Event" from aws.events)."""
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


class ProfileWorker:
    """What the update-profile handler holds for the life of a container: its :class:`Services`."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings

    def update(self, *updates: ProfileUpdate | str) -> UpdateStats:
        """Update profiles now (a queue record, or owner keys)."""
        s = self.services
        return update_profiles(
            updates,
            store=s.store,
            log=s.event_log,
            encoder=s.encoder,
            settings=self.settings,
            center=self.center(),
        )

    def center(self) -> Vector | None:
        """The catalog mean to subtract, when ``profile_center_items`` is on and it is known."""
        if not self.settings.profile_center_items:
            return None
        mean = self.services.aggregates.load().item_mean
        return np.asarray(mean, dtype=np.float32) if mean else None

    def nightly(self, **kwargs: Any) -> dict[str, Any]:
        """Run the nightly job (:func:`recsys.jobs.nightly.nightly_refresh`)."""
        from recsys.jobs.nightly import nightly_refresh

        s = self.services
        return nightly_refresh(
            store=s.store,
            log=s.event_log,
            settings=self.settings,
            queue=s.profile_queue,
            aggregates=s.aggregates,
            **kwargs,
        )
