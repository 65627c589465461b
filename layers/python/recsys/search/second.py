"""The second encoder of search: the one whose vectors the products carry beside their own.

English MiniLM reads English paraphrases best; multilingual USE reads the shoppers' other
languages. A products collection that declares a second named vector ``text__<model>`` beside
"text" (the primary encoder's; :mod:`recsys.store.spaces`, ``RECSYS_SECOND_ENCODER``) is
searched with both (:mod:`recsys.search.fusion`); the store and the embed pipeline decide
whether it holds one — search only looks. Recommendations, profiles and similar items stay on
the primary encoder's "text".
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from recsys.core.config import ENCODER_ALIASES
from recsys.search.fusion import SearchTuning, pair_tuning, tuning_for
from recsys.search.service import DenseSource
from recsys.store.base import VectorStore
from recsys.store.spaces import SECOND_OFF, declared_second, installed

if TYPE_CHECKING:
    from recsys.core.config import Settings

__all__ = ["pair_of", "second_model", "second_source"]


def second_model(primary: str) -> str | None:
    """The shipped encoder that pairs with ``primary`` (the tuning of the pair is known)."""
    for model in sorted(set(ENCODER_ALIASES.values())):
        if model != primary and pair_tuning(primary, model) is not None:
            return model
    return None


def pair_of(primary: str, second: str) -> SearchTuning:
    """The tuning of ``primary`` and ``second`` fused: the pair's, else each encoder's own bar
    and floor for its list with the primary's fusion knobs."""
    tuned = pair_tuning(primary, second)
    if tuned is not None:
        return tuned
    own = tuning_for(second)
    return replace(
        tuning_for(primary), second_min_dense=own.min_dense, second_floor_dense=own.floor_dense
    )


def second_source(
    store: VectorStore, collection: str, primary: str, settings: Settings
) -> DenseSource | None:
    """The second encoder's dense source for ``collection``, or None: ``RECSYS_SECOND_ENCODER``
    is off, the products carry no second encoder's vectors, or its folder is not installed
    (the Lambda layer ships the models that fit)."""
    if settings.second_encoder.strip().lower() in SECOND_OFF:
        return None
    for name, model in sorted(declared_second(store, collection).items()):
        folder = installed(model)
        if model == primary or folder is None:
            continue
        from recsys.encoder import get_encoder

        tuning = pair_of(primary, model)
        # A plain encoder (it notes no model): the store checks its query by ``model``.
        encoder = get_encoder(settings.model_copy(update={"model_dir": folder}))
        bar = tuning.second_min_dense
        return DenseSource(
            encoder,
            name,
            bar if bar is not None else tuning_for(model).min_dense,
            model,
            tuning.second_floor_dense,
        )
    return None
