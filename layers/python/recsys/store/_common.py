"""Backend-independent pieces of the vector store: payload flags, vector checks, recommend maths.

Both backends route through these so that they agree on what is accepted, what is stored and
how a recommendation query vector is formed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from recsys.core.errors import StoreError, ValidationError
from recsys.store.model import (
    FLAG_FIELDS,
    CollectionSpec,
    Filters,
    PointIn,
    Record,
    SparseVector,
    Vector,
)


def unique(keys: Iterable[str]) -> list[str]:
    """``keys`` without repeats, first occurrence order kept."""
    return list(dict.fromkeys(keys))


def encode_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``payload`` with flags as 0/1 integers (qdrant-edge cannot match booleans)."""
    out = dict(payload)
    for name in FLAG_FIELDS:
        value = out.get(name)
        if value is None:
            continue
        if not isinstance(value, bool | int | np.bool_ | np.integer) or int(value) not in (0, 1):
            raise ValidationError(f"flag {name!r} must be a boolean, got {value!r}", field=name)
        out[name] = int(bool(value))
    return out


def decode_payload(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of a stored payload with flags back as ``bool``."""
    out = dict(payload or {})
    for name in FLAG_FIELDS:
        value = out.get(name)
        if value is not None:
            out[name] = bool(value)
    return out


def check_vector(spec: CollectionSpec, name: str, vector: Any, *, key: str) -> Vector:
    """``vector`` as a float32 array, or a ValidationError naming the point and the vector."""
    if name not in spec.vectors:
        raise ValidationError(
            f"point {key!r}: unknown vector {name!r} for collection {spec.name!r} "
            f"(has {sorted(spec.vectors)})",
            field=name,
        )
    arr = np.asarray(vector, dtype=np.float32)
    if arr.shape != (spec.vectors[name],):
        raise ValidationError(
            f"point {key!r}: vector {name!r} has shape {arr.shape}, "
            f"expected ({spec.vectors[name]},)",
            field=name,
        )
    if not np.all(np.isfinite(arr)):
        raise ValidationError(f"point {key!r}: vector {name!r} has NaN or inf", field=name)
    # Cosine normalises by the norm: a zero vector has no direction and scores NaN.
    if not np.any(arr):
        raise ValidationError(f"point {key!r}: vector {name!r} is all zeros", field=name)
    return arr


def check_sparse(
    spec: CollectionSpec, point: PointIn, *, available: Iterable[str]
) -> dict[str, SparseVector]:
    """The point's sparse vectors the collection holds (``available``), checked; the ones an
    older collection lacks are left out so writes keep working until it is rebuilt."""
    have = set(available)
    out: dict[str, SparseVector] = {}
    for name, vec in point.sparse.items():
        if name not in spec.sparse_vectors:
            raise ValidationError(
                f"point {point.key!r}: unknown sparse vector {name!r} for collection "
                f"{spec.name!r} (has {sorted(spec.sparse_vectors)})",
                field=name,
            )
        if name not in have:
            continue
        check_sparse_vector(vec, key=point.key, name=name)
        if vec.indices:
            out[name] = vec
    return out


def check_sparse_vector(vec: SparseVector, *, key: str, name: str) -> None:
    """Raise unless indices are distinct u32 and values finite, one per index."""
    if len(vec.indices) != len(vec.values):
        raise ValidationError(
            f"point {key!r}: sparse {name!r} has {len(vec.indices)} indices and "
            f"{len(vec.values)} values",
            field=name,
        )
    if len(set(vec.indices)) != len(vec.indices) or any(not 0 <= i < 2**32 for i in vec.indices):
        raise ValidationError(f"point {key!r}: sparse {name!r} indices must be distinct u32")
    if not all(np.isfinite(vec.values)):
        raise ValidationError(f"point {key!r}: sparse {name!r} has NaN or inf", field=name)


def check_point(spec: CollectionSpec, point: PointIn) -> tuple[dict[str, Vector], dict[str, Any]]:
    """Validated vectors and the payload to store (key field set, flags encoded)."""
    if not isinstance(point.key, str) or not point.key:
        raise ValidationError(
            f"point key must be a non-empty string, got {point.key!r}", field=spec.key_field
        )
    if not point.vectors:
        raise ValidationError(f"point {point.key!r} has no vectors", field="vectors")
    vectors = {
        name: check_vector(spec, name, vec, key=point.key) for name, vec in point.vectors.items()
    }
    payload = encode_payload(point.payload)
    stored_key = payload.setdefault(spec.key_field, point.key)
    if stored_key != point.key:
        raise ValidationError(
            f"point {point.key!r}: payload {spec.key_field}={stored_key!r} differs from its key",
            field=spec.key_field,
        )
    return vectors, payload


def average_query(positives: Sequence[Vector], negatives: Sequence[Vector]) -> Vector:
    """Qdrant's ``average_vector`` recommendation query: 2·mean(pos) − mean(neg), or mean(pos).

    Same formula as the Qdrant server and qdrant-client, so both backends rank alike.
    """
    mean_pos: Vector = np.mean(np.stack(positives), axis=0, dtype=np.float32)
    if not negatives:
        return mean_pos
    mean_neg: Vector = np.mean(np.stack(negatives), axis=0, dtype=np.float32)
    query: Vector = mean_pos + mean_pos - mean_neg
    if not np.any(query):
        raise ValidationError("positive and negative examples cancel out", field="negative")
    return query


def check_using(spec: CollectionSpec, using: str) -> None:
    """Raise if ``using`` is not one of the collection's vectors."""
    if using not in spec.vectors:
        raise ValidationError(
            f"collection {spec.name!r} has no vector {using!r} (has {sorted(spec.vectors)})",
            field="using",
        )


def check_limit(limit: int) -> None:
    """Raise unless ``limit`` is a positive integer."""
    if limit < 1:
        raise ValidationError(f"limit must be ≥ 1, got {limit}", field="limit")


def unknown_collection(name: str, known: Iterable[str]) -> StoreError:
    """The error for a collection this store was never told about."""
    return StoreError(
        f"collection {name!r} is not open in this store; call ensure_collection() first "
        f"(open: {sorted(known)})"
    )


def check_filters(filters: Filters) -> None:
    """Raise on filters no point can satisfy by construction (an inverted price range)."""
    low, high = filters.price_min, filters.price_max
    if low is not None and high is not None and low > high:
        raise ValidationError(f"price_min {low} is above price_max {high}", field="price_min")


def check_query(spec: CollectionSpec, using: str, vector: Any) -> Vector:
    """A search vector as float32, checked against the named vector ``using``."""
    check_using(spec, using)
    return check_vector(spec, using, vector, key="<query>")


def check_examples(positive: Sequence[str]) -> None:
    """Raise unless a recommendation has at least one positive example."""
    if not positive:
        raise ValidationError("recommend needs at least one positive example", field="positive")


#: The payload index kinds a collection spec lists, by the spec attribute that lists them.
INDEX_KINDS = {
    "keyword_indexes": "keyword",
    "float_indexes": "float",
    "integer_indexes": "integer",
    "datetime_indexes": "datetime",
}


def missing_indexes(spec: CollectionSpec, existing: Iterable[str]) -> list[tuple[str, str]]:
    """(field, kind) of each payload index ``spec`` asks for that is not in ``existing``."""
    have = set(existing)
    return [
        (name, kind)
        for attr, kind in INDEX_KINDS.items()
        for name in getattr(spec, attr)
        if name not in have
    ]


def dense_vectors(spec: CollectionSpec, raw: Any) -> dict[str, Vector]:
    """The dense vectors of a stored point as float32 (its sparse ones are the store's own
    index, not vectors callers compute with)."""
    if not isinstance(raw, Mapping):
        return {}
    return {
        name: np.asarray(vec, dtype=np.float32)
        for name, vec in raw.items()
        if name not in spec.sparse_vectors
    }


def vector_selection(spec: CollectionSpec, with_vectors: bool | Sequence[str]) -> bool | list[str]:
    """What a read asks the engine for: every vector (True), none (False), or the named dense
    vectors (each one the collection has; none named is False)."""
    if isinstance(with_vectors, bool):
        return with_vectors
    names = unique([with_vectors] if isinstance(with_vectors, str) else with_vectors)
    for name in names:
        check_using(spec, name)
    return names or False


def payload_selection(spec: CollectionSpec, fields: Sequence[str] | None) -> list[str] | None:
    """The payload fields a read asks the engine for (the key field always), None for all."""
    if fields is None:
        return None
    return unique([spec.key_field, *([fields] if isinstance(fields, str) else fields)])


# Extra hits asked past a sparse list's cut-off, so that the points tied at it can be seen.
TIE_PAD = 16
#: A backend's sparse search of several vectors ``depth`` deep, each list best first.
SparseFetch = Callable[[Sequence[SparseVector], int], list[list[Record]]]


def ranked_lists(
    fetch: SparseFetch,
    vectors: Sequence[SparseVector],
    limit: int,
) -> list[list[Record]]:
    """Each vector's top ``limit`` (``fetch(vectors, depth)``: the engine's lists, best first)
    with ties at the cut-off broken by key. BM25 ties are common (same words, same length) and
    the engines return tied points in no fixed order, so the lists are fetched past the
    cut-off, deeper while the last score fetched still equals the ``limit``-th, then sorted by
    (score desc, key asc) and cut."""
    out: list[list[Record]] = [[] for _ in vectors]
    todo, depth = list(range(len(vectors))), limit + TIE_PAD
    while todo:
        again = []
        for i, records in zip(todo, fetch([vectors[i] for i in todo], depth), strict=True):
            full = len(records) >= depth and len(records) > limit
            if full and records[-1].score >= records[limit - 1].score:
                again.append(i)
            else:
                out[i] = sorted(records, key=lambda r: (-r.score, r.key))[:limit]
        todo, depth = again, depth * 2
    return out
