"""Vectors a store read, kept under the collection's change mark.

qdrant-edge hands every float of a vector over as a Python object while it holds the
interpreter lock, and a product's vector does not change until the product is written again.
So the named vectors read from a collection whose store can tell when it last changed
(:meth:`~recsys.store.base.VectorStore.change_mark`) are kept under that mark; a later read of
the same points under the same mark reads their payloads alone and takes the vectors from
here. Any write that may replace a point moves the mark, and everything kept under the old one
is dropped. Kept vectors are read-only: every reader shares them.
"""

from __future__ import annotations

from collections.abc import Mapping

from recsys.store.model import Vector

#: Points kept per collection (a 384-d vector is 1.5 KB): past it, the collection starts over.
MAX_POINTS = 20_000


class VectorMemo:
    """Per collection: the mark its vectors were read under and key → named vectors."""

    def __init__(self, max_points: int = MAX_POINTS) -> None:
        self.max_points = max_points
        self._kept: dict[str, tuple[object, dict[str, dict[str, Vector]]]] = {}

    def under(self, collection: str, mark: object) -> dict[str, dict[str, Vector]]:
        """The vectors of ``collection`` kept under ``mark`` (none when it moved since)."""
        entry = self._kept.get(collection)
        if entry is None or entry[0] != mark:
            entry = self._kept[collection] = (mark, {})
        return entry[1]

    def keep(
        self, kept: dict[str, dict[str, Vector]], key: str, vectors: Mapping[str, Vector]
    ) -> None:
        """Keep ``key``'s ``vectors`` in ``kept`` (from :meth:`under`), made read-only."""
        if len(kept) >= self.max_points:
            kept.clear()
        for vec in vectors.values():
            vec.setflags(write=False)
        kept[key] = dict(vectors)
