"""Encoder spaces: which encoder's vectors the products and users collections hold.

A vector means something only next to vectors of the same encoder, so a store keeps each
encoder's vectors apart and never compares across them:

- **Naming.** The products and users of encoder ``m`` live in the collections
  ``products__m`` and ``users__m`` (``m`` is the model's folder name under models_onnx/, e.g.
  ``all-MiniLM-L6-v2-int8``); the collection's spec carries ``model`` and its vectors' size, and
  every point written there gets ``embed_model: m`` in its payload. A collection created before
  spaces existed keeps its plain name (``products``) and is taken to hold the configured
  encoder's vectors when the size matches, else the one shipped encoder of that size.
- **The pointer.** Callers keep using the logical names (``settings.products_collection``);
  the store resolves each to the collection its pointer names: a Qdrant alias on a server
  (one ``update_collection_aliases`` call moves both at once), ``spaces.json`` beside the
  qdrant-edge shards (replaced atomically). Stores follow a moved pointer on their next call
  (qdrant-edge: the same process, at once; a server: within ``follow_every_s``).
- **No mixing.** The last model whose vectors a context (thread, request task) obtained — from
  an encoder (:class:`recsys.catalog.encoding.SpaceEncoder`) or from the store itself — is
  noted in a context variable; a search or upsert of a collection of another model raises
  :class:`~recsys.core.errors.SpaceMismatchError` instead of comparing. Callers may also name
  the query's model explicitly (``model=``).

- **A second encoder for search.** With ``RECSYS_SECOND_ENCODER`` (default ``auto``: the other
  shipped encoder, when its folder is installed; :func:`second_model_for`) a new products
  collection also declares that encoder's vector ``text__<second>`` and is named
  ``products__<model>+<second>``; the embed path writes both, search fuses both, everything
  else reads "text". A collection keeps the vectors it was created with: one without the second
  vector gets it from ``recsys reembed`` (which copies "text" and encodes only the new vector).

Changing the encoder of a populated store is :mod:`recsys.jobs.reembed`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from recsys.core.config import (
    DEFAULT_ENCODER_MODEL,
    ENCODER_ALIASES,
    model_dimension,
    models_root,
    resolve_model_dir,
)
from recsys.store.model import CollectionSpec, products_spec, users_spec
from recsys.store.space_ids import (
    MODEL_FIELD,
    SEPARATOR,
    UNKNOWN,
    check_model,
    forget_model,
    model_in_name,
    note_model,
    noted_model,
    physical_name,
    second_space,
    second_vector_name,
    second_vectors,
    space_model,
)

if TYPE_CHECKING:
    from recsys.core.config import Settings
    from recsys.store.base import VectorStore

__all__ = [
    "MODEL_FIELD",
    "SECOND_OFF",
    "SEPARATOR",
    "UNKNOWN",
    "active_model",
    "check_model",
    "configured_model",
    "declared_second",
    "forget_model",
    "infer_model",
    "installed",
    "model_in_name",
    "note_model",
    "noted_model",
    "open_spaces",
    "physical_name",
    "read_pointer_file",
    "second_model_for",
    "second_space",
    "second_vector_name",
    "second_vectors",
    "space_model",
    "space_specs",
]

log = logging.getLogger(__name__)

#: ``RECSYS_SECOND_ENCODER`` values that turn the second encoder off.
SECOND_OFF = frozenset({"", "none", "off"})


def configured_model(settings: Settings) -> str:
    """The encoder ``settings`` choose: its folder's name (``RECSYS_ENCODER_MODEL``)."""
    return Path(settings.model_dir).name


def infer_model(dim: int, settings: Settings) -> str:
    """The encoder a plain collection of ``dim``-d vectors is taken to hold: the configured one
    when the size matches, else the one shipped encoder of that size, else ``unknown-<dim>d``."""
    if dim == settings.vector_size:
        return configured_model(settings)
    root = models_root()
    sized = sorted({f for f in ENCODER_ALIASES.values() if model_dimension(root / f) == dim})
    return sized[0] if len(sized) == 1 else f"{UNKNOWN}-{dim}d"


def second_model_for(settings: Settings, model: str | None = None) -> str | None:
    """The second encoder whose vectors the products of ``model``'s space (default: the
    configured encoder's) carry for search, from ``RECSYS_SECOND_ENCODER``: ``auto`` the other
    shipped encoder (the multilingual one beside any other, MiniLM beside it), ``none`` none,
    else that folder or alias. None as well when it is the space's own encoder or its folder is
    not installed (the Lambda layer ships the models that fit, usually one)."""
    primary = model or configured_model(settings)
    choice = settings.second_encoder.strip()
    key = choice.lower()
    if key in SECOND_OFF or primary.startswith(UNKNOWN):
        return None
    if key == "auto":
        multilingual = ENCODER_ALIASES["multilingual"]
        second = multilingual if primary != multilingual else DEFAULT_ENCODER_MODEL
    else:
        second = ENCODER_ALIASES.get(key, choice)
    try:
        name = resolve_model_dir(second).name
    except ValueError:
        log.warning(
            "RECSYS_SECOND_ENCODER=%s is not a model folder name: no second encoder", choice
        )
        return None
    if name == primary:
        return None
    if installed(name) is None:
        if key != "auto":
            log.warning("second encoder %s is not installed here: search uses one", name)
        return None
    return name


def installed(model: str) -> Path | None:
    """The folder of encoder ``model`` when it is installed here (its config and model)."""
    folder = models_root() / model
    if model_dimension(folder) is None or not (folder / "model.onnx").is_file():
        return None
    return folder


def declared_second(store: VectorStore, collection: str) -> dict[str, str]:
    """The second encoders' vectors the (logical or physical) products collection declares:
    vector name → space id (:func:`space_model` its model)."""
    spec = store.bound_spec(collection)
    if spec is not None:
        return second_vectors(spec)
    vectors = store.collection_vectors(collection) or {}
    return second_vectors(replace(products_spec(collection), vectors=vectors))


def space_specs(
    settings: Settings, model: str | None = None, dim: int | None = None
) -> dict[str, CollectionSpec]:
    """Logical name → the spec of its collection in ``model``'s space (default: configured);
    the products' with the second encoder's vector when there is one (:func:`second_model_for`)."""
    model = model or configured_model(settings)
    size = dim or settings.vector_size
    makers: dict[str, Callable[[str, int], CollectionSpec]] = {
        settings.products_collection: products_spec,
        settings.users_collection: users_spec,
    }
    specs = {
        logical: replace(make(physical_name(logical, model), size), key_space=logical, model=model)
        for logical, make in makers.items()
    }
    second = second_model_for(settings, model)
    second_dim = model_dimension(models_root() / second) if second else None
    if second and second_dim:
        logical = settings.products_collection
        spec = specs[logical]
        specs[logical] = replace(
            spec,
            name=physical_name(logical, model, second_space(second)),
            vectors={**spec.vectors, second_vector_name(second_space(second)): second_dim},
        )
    return specs


def _existing_spec(
    store: VectorStore, logical: str, physical: str, template: CollectionSpec, settings: Settings
) -> CollectionSpec | None:
    """The spec of ``physical`` as it exists (its vectors' size, the model it holds); None
    when there is no such collection."""
    vectors = store.collection_vectors(physical)
    if vectors is None:
        return None
    dim = _own_dim(vectors)
    model = model_in_name(logical, physical) or infer_model(dim, settings)
    # As it exists: its own vectors and whatever second encoder's it was created with.
    return replace(template, name=physical, vectors=vectors, model=model)


def _own_dim(vectors: Mapping[str, int]) -> int:
    """The size of a collection's own vectors (not a second encoder's)."""
    own = [dim for name, dim in vectors.items() if SEPARATOR not in name]
    return (own or list(vectors.values()))[0]


def _sized(template: CollectionSpec, name: str, dim: int, model: str) -> CollectionSpec:
    """``template`` as collection ``name`` of ``model``'s ``dim``-d vectors (no second
    encoder's: they were chosen for the configured encoder)."""
    own = {k: dim for k in template.vectors if SEPARATOR not in k}
    return replace(template, name=name, vectors=own, model=model)


def _unpointed(store: VectorStore, logical: str, model: str | None) -> str | None:
    """A space collection of ``logical`` that no pointer names (a switch cut short between
    dropping a plain collection and making its alias): ``model``'s, else the only one."""
    prefix = f"{logical}{SEPARATOR}"
    found = [name for name in store.collections() if name.startswith(prefix)]
    mine = [name for name in found if model and model_in_name(logical, name) == model]
    if len(mine) == 1:
        return mine[0]
    return found[0] if len(found) == 1 else None


def open_spaces(store: VectorStore, settings: Settings) -> None:
    """Open the products and users collections of the store's active space and bind their
    logical names to them. A new store is created in the configured encoder's space; one created
    before spaces existed is used as it is (plain names), and a collection missing beside
    existing ones joins their space (their model, size and naming)."""
    pointers = store.read_pointers()
    created: dict[str, str] = {}
    joined: CollectionSpec | None = None  # the space's first collection, products
    for logical, template in space_specs(settings).items():
        spec = store.bound_spec(logical)
        if spec is None:
            physical = pointers.get(logical)
            if physical is None and store.collection_vectors(logical) is not None:
                physical = logical  # made before spaces
            if physical is None:
                physical = _unpointed(store, logical, joined.model if joined else template.model)
                if physical is not None:
                    created[logical] = physical
            spec = (
                _existing_spec(store, logical, physical, template, settings) if physical else None
            )
            if spec is None:
                plain = joined is not None and joined.key_space == joined.name
                model = joined.model if joined is not None and joined.model else template.model
                dim = _own_dim(joined.vectors) if joined else settings.vector_size
                if not plain and model == template.model and dim == _own_dim(template.vectors):
                    spec = template  # the configured space, second encoder's vector and all
                else:
                    name = logical if plain else physical_name(logical, model or UNKNOWN)
                    spec = _sized(template, name, dim, model or UNKNOWN)
                if not plain:
                    created[logical] = spec.name
            store.ensure_collection(spec)
            store.bind(logical, spec.name)
        joined = joined or spec
    if created:
        store.write_pointers(created)
    _warn_without_second(store, settings)
    active = active_model(store, settings)
    wanted = configured_model(settings)
    if active and active != wanted:
        log.warning(
            "RECSYS_ENCODER_MODEL is %s but the store holds %s's vectors: serving from %s's "
            "space until `recsys reembed` switches it",
            wanted,
            active,
            active,
        )


def _warn_without_second(store: VectorStore, settings: Settings) -> None:
    """Say so when the served products lack the second encoder's vectors asked for."""
    spec = store.bound_spec(settings.products_collection)
    if spec is None or not spec.model:
        return
    second = second_model_for(settings, spec.model)
    wanted = second_vector_name(second_space(second)) if second else None
    if wanted and wanted not in spec.vectors:
        log.warning(
            "%s holds no %s vectors: search uses one encoder until `recsys reembed` adds them",
            spec.name,
            wanted,
        )


def active_model(store: VectorStore, settings: Settings) -> str | None:
    """The model of the products collection the store serves (None: not a space)."""
    spec = store.bound_spec(settings.products_collection)
    return spec.model if spec is not None else None


def read_pointer_file(path: Path) -> dict[str, str]:
    """A ``spaces.json`` pointer file: logical → collection (empty when absent)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    pointers = data.get("collections", {}) if isinstance(data, dict) else {}
    return {str(k): str(v) for k, v in pointers.items()} if isinstance(pointers, Mapping) else {}
