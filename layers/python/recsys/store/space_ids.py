"""Names and marks of encoder spaces (:mod:`recsys.store.spaces`), a leaf the store's base
uses: how a space's collections are named, the payload field naming a point's encoder, and the
context's note of which encoder's vectors it holds, checked before a search or a write.

A products collection may carry a second encoder's vectors beside its own "text": the named
vector ``text__<model>`` (:func:`second_vector_name`), and its collection's name says so
(``products__<model>+<second>``). A search of that vector is checked against ``<second>``.

``<second>`` is the vector's *space id*: the model's folder name, followed by ``~<text>`` when
its vectors embed another product text than the full one (:data:`SECOND_TEXTS`;
``use-multilingual-v3-int8~title``: that model, titles alone). Vectors of one model over
different texts are different spaces: they are never compared, and a store whose products
carry the other text's vector gets the new one from ``recsys reembed``."""

from __future__ import annotations

from contextvars import ContextVar

from recsys.core.errors import SpaceMismatchError
from recsys.store.model import CollectionSpec

__all__ = [
    "MODEL_FIELD",
    "PAIR",
    "SECOND_TEXTS",
    "SECOND_VECTOR_PREFIX",
    "SEPARATOR",
    "TEXT_MARK",
    "UNKNOWN",
    "check_model",
    "check_noted",
    "forget_model",
    "model_in_name",
    "note_model",
    "noted_model",
    "physical_name",
    "reusable_vectors",
    "second_in_name",
    "second_space",
    "second_vector_name",
    "second_vectors",
    "space_model",
    "space_text",
    "take_vectors",
    "vector_model",
]

#: Between the logical name and the model in a space's collection name.
SEPARATOR = "__"
#: Payload field naming the encoder of a point's vectors.
MODEL_FIELD = "embed_model"
#: Model of a collection whose vectors no known encoder produced (a re-embed is needed).
UNKNOWN = "unknown"
#: Between a space's model and the second encoder its products carry, in the collection name.
PAIR = "+"
#: A second encoder's named vector is ``text__<model folder>``.
SECOND_VECTOR_PREFIX = f"text{SEPARATOR}"
#: Between a second vector's model and the product text it embeds, in its space id.
TEXT_MARK = "~"
#: The product text a model's second vector embeds when it is not the full product text
#: (:func:`recsys.catalog.text.vector_text`). Multilingual USE reads shoppers' languages better
#: from the title alone (unshouted), while MiniLM, the store's "text", keeps title + category
#: for English paraphrases (docs/EVALUATION.md, "Search").
SECOND_TEXTS: dict[str, str] = {"use-multilingual-v3-int8": "title"}

_noted: ContextVar[str | None] = ContextVar("recsys_vector_model", default=None)


def physical_name(logical: str, model: str, second: str | None = None) -> str:
    """The collection holding ``logical``'s points in ``model``'s space (with ``second``'s
    vectors beside them: ``products__<model>+<second>``)."""
    return f"{logical}{SEPARATOR}{model}" + (f"{PAIR}{second}" if second else "")


def model_in_name(logical: str, physical: str) -> str | None:
    """The model a space collection's name carries; None for a plain (older) collection."""
    prefix = f"{logical}{SEPARATOR}"
    if not physical.startswith(prefix):
        return None
    return physical[len(prefix) :].split(PAIR, 1)[0] or None


def second_in_name(logical: str, physical: str) -> str | None:
    """The second encoder a space collection's name carries (None: none)."""
    if model_in_name(logical, physical) is None or PAIR not in physical:
        return None
    return physical.split(PAIR, 1)[1] or None


def second_vector_name(space: str) -> str:
    """The named vector products carry the second vectors of space id ``space`` in (a model,
    or :func:`second_space`'s model and text)."""
    return f"{SECOND_VECTOR_PREFIX}{space}"


def second_space(model: str) -> str:
    """The space id of ``model``'s vectors as a second encoder: the model, with the product
    text they embed when it is not the full one (:data:`SECOND_TEXTS`)."""
    text = SECOND_TEXTS.get(model)
    return f"{model}{TEXT_MARK}{text}" if text else model


def space_model(space: str) -> str:
    """The model (folder name) of a second vector's space id."""
    return space.split(TEXT_MARK, 1)[0]


def space_text(space: str) -> str | None:
    """The product text a second vector's space id embeds (None: the full product text)."""
    return space.partition(TEXT_MARK)[2] or None


def second_vectors(spec: CollectionSpec) -> dict[str, str]:
    """The second encoders' vectors ``spec`` declares: vector name → space id."""
    return {
        name: name[len(SECOND_VECTOR_PREFIX) :]
        for name in spec.vectors
        if name.startswith(SECOND_VECTOR_PREFIX)
    }


def vector_model(spec: CollectionSpec, using: str | None) -> str | None:
    """The encoder space of ``spec``'s named vector ``using`` (a second vector's own space id;
    else the collection's model)."""
    if using is not None and using.startswith(SECOND_VECTOR_PREFIX):
        return using[len(SECOND_VECTOR_PREFIX) :]
    return spec.model


def reusable_vectors(served: CollectionSpec | None, target: CollectionSpec) -> dict[str, str]:
    """The vectors of ``target`` whose space ``served`` holds already: target name → served
    name (the served store's "text" is its model's; a ``text__<m>`` vector is ``m``'s)."""
    if served is None or not served.model:
        return {}
    held = {vector_model(served, name): name for name in served.vectors}
    wanted = {name: vector_model(target, name) for name in target.vectors}
    return {name: held[model] for name, model in wanted.items() if model in held}


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


def check_model(
    spec: CollectionSpec, got: str | None, *, action: str, using: str | None = None
) -> None:
    """Raise SpaceMismatchError when vectors of ``got`` would meet ``spec``'s space (or, with
    ``using``, that named vector's: a second encoder's is its own)."""
    expected = vector_model(spec, using) if spec.model else None
    if expected and got and got != expected:
        raise SpaceMismatchError(
            f"cannot {action} {spec.name!r} (vectors of {expected}) with vectors of {got}: "
            "they are different encoders' spaces and are never compared",
            expected=expected,
            got=got,
        )


def check_noted(
    spec: CollectionSpec, model: str | None, *, action: str, using: str | None = None
) -> None:
    """:func:`check_model` against ``model``, else against what this context noted. A noted
    model that fails it is forgotten as the error is raised: the work that held those vectors
    ends there, and the context's next work starts clean."""
    try:
        check_model(spec, model or noted_model(), action=action, using=using)
    except SpaceMismatchError:
        if model is None:
            forget_model()
        raise


def take_vectors(spec: CollectionSpec) -> None:
    """Vectors of ``spec``'s collection are being read into this context: refused when the
    context holds another space's (:func:`check_noted`), else noted."""
    check_noted(spec, None, action="read vectors of")
    note_model(spec.model)
