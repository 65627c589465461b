"""Names and marks of encoder spaces (:mod:`recsys.store.spaces`), a leaf the store's base
uses: how a space's collections are named, the payload field naming a point's encoder, and the
context's note of which encoder's vectors it holds, checked before a search or a write."""

from __future__ import annotations

from contextvars import ContextVar

from recsys.core.errors import SpaceMismatchError
from recsys.store.model import CollectionSpec

__all__ = [
    "MODEL_FIELD",
    "SEPARATOR",
    "UNKNOWN",
    "check_model",
    "check_noted",
    "forget_model",
    "model_in_name",
    "note_model",
    "noted_model",
    "physical_name",
    "take_vectors",
]

#: Between the logical name and the model in a space's collection name.
SEPARATOR = "__"
#: Payload field naming the encoder of a point's vectors.
MODEL_FIELD = "embed_model"
#: Model of a collection whose vectors no known encoder produced (a re-embed is needed).
UNKNOWN = "unknown"

_noted: ContextVar[str | None] = ContextVar("recsys_vector_model", default=None)


def physical_name(logical: str, model: str) -> str:
    """The collection holding ``logical``'s points in ``model``'s space."""
    return f"{logical}{SEPARATOR}{model}"


def model_in_name(logical: str, physical: str) -> str | None:
    """The model a space collection's name carries; None for a plain (older) collection."""
    prefix = f"{logical}{SEPARATOR}"
    return physical[len(prefix) :] or None if physical.startswith(prefix) else None


def note_model(model: str | None) -> None:
    """Record that this context now holds vectors of ``model`` (None: nothing known)."""
    if model:
        _noted.set(model)


def noted_model() -> str | None:
    """The model of the vectors this context obtained last (None: none noted)."""
    return _noted.get()


def forget_model() -> None:
    """Forget what this context noted (its next vectors come from elsewhere: a test's own)."""
    _noted.set(None)


def check_model(spec: CollectionSpec, got: str | None, *, action: str) -> None:
    """Raise SpaceMismatchError when vectors of ``got`` would meet ``spec``'s space."""
    if spec.model and got and got != spec.model:
        raise SpaceMismatchError(
            f"cannot {action} {spec.name!r} (vectors of {spec.model}) with vectors of {got}: "
            "they are different encoders' spaces and are never compared",
            expected=spec.model,
            got=got,
        )


def check_noted(spec: CollectionSpec, model: str | None, *, action: str) -> None:
    """:func:`check_model` against ``model``, else against what this context noted. A noted
    model that fails it is forgotten as the error is raised: the work that held those vectors
    ends there, and the context's next work starts clean."""
    try:
        check_model(spec, model or noted_model(), action=action)
    except SpaceMismatchError:
        if model is None:
            forget_model()
        raise


def take_vectors(spec: CollectionSpec) -> None:
    """Vectors of ``spec``'s collection are being read into this context: refused when the
    context holds another space's (:func:`check_noted`), else noted."""
    check_noted(spec, None, action="read vectors of")
    note_model(spec.model)
