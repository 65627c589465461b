"""The vector-store contract every backend honours (qdrant-client, qdrant-edge).

:class:`VectorStore` is a template: its public methods do every step both backends share —
the collection registry, the logical names bound to an encoder's space (:mod:`recsys.store.spaces`:
which collection serves ``products``, the model check on every search and write, ``embed_model``
in every payload), argument and point checks, payload flag encoding, filters as
neutral conditions, key ↔ point id mapping, records in the order asked, the scroll loop, the
average-vector rule of recommendations — and call a few ``_hooks`` that each backend
implements for its engine. So the backends cannot drift apart in what they accept, store or
return; the contract tests (tests/integration/store/test_store_contract.py) run on both.

The data shapes live in :mod:`recsys.store.model` (re-exported here).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

from recsys.core.errors import ExamplesNotFoundError, NotFoundError, StoreError
from recsys.store._common import (
    SparseFetch,
    check_examples,
    check_limit,
    check_point,
    check_query,
    check_sparse,
    check_sparse_vector,
    check_using,
    decode_payload,
    dense_vectors,
    encode_payload,
    payload_selection,
    ranked_lists,
    unique,
    unknown_collection,
    vector_selection,
)
from recsys.store._memo import VectorMemo
from recsys.store.backend import StoreBackend
from recsys.store.conditions import filter_conditions
from recsys.store.model import (
    FLAG_FIELDS,
    CheckedPoint,
    CollectionSpec,
    Filters,
    PointIn,
    Record,
    SparseVector,
    StoredPoint,
    Vector,
    point_id,
    products_spec,
    users_spec,
)
from recsys.store.space_ids import MODEL_FIELD, check_noted, take_vectors

__all__ = [
    "FLAG_FIELDS",
    "CheckedPoint",
    "CollectionSpec",
    "Filters",
    "PointIn",
    "Record",
    "SparseVector",
    "StoredPoint",
    "Vector",
    "VectorStore",
    "point_id",
    "products_spec",
    "users_spec",
]


class VectorStore(StoreBackend):
    """Operations the system needs; backends implement the ``_hooks`` below the line (and
    those of :class:`~recsys.store.bindings.SpaceBindings`)."""

    def __init__(self) -> None:
        self._specs = {}
        self._bound = {}
        self._stamp = None
        self._view = ContextVar(f"recsys_store_view_{id(self)}", default=None)
        self._registry_lock = threading.RLock()
        self._closed = False
        self._memo = VectorMemo()

    # --- collections -------------------------------------------------------------------------

    def ensure_collection(self, spec: CollectionSpec) -> None:
        """Create the collection and its payload indexes if absent (idempotent)."""
        with self._registry_lock:
            self._check_open()
            known = self._specs.get(spec.name)
            if known is not None:
                if known != replace(spec, key_space=known.key_space, model=known.model):
                    raise StoreError(f"collection {spec.name!r} is already open with another spec")
                # Opened plainly first (a test, an older caller): now known as a space's.
                self._specs[spec.name] = replace(known, key_space=spec.key_space, model=spec.model)
                return
            self._open_collection(spec)
            self._specs[spec.name] = spec

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"this store is closed ({self!r})")

    def _spec(self, collection: str) -> CollectionSpec:
        self._check_open()
        name = self._resolve(collection) if collection in self._bound else collection
        try:
            return self._specs[name]
        except KeyError:
            raise unknown_collection(collection, self._specs) from None

    def has_sparse(self, collection: str, name: str) -> bool:
        """Whether the open collection holds the sparse vector ``name`` (a collection created
        before it declared one has none until it is rebuilt)."""
        return name in self._sparse_names(self._spec(collection).name)

    def change_mark(self, collection: str) -> object | None:
        """A value that changes after every write that may remove, deactivate or replace a
        point of ``collection`` — as every reader sees it, once that write has returned — or
        None when the backend cannot tell without asking the server (other processes write
        there). Lets a caller skip re-reading points it checked under the same mark."""
        self._spec(collection)
        return None

    # --- writes ------------------------------------------------------------------------------

    def upsert(
        self, collection: str, points: Sequence[PointIn], *, model: str | None = None
    ) -> None:
        """Insert or replace points (vectors and payload) in one batch. Vectors of another
        encoder than the collection's (``model``, else the one this context noted last) are
        refused; a space's points get ``embed_model`` in their payload."""
        spec = self._spec(collection)
        check_noted(spec, model, action="write into")
        available = self._sparse_names(spec.name)
        checked = []
        for point in points:
            vectors, payload = check_point(spec, point)
            sparse = check_sparse(spec, point, available=available)
            if spec.model:
                payload[MODEL_FIELD] = spec.model
            pid = point_id(spec.id_space, point.key)
            checked.append(CheckedPoint(pid, vectors, sparse, payload))
        if checked:
            self._upsert(spec, checked)

    def set_payload(self, collection: str, key: str, payload: Mapping[str, Any]) -> None:
        """Merge ``payload`` into an existing point's payload; vectors untouched."""
        spec = self._spec(collection)
        encoded = encode_payload(payload)
        if encoded.get(spec.key_field, key) != key:
            raise StoreError(f"set_payload cannot change {spec.key_field} of {key!r}")
        if not self._set_payload(spec, point_id(spec.id_space, key), encoded):
            raise NotFoundError(f"no point {key!r} in {collection!r}")

    def delete(self, collection: str, keys: Sequence[str]) -> None:
        """Delete points by key; unknown keys are ignored."""
        spec = self._spec(collection)
        if keys:
            self._delete(spec, [point_id(spec.id_space, k) for k in unique(keys)])

    # --- reads -------------------------------------------------------------------------------

    def retrieve(
        self,
        collection: str,
        keys: Sequence[str],
        *,
        with_vectors: bool | Sequence[str] = False,
        fields: Sequence[str] | None = None,
    ) -> list[Record]:
        """Points by key, in the order asked; unknown keys are left out.

        ``with_vectors``: every dense vector (True), or only the named ones — the engine then
        reads and converts no other (a product's second encoder's 512 floats cost as much as
        its own 384). ``fields``: only these payload fields and the key field (None: all).
        Named vectors read where the store has a change mark are kept under it and shared by
        later reads (:mod:`recsys.store._memo`), so they are read-only."""
        spec = self._spec(collection)
        vectors = vector_selection(spec, with_vectors)
        payload = payload_selection(spec, fields)
        wanted = unique(keys)
        if not wanted:
            return []
        mark = self.change_mark(spec.name) if isinstance(vectors, list) else None
        if mark is not None and isinstance(vectors, list):
            records = self._retrieve_kept(spec, wanted, vectors, payload, mark)
        else:
            pids = [point_id(spec.id_space, k) for k in wanted]
            records = [self._record(spec, p) for p in self._retrieve(spec, pids, vectors, payload)]
        if vectors:
            take_vectors(spec)
        by_key = {r.key: r for r in records}
        return [by_key[k] for k in wanted if k in by_key]

    def _retrieve_kept(
        self,
        spec: CollectionSpec,
        wanted: Sequence[str],
        names: list[str],
        payload: list[str] | None,
        mark: object,
    ) -> list[Record]:
        """Points with the vectors ``names``: those kept under ``mark`` read without vectors,
        the others with them (and kept)."""
        kept = self._memo.under(spec.name, mark)
        held: dict[str, dict[str, Vector]] = {}
        for key in wanted:
            known = kept.get(key)
            if known is not None and all(n in known for n in names):
                held[key] = {n: known[n] for n in names}
        records: list[Record] = []
        if held:
            pids = [point_id(spec.id_space, k) for k in held]
            for point in self._retrieve(spec, pids, False, payload):
                record = self._record(spec, point)
                record.vectors = held[record.key]
                records.append(record)
        rest = [k for k in wanted if k not in held]
        if rest:
            pids = [point_id(spec.id_space, k) for k in rest]
            for point in self._retrieve(spec, pids, names, payload):
                record = self._record(spec, point)
                if all(n in record.vectors for n in names):
                    self._memo.keep(kept, record.key, record.vectors)
                records.append(record)
        return records

    def search(
        self,
        collection: str,
        vector: Vector,
        *,
        using: str,
        limit: int,
        filters: Filters | None = None,
        with_vectors: bool | Sequence[str] = False,
        fields: Sequence[str] | None = None,
        model: str | None = None,
    ) -> list[Record]:
        """Top-``limit`` by cosine similarity of the named vector ``using``, filtered. A query
        of another encoder than the collection's (``model``, else the one this context noted
        last; a second encoder's vector ``text__<m>``: ``m``) is refused: SpaceMismatchError,
        never a mixed score. ``with_vectors`` and ``fields`` select what each hit carries, as
        in :meth:`retrieve`."""
        spec = self._spec(collection)
        check_noted(spec, model, action="search", using=using)
        query = check_query(spec, using, vector)
        check_limit(limit)
        vectors = vector_selection(spec, with_vectors)
        payload = payload_selection(spec, fields)
        flt = self._filter(spec, filters)
        hits = self._search(
            spec, query, using=using, limit=limit, flt=flt, with_vectors=vectors, payload=payload
        )
        if vectors:
            take_vectors(spec)
        return self._scored(spec, hits)

    def recommend(
        self,
        collection: str,
        *,
        positive: Sequence[str],
        negative: Sequence[str] = (),
        using: str,
        limit: int,
        filters: Filters | None = None,
    ) -> list[Record]:
        """Nearest to the examples (positive keys, away from negative ones); examples excluded.

        Unknown examples are ignored (the server refuses them; qdrant-edge never sees ids), and
        every backend ranks by Qdrant's ``average_vector`` rule, so scores stay plain cosines.
        """
        spec = self._spec(collection)
        check_using(spec, using)
        check_examples(positive)
        check_limit(limit)
        # The examples' keys and the one vector ranked by: no payload, no other vector.
        pos = [
            r
            for r in self.retrieve(collection, positive, with_vectors=[using], fields=())
            if using in r.vectors
        ]
        if not pos:
            raise ExamplesNotFoundError(collection, unique(positive))
        neg = [
            r
            for r in self.retrieve(collection, negative, with_vectors=[using], fields=())
            if using in r.vectors
        ]
        flt = self._filter(spec, filters, exclude=[*positive, *negative])
        hits = self._recommend(spec, pos, neg, using=using, limit=limit, flt=flt)
        return self._scored(spec, hits)

    def search_sparse(
        self,
        collection: str,
        vector: SparseVector,
        *,
        using: str,
        limit: int,
        filters: Filters | None = None,
    ) -> list[Record]:
        """Top-``limit`` by Σ idf · weight over the indices ``vector`` shares with each point
        (points sharing none are not returned), filtered; points tied in score by key."""
        spec = self._check_sparse_query(collection, [vector], using=using, limit=limit)
        if not vector.indices:
            return []
        flt = self._filter(spec, filters)
        (hits,) = ranked_lists(self._sparse_fetch(spec, using, flt), [vector], limit)
        return hits

    def search_sparse_batch(
        self, collection: str, vectors: Sequence[SparseVector], *, using: str, limit: int
    ) -> list[list[Record]]:
        """:meth:`search_sparse` for several vectors at once, unfiltered (one round trip)."""
        spec = self._check_sparse_query(collection, vectors, using=using, limit=limit)
        wanted = [i for i, v in enumerate(vectors) if v.indices]
        out: list[list[Record]] = [[] for _ in vectors]
        if wanted:
            asked = [vectors[i] for i in wanted]
            found = ranked_lists(self._sparse_fetch(spec, using, None), asked, limit)
            for i, hits in zip(wanted, found, strict=True):
                out[i] = hits
        return out

    def _sparse_fetch(self, spec: CollectionSpec, using: str, flt: Any | None) -> SparseFetch:
        def fetch(asked: Sequence[SparseVector], depth: int) -> list[list[Record]]:
            found = self._search_sparse(spec, asked, using=using, limit=depth, flt=flt)
            return [self._scored(spec, hits) for hits in found]

        return fetch

    def _check_sparse_query(
        self, collection: str, vectors: Sequence[SparseVector], *, using: str, limit: int
    ) -> CollectionSpec:
        spec = self._spec(collection)
        check_limit(limit)
        if using not in self._sparse_names(spec.name):
            raise StoreError(f"collection {collection!r} has no sparse vector {using!r}")
        for vector in vectors:
            check_sparse_vector(vector, key="<query>", name=using)
        return spec

    def facet(
        self, collection: str, key: str, *, limit: int, filters: Filters | None = None
    ) -> list[tuple[Any, int]]:
        """The most frequent values of the keyword-indexed payload field ``key`` and how many
        matching points have each, most frequent first (exact counts)."""
        spec = self._spec(collection)
        check_limit(limit)
        return self._facet(spec, key, limit=limit, flt=self._filter(spec, filters))

    def count(self, collection: str, filters: Filters | None = None) -> int:
        """Exact number of points matching ``filters``."""
        spec = self._spec(collection)
        return self._count(spec, self._filter(spec, filters))

    def scroll(
        self,
        collection: str,
        *,
        filters: Filters | None = None,
        batch_size: int = 256,
        with_vectors: bool | Sequence[str] = False,
    ) -> Iterator[Record]:
        """Every matching point, in batches, without loading the collection at once
        (``with_vectors`` as in :meth:`retrieve`)."""
        spec = self._spec(collection)
        check_limit(batch_size)
        vectors = vector_selection(spec, with_vectors)
        flt = self._filter(spec, filters)
        if vectors:
            take_vectors(spec)
        offset: Any = None
        while True:
            points, offset = self._scroll_page(
                spec, flt, limit=batch_size, offset=offset, with_vectors=vectors
            )
            for point in points:
                yield self._record(spec, point)
            if offset is None:
                return

    def _filter(
        self, spec: CollectionSpec, filters: Filters | None, exclude: Sequence[str] = ()
    ) -> Any | None:
        """The engine filter for ``filters`` also leaving out the keys in ``exclude``; None
        when nothing is filtered."""
        must = filter_conditions(filters) if filters is not None else []
        excluded = unique([*exclude, *(filters.exclude_keys if filters is not None else ())])
        if not must and not excluded:
            return None
        return self._native_filter(must, [point_id(spec.id_space, k) for k in excluded])

    def _record(self, spec: CollectionSpec, point: StoredPoint, *, score: float = 0.0) -> Record:
        payload = decode_payload(point.payload)
        # The point's id only when its payload lacks the key: qdrant-edge makes a UUID object
        # on every read of the id (a tenth of what turning a point into a record costs).
        key = payload.get(spec.key_field)
        return Record(
            key=str(point.id if key is None else key),
            payload=payload,
            vectors=dense_vectors(spec, point.vector),
            score=score,
        )

    def _scored(self, spec: CollectionSpec, hits: Sequence[Any]) -> list[Record]:
        return [self._record(spec, h, score=float(h.score)) for h in hits]

    # --- maintenance -------------------------------------------------------------------------

    def optimize(self) -> None:
        """Build search indexes now (HNSW in qdrant-edge); a no-op where the server does it."""

    def close(self) -> None:
        """Flush and release files or connections; the store refuses work afterwards."""
        with self._registry_lock:
            if self._closed:
                return
            self._closed = True
            self._specs = {}
            self._bound = {}
        self._close()
