"""The second encoder of search: the other shipped model, when the products carry its vectors.

English MiniLM reads English paraphrases best; multilingual USE reads the shoppers' other
languages. A products collection that holds a second named vector ``text__<model>`` beside
"text" (the primary encoder's) is searched with both (:mod:`recsys.search.fusion`); the store
and the embed pipeline decide whether it holds one — search only looks. Recommendations,
profiles and similar items stay on the primary encoder's "text".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recsys.core.config import ENCODER_ALIASES, model_dimension, models_root
from recsys.search.fusion import TUNINGS, pair_tuning
from recsys.search.service import DenseSource, holds_vector, second_vector_name
from recsys.store.base import VectorStore

if TYPE_CHECKING:
    from recsys.core.config import Settings

__all__ = ["second_model", "second_source"]


def second_model(primary: str) -> str | None:
    """The shipped encoder that pairs with ``primary`` (the tuning of the pair is known)."""
    for model in sorted(set(ENCODER_ALIASES.values())):
        if model != primary and pair_tuning(primary, model) is not None:
            return model
    return None


def second_source(
    store: VectorStore, collection: str, primary: str, settings: Settings
) -> DenseSource | None:
    """The second encoder's dense source for ``collection``, or None: no paired model, its
    folder is not installed (the Lambda layer ships one encoder), or the products do not carry
    its vectors."""
    model = second_model(primary)
    tuning = pair_tuning(primary, model) if model else None
    if model is None or tuning is None:
        return None
    folder = models_root() / model
    dim = model_dimension(folder)
    name = second_vector_name(model)
    if dim is None or not (folder / "model.onnx").is_file():
        return None
    if not holds_vector(store, collection, name, dim):
        return None
    from recsys.encoder import get_encoder

    encoder = get_encoder(settings.model_copy(update={"model_dir": folder}))
    own = TUNINGS[model]
    bar, floor = tuning.second_min_dense, tuning.second_floor_dense
    return DenseSource(
        encoder,
        name,
        bar if bar is not None else own.min_dense,
        model,
        floor if floor is not None else own.floor_dense,
    )
