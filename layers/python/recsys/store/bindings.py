"""What a store does for encoder spaces (:mod:`recsys.store.spaces`): logical names bound to
the collections serving them, the persisted pointers every store over the same backend follows,
and dropping a space's collections once nothing serves from them.

:class:`SpaceBindings` is a part of :class:`recsys.store.base.VectorStore` (kept here so the
template stays readable); its hooks are implemented by each backend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import replace
from typing import NamedTuple

from recsys.core.errors import StoreError
from recsys.store._common import unknown_collection
from recsys.store.model import CollectionSpec
from recsys.store.space_ids import forget_model, model_in_name

__all__ = ["SpaceBindings"]


class _View(NamedTuple):
    """The bindings one context resolves with: when it took them and last used them."""

    bound: dict[str, str]
    taken: float
    used: float


class SpaceBindings:
    """Bindings of logical names to space collections, and the pointer hooks."""

    _specs: dict[str, CollectionSpec]
    #: Logical name → the collection of the space serving it (``products`` → ``products__m``).
    _bound: dict[str, str]
    #: The backend's pointer stamp when the bindings were last compared with the pointers.
    _stamp: object
    _registry_lock: threading.RLock
    #: This context's view of the bindings (see :meth:`_resolve`).
    _view: ContextVar[_View | None]
    #: How long a switch made elsewhere may take to reach this store (0: at once).
    follow_every_s: float = 0.0
    #: The longest a context (a request, a worker's batch) keeps resolving names as it first
    #: did: a request under way when the pointer moves finishes in the space it started in.
    pin_s: float = 5.0
    #: A context that made no call for this long starts its next work with a fresh view.
    idle_s: float = 0.5

    def _check_open(self) -> None:
        raise NotImplementedError

    def _spec(self, collection: str) -> CollectionSpec:
        raise NotImplementedError

    def _open_collection(self, spec: CollectionSpec) -> None:
        raise NotImplementedError

    def bind(self, logical: str, collection: str) -> None:
        """Serve the logical name ``logical`` from the open collection ``collection``."""
        with self._registry_lock:
            if collection not in self._specs:
                raise unknown_collection(collection, self._specs)
            if not self._bound:
                self._stamp = self._pointer_stamp()
            self._bound[logical] = collection

    def bound_spec(self, logical: str) -> CollectionSpec | None:
        """The spec of the collection serving ``logical`` to this context (None: not bound to
        a space)."""
        if logical not in self._bound:
            return None
        return self._spec(logical)

    def served_spec(self, logical: str) -> CollectionSpec | None:
        """The spec of the collection serving ``logical`` now, whatever this context's view
        (None: not bound to a space)."""
        self._check_open()
        if self._pointer_stamp() != self._stamp:
            self._follow()
        name = self._bound.get(logical)
        return self._specs[name] if name is not None else None

    def _resolve(self, logical: str) -> str:
        """The collection serving the bound name ``logical`` in this context's view.

        A view is taken from the bindings (after following moved pointers) at a context's
        first call and kept while the context keeps calling: a request — each runs in a
        context of its own on the API's worker threads — reads one space from start to end.
        The first call, and the next after ``idle_s`` without one, is new work: it takes a
        fresh view and what the context noted is forgotten. A context busy for longer than
        ``pin_s`` gets a fresh view too but keeps its note, so work that straddles a switch
        fails the model check instead of mixing spaces."""
        now = time.monotonic()
        view = self._view.get()
        if view is None or now - view.used >= self.idle_s or now - view.taken >= self.pin_s:
            if self._pointer_stamp() != self._stamp:
                self._follow()
            if view is None or now - view.used >= self.idle_s:
                forget_model()  # new work: what the context held before is not its
            view = _View(dict(self._bound), now, now)
        # A new value each call (not mutated): a copied context never moves its parent's.
        self._view.set(view._replace(used=now))
        return view.bound.get(logical) or self._bound[logical]

    def collection_vectors(self, name: str) -> dict[str, int] | None:
        """The dense vectors (name → size) of the collection ``name`` as it exists, open or
        not; None when there is no such collection."""
        self._check_open()
        known = self._specs.get(name)
        return dict(known.vectors) if known is not None else self._existing_vectors(name)

    def collections(self) -> list[str]:
        """Every collection the backend holds, open or not."""
        self._check_open()
        return sorted(self._list_collections())

    def read_pointers(self) -> dict[str, str]:
        """The persisted pointers: logical name → the collection serving it."""
        self._check_open()
        return self._read_pointers()

    def write_pointers(self, pointers: Mapping[str, str]) -> None:
        """Point each logical name at its collection, all at once (every store over the same
        backend follows), and follow here now."""
        with self._registry_lock:
            self._check_open()
            self._write_pointers(dict(pointers))
            self._follow()
            self._view.set(None)

    def drop_collection(self, name: str) -> None:
        """Delete the collection ``name`` and its points; refused while it serves a name."""
        with self._registry_lock:
            self._check_open()
            if name in self._bound.values():
                raise StoreError(f"collection {name!r} serves a name here; switch it first")
            self._specs.pop(name, None)
            self._drop_collection(name)

    def _follow(self) -> None:
        """Rebind every bound name whose persisted pointer moved (open its new collection)."""
        with self._registry_lock:
            stamp = self._pointer_stamp()
            pointers = self._read_pointers()
            for logical, current in list(self._bound.items()):
                target = pointers.get(logical, current)
                if target == current:
                    continue
                vectors = self.collection_vectors(target)
                if vectors is None:
                    raise StoreError(f"{logical!r} points at {target!r}, which does not exist")
                old = self._specs[current]
                if target not in self._specs:
                    spec = replace(
                        old,
                        name=target,
                        vectors=vectors,
                        model=model_in_name(logical, target) or old.model,
                    )
                    self._open_collection(spec)
                    self._specs[target] = spec
                self._bound[logical] = target
            self._stamp = stamp

    # --- what each backend implements --------------------------------------------------------

    def _existing_vectors(self, name: str) -> dict[str, int] | None:
        """The dense vectors of a collection that is not open here; None when it is absent."""
        raise NotImplementedError

    def _list_collections(self) -> list[str]:
        raise NotImplementedError

    def _read_pointers(self) -> dict[str, str]:
        """The persisted pointers (logical → collection); those of other stores included."""
        raise NotImplementedError

    def _write_pointers(self, pointers: dict[str, str]) -> None:
        """Move the pointers to these collections at once, so no reader sees half a switch."""
        raise NotImplementedError

    def _pointer_stamp(self) -> object:
        """Changes when the pointers may have moved (a counter, or a time bucket)."""
        raise NotImplementedError

    def _drop_collection(self, name: str) -> None:
        """Delete the collection (not open in this store any more) and its files or points."""
        raise NotImplementedError
