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
from recsys.search.fusion import TUNINGS, SearchTuning, pair_tuning, tuning_for
from recsys.search.service import DenseSource
from recsys.store.base import VectorStore
from recsys.store.spaces import (
    configured_model,
    declared_second,
    infer_model,
    installed,
    second_space,
    space_model,
)

if TYPE_CHECKING:
    from recsys.core.config import Settings

__all__ = ["own_tuning", "pair_of", "second_model", "second_source", "served_model"]


def second_model(primary: str) -> str | None:
    """The shipped encoder that pairs with ``primary`` (the tuning of the pair is known)."""
    for model in sorted(set(ENCODER_ALIASES.values())):
        if model != primary and pair_tuning(primary, second_space(model)) is not None:
            return model
    return None


def own_tuning(space: str) -> SearchTuning:
    """The one-encoder tuning of a second vector's space id: its own when tuned, else its
    model's."""
    return TUNINGS.get(space) or tuning_for(space_model(space))


def pair_of(primary: str, second: str) -> SearchTuning:
    """The tuning of ``primary`` and ``second`` (a space id: :func:`second_source`) fused: the
    pair's, else each encoder's own bar and floor for its list with the primary's fusion
    knobs."""
    tuned = pair_tuning(primary, second)
    if tuned is not None:
        return tuned
    own = own_tuning(second)
    return replace(
        tuning_for(primary), second_min_dense=own.min_dense, second_floor_dense=own.floor_dense
    )


def served_model(store: VectorStore, collection: str, settings: Settings) -> str:
    """The encoder whose vectors ``collection`` serves as "text" — what its queries must be
    tuned for, whatever ``RECSYS_ENCODER_MODEL`` says: the bound space's model; for a
    collection outside spaces, the encoder its vectors' size names
    (:func:`recsys.store.spaces.infer_model`); the configured one only when neither says."""
    spec = store.bound_spec(collection)
    if spec is not None and spec.model:
        return spec.model
    vectors = store.collection_vectors(collection) or {}
    if "text" in vectors:
        return infer_model(vectors["text"], settings)
    return configured_model(settings)


def second_source(
    store: VectorStore, collection: str, primary: str, settings: Settings
) -> DenseSource | None:
    """The second encoder's dense source for ``collection``, or None: the products carry no
    second encoder's vectors, or its folder is not installed (the Lambda layer ships the models
    that fit). What the collection holds decides, not ``RECSYS_SECOND_ENCODER``: that setting
    shapes new collections, and the embed path writes every vector a collection declares."""
    for name, space in sorted(declared_second(store, collection).items()):
        model = space_model(space)
        folder = installed(model)
        if space == primary or folder is None:
            continue
        from recsys.encoder import get_encoder

        tuning = pair_of(primary, space)
        # A plain encoder (it notes no model): the store checks its query by the vector's
        # space id (model, and the product text it embeds). Queries are embedded as typed.
        encoder = get_encoder(settings.model_copy(update={"model_dir": folder}))
        bar = tuning.second_min_dense
        return DenseSource(
            encoder,
            name,
            bar if bar is not None else own_tuning(space).min_dense,
            space,
            tuning.second_floor_dense,
        )
    return None
