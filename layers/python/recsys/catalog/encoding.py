"""The encoder of the space a store serves, which is not always the configured one.

``RECSYS_ENCODER_MODEL`` says which encoder the store *should* use; the store's pointer says
whose vectors it *holds* (:mod:`recsys.store.spaces`). Queries and new products are encoded
with the latter — after a restart with a changed ``RECSYS_ENCODER_MODEL`` the process keeps
serving from the old space until ``recsys reembed`` switches it, and follows the switch on its
own. Each :meth:`SpaceEncoder.encode` notes the model it used, so the store refuses to compare
those vectors with another space's (a switch between encoding and searching).

A products collection may also declare a second encoder's vector ``text__<model>``
(``RECSYS_SECOND_ENCODER``); :func:`second_vectors_for` encodes the products for each one
whose model is installed here — over the product text its space id names — with plain encoders
that note nothing (the vectors go under the name that says whose they are).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.catalog.text import vector_text
from recsys.core.config import Settings, model_dimension, resolve_model_dir
from recsys.core.errors import EncoderError
from recsys.store.base import VectorStore
from recsys.store.space_ids import space_text
from recsys.store.spaces import (
    UNKNOWN,
    active_model,
    configured_model,
    declared_second,
    installed,
    note_model,
    space_model,
)

__all__ = ["ModelEncoder", "SpaceEncoder", "second_vectors_for", "settings_for_model"]

log = logging.getLogger(__name__)
#: Second encoders found missing here, said once per process.
_missing: set[str] = set()


def settings_for_model(settings: Settings, model: str) -> Settings:
    """``settings`` with encoder ``model`` (a folder under models_onnx/ or an alias) chosen."""
    if model == configured_model(settings):
        return settings
    if model.startswith(UNKNOWN):
        raise EncoderError(
            f"the store's vectors are of an unknown encoder ({model}): run `recsys reembed` "
            "to re-embed the catalog with RECSYS_ENCODER_MODEL"
        )
    folder = resolve_model_dir(model)
    dim = model_dimension(folder)
    if dim is None:
        raise EncoderError(
            f"the store holds vectors of encoder {model!r}, which this deployment does not "
            f"have ({folder}): run `recsys reembed` to move the store to "
            f"{configured_model(settings)!r}"
        )
    return settings.model_copy(
        update={"encoder_model": folder.name, "model_dir": folder, "vector_size": dim}
    )


class ModelEncoder:
    """One encoder model, loaded on first use, noting its model with every encode."""

    def __init__(self, settings: Settings, model: str | None = None) -> None:
        self.settings = settings_for_model(settings, model) if model else settings
        self.model = Path(self.settings.model_dir).name

    @property
    def dim(self) -> int:
        """The length of its vectors."""
        return self.settings.vector_size

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the model reads (its folder's config; search weighs lists by it)."""
        from recsys.encoder import get_encoder

        return get_encoder(self.settings).languages

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        from recsys.encoder import get_encoder

        vectors = get_encoder(self.settings).encode(texts)
        note_model(self.model)
        return vectors


class SpaceEncoder:
    """Encodes with the model of the store's active space (the configured one for a store
    without spaces); follows a switch on the next call."""

    def __init__(self, store: Callable[[], VectorStore], settings: Settings) -> None:
        self._store = store
        self.settings = settings
        self._encoders: dict[str, ModelEncoder] = {}

    @property
    def model(self) -> str:
        """The model the next :meth:`encode` uses."""
        return active_model(self._store(), self.settings) or configured_model(self.settings)

    def current(self) -> ModelEncoder:
        """The encoder of the active space (loaded on its first encode)."""
        model = self.model
        encoder = self._encoders.get(model)
        if encoder is None:
            encoder = self._encoders[model] = ModelEncoder(self.settings, model)
        return encoder

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the active space's model reads."""
        return self.current().languages

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        encoder = self.current()
        vectors = encoder.encode(texts)
        if self.model != encoder.model:
            # The space moved while encoding (a first encode loads its model: seconds).
            vectors = self.current().encode(texts)
        return vectors


def second_vectors_for(
    store: VectorStore,
    collection: str,
    products: Sequence[Mapping[str, Any]],
    settings: Settings,
    *,
    texts: Sequence[str] | None = None,
    only: Collection[str] | None = None,
) -> dict[str, npt.NDArray[np.float32]]:
    """The second encoders' vectors of ``products`` (their payloads) for the collection's
    ``text__<space>`` vectors (none when it declares none; ``only``: those of these names),
    each over the product text its space id names (:func:`recsys.catalog.text.vector_text`;
    ``texts``: the full texts when the caller has them already). A model not installed here is
    left out — its products then lack that vector, and search lists them by the primary's
    alone, until the nightly job fills it in (:func:`recsys.catalog.embed.fill_second_vectors`)."""
    from recsys.encoder import get_encoder

    out: dict[str, npt.NDArray[np.float32]] = {}
    for name, space in declared_second(store, collection).items():
        if only is not None and name not in only:
            continue
        model, text = space_model(space), space_text(space)
        folder = installed(model)
        if folder is None:
            if model not in _missing:
                _missing.add(model)
                log.warning("%s declares %s, but %s is not installed here", collection, name, model)
            continue
        inputs = (
            list(texts)
            if text is None and texts is not None
            else [vector_text(text, p) for p in products]
        )
        out[name] = get_encoder(settings.model_copy(update={"model_dir": folder})).encode(inputs)
    return out
