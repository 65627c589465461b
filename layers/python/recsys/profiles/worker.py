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

__all__ = ["REEMBED_BUDGET_S", "ProfileRecord", "ProfileWorker", "is_scheduled_event"]

#: Seconds a nightly run spends moving the store to a changed encoder (the function's timeout is
#: 300 s and the refresh follows); a large catalog is moved over several nights.
REEMBED_BUDGET_S = 150.0


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
        if not mean:
            return None
        vector = np.asarray(mean, dtype=np.float32)
        # A mean of another space's vectors (before the aggregates were recomputed): unused.
        spec = self.services.store.bound_spec(self.settings.products_collection)
        size = spec.vectors.get("text") if spec is not None else self.settings.vector_size
        return vector if len(vector) == size else None

    def nightly(
        self, *, reembed_budget_s: float = REEMBED_BUDGET_S, **kwargs: Any
    ) -> dict[str, Any]:
        """Run the nightly job (:func:`recsys.jobs.nightly.nightly_refresh`), after moving the
        store towards the configured encoder when it still serves another's space (for at most
        ``reembed_budget_s``; the next run continues where this one stopped)."""
        from recsys.jobs.nightly import nightly_refresh

        s = self.services
        moved = self.reembed(max_seconds=reembed_budget_s) if self.reembed_pending() else None
        report = nightly_refresh(
            store=s.store,
            log=s.event_log,
            settings=self.settings,
            queue=s.profile_queue,
            aggregates=s.aggregates,
            **kwargs,
        )
        return report if moved is None else {**report, "reembed": moved}

    def reembed_pending(self) -> bool:
        """Whether the store serves another encoder's space than the configured one."""
        from recsys.store.spaces import active_model, configured_model

        active = active_model(self.services.store, self.settings)
        return active is not None and active != configured_model(self.settings)

    def reembed(self, **kwargs: Any) -> dict[str, Any]:
        """Move the store to the configured encoder (:func:`recsys.jobs.reembed.reembed`)."""
        from recsys.jobs.reembed import reembed

        s = self.services
        return reembed(
            store=s.store,
            log=s.event_log,
            settings=self.settings,
            aggregates=s.aggregates,
            **kwargs,
        ).as_dict()
