"""The read API's one call per route: a reply from the reply cache or the ranker, never an error
for an outage.

:class:`CachedRecommender` owns what every read route needs besides HTTP: the profile read that
the cache key depends on (keys carry ``profile_version``, so an update makes old entries
unreachable), the cache look-up and write (never for a degraded reply), and the payload fields
copied into each item. Routes only turn a :class:`Served` into a response.

A cached list is checked against the store before it is served (one key look-up of its ids):
a product deleted or deactivated since the list was cached makes it a miss, so it is ranked
afresh (and re-cached) — a deleted product never comes back from the cache, whichever process
or container deleted it, and whatever the TTL (similar lists are kept an hour). Where the
store can tell cheaply that nothing was removed since a list was last checked (the embedded
store: one shard per process, :meth:`~recsys.store.base.VectorStore.change_mark`), the
check is remembered under that mark and skipped until the next delete, deactivation or
replacement; a Qdrant server shared with other processes is asked every time. The profile a
cache key depends on is remembered the same way, under the users collection's mark (any
profile written or erased moves it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from recsys.cache import Cache, cache_key
from recsys.core.config import Settings
from recsys.profiles.schema import ProfilePayload
from recsys.ranking.fallback import Reply
from recsys.ranking.service import Recommender
from recsys.ranking.types import Scored
from recsys.store.base import Filters

__all__ = ["ITEM_FIELDS", "CachedRecommender", "Served"]

#: Cached lists remembered as checked, per recommender (a cleared memo costs one look-up each).
_CHECKED_MAX = 50_000

#: Profiles remembered per recommender (with their vectors: a few KB each).
_PROFILES_MAX = 5_000

#: Payload fields copied into each item of a reply.
ITEM_FIELDS = ("title", "category", "price", "currency", "brand", "in_stock", "image_url")


@dataclass(frozen=True)
class Served:
    """A reply ready to send: its items as JSON objects and how it may be cached downstream."""

    strategy: str
    items: list[dict[str, Any]]
    degraded: bool
    #: "hit" or "miss" (the server-side cache).
    cache_state: str
    #: Seconds the reply may be cached (0: not at all).
    max_age: int
    #: Per-user (private) or shared (public) for downstream caches.
    private: bool
    #: What failed on the way (a degraded reply's causes, for metrics and logs).
    problems: tuple[str, ...] = ()
    #: A personal list asked for a subject without a profile (the cold-start fallback).
    cold: bool = False


def item_json(s: Scored) -> dict[str, Any]:
    """One item of a reply: id, score, reason and the shown payload fields."""
    out: dict[str, Any] = {"product_id": s.product_id, "score": s.score, "reason": s.reason}
    for name in ITEM_FIELDS:
        value = s.payload.get(name)
        if value is not None:
            out[name] = value
    return out


def _params(filters: Filters, **extra: Any) -> dict[str, Any]:
    return {
        "categories": filters.categories,
        "brands": filters.brands,
        "price_min": filters.price_min,
        "price_max": filters.price_max,
        "in_stock": filters.in_stock,
        **extra,
    }


class CachedRecommender:
    """:class:`Recommender` behind the reply cache, one method per read route."""

    def __init__(
        self, ranker: Recommender, *, cache: Cache, settings: Settings, cache_tag: str = "default"
    ) -> None:
        self.ranker = ranker
        self.cache = cache
        self.settings = settings
        #: The experiment variant this recommender serves: part of every key, so variants
        #: never answer each other's requests from the cache.
        self.cache_tag = cache_tag
        #: cache key -> (store mark, ids) of the last cached list found all listed.
        self._checked: dict[str, tuple[object, tuple[str, ...]]] = {}
        #: user id -> (users' store mark, the profile read under it).
        self._profiles: dict[str, tuple[object, Any]] = {}

    def _key(self, endpoint: str, subject: str, version: Any, params: dict[str, Any]) -> str:
        return cache_key(
            self.settings.cache_prefix,
            endpoint,
            subject=subject,
            version=version,
            params={**params, "variant": self.cache_tag},
        )

    def _serve(
        self,
        *,
        key: str | None,
        ttl: int,
        private: bool,
        compute: Callable[[], Reply],
        cold: bool = False,
    ) -> Served:
        """From the cache, or computed, stored (unless degraded) and served."""
        if key is not None and ttl > 0:
            hit = self.cache.get(key)
            if isinstance(hit, dict) and self._still_listed(key, hit["items"]):
                return Served(hit["strategy"], hit["items"], False, "hit", ttl, private, (), cold)
        reply = compute()
        items = [item_json(s) for s in reply.items]
        if key is not None and ttl > 0 and not reply.degraded:
            self.cache.set(key, {"strategy": reply.strategy, "items": items}, ttl_s=ttl)
        problems = tuple(reply.problems)
        return Served(reply.strategy, items, reply.degraded, "miss", ttl, private, problems, cold)

    def _still_listed(self, key: str, items: Sequence[dict[str, Any]]) -> bool:
        """Whether every product of a cached list is still in the store and active.

        The store's change mark is read before the look-up: a write that removed a product
        after that read changes the mark, so a list remembered as checked under it is looked
        up again. With the store unreachable the cached list is served as it is: it was right
        when it was cached, and the ranker could not check any better.
        """
        ids = tuple(str(item.get("product_id")) for item in items)
        if not ids:
            return True
        collection = self.settings.products_collection
        try:
            store = self.ranker.store()
            mark = store.change_mark(collection)
            if mark is not None and self._checked.get(key) == (mark, ids):
                return True
            found = store.retrieve(collection, list(ids))
        except Exception:
            return True
        active = {r.key for r in found if r.payload.get("is_active", True) not in (False, 0)}
        listed = all(pid in active for pid in ids)
        if listed and mark is not None:
            if len(self._checked) >= _CHECKED_MAX:
                self._checked.clear()  # marks move on every delete: old entries are dead anyway
            self._checked[key] = (mark, ids)
        return listed

    def _profile(self, user_id: str, problems: list[str]) -> Any:
        """The user's stored profile; on a store with a change mark, the one read last under
        the users collection's current mark (no profile was written or erased since)."""
        try:
            mark = self.ranker.store().change_mark(self.ranker.users)
        except Exception:
            mark = None  # the read below meets the outage and says so
        if mark is not None:
            known = self._profiles.get(user_id)
            if known is not None and known[0] == mark:
                return known[1]
        record = self.ranker.profile(user_id, problems)
        if mark is not None and not problems:
            if len(self._profiles) >= _PROFILES_MAX:
                self._profiles.clear()
            self._profiles[user_id] = (mark, record)
        return record

    def _profile_key(
        self, endpoint: str, user_id: str, params: dict[str, Any]
    ) -> tuple[Any, list[str], str | None]:
        """The user's profile, the problems reading it, and the cache key of a list computed
        from it (keyed on its version; None — never cached — when the read failed)."""
        problems: list[str] = []
        record = self._profile(user_id, problems)
        if problems:
            return record, problems, None
        version = ProfilePayload.read(record.payload).profile_version if record else "none"
        return record, problems, self._key(endpoint, user_id, version, params)

    def for_user(
        self,
        user_id: str,
        *,
        limit: int,
        filters: Filters,
        diversity: float | None,
        include_bought: bool | None = None,
    ) -> Served:
        """ "For you": keyed on the profile version; a failed profile read is never cached."""
        params = _params(filters, limit=limit, diversity=diversity)
        if include_bought is not None:
            params["include_bought"] = include_bought
        record, problems, key = self._profile_key("user", user_id, params)
        return self._serve(
            key=key,
            ttl=self.settings.cache_ttl_recommend_s,
            private=True,
            compute=lambda: self.ranker.for_user(
                user_id,
                limit=limit,
                filters=filters,
                diversity=diversity,
                profile=(record, problems),
                include_bought=include_bought,
            ),
            cold=record is None and not problems,
        )

    def buy_again(self, user_id: str, *, limit: int, filters: Filters) -> Served:
        """ "Buy again": the user's past purchases, cached like "for you"."""
        record, problems, key = self._profile_key(
            "buy_again", user_id, _params(filters, limit=limit)
        )
        return self._serve(
            key=key,
            ttl=self.settings.cache_ttl_recommend_s,
            private=True,
            compute=lambda: self.ranker.buy_again(
                user_id, limit=limit, filters=filters, profile=(record, problems)
            ),
            cold=record is None and not problems,
        )

    def similar(self, product_id: str, *, limit: int, filters: Filters) -> Served:
        """Nearest products by embedding."""
        return self._serve(
            key=self._key("similar", product_id, None, _params(filters, limit=limit)),
            ttl=self.settings.cache_ttl_similar_s,
            private=False,
            compute=lambda: self.ranker.similar(product_id, limit=limit, filters=filters),
        )

    def bought_together(self, product_id: str, *, limit: int) -> Served:
        """Frequently bought together."""
        return self._serve(
            key=self._key("together", product_id, None, {"limit": limit}),
            ttl=self.settings.cache_ttl_similar_s,
            private=False,
            compute=lambda: self.ranker.bought_together(product_id, limit=limit),
        )

    def cart(self, product_ids: Sequence[str], *, user_id: str | None, limit: int) -> Served:
        """Complements of a cart (never cached: carts rarely repeat)."""
        return self._serve(
            key=None,
            ttl=0,
            private=True,
            compute=lambda: self.ranker.cart(product_ids, user_id=user_id, limit=limit),
        )

    def trending(self, *, limit: int, category: str | None) -> Served:
        """Trending (popular when few trend), optionally in one category."""
        return self._serve(
            key=self._key("trending", category or "*", None, {"limit": limit}),
            ttl=self.settings.cache_ttl_trending_s,
            private=False,
            compute=lambda: self.ranker.trending(limit=limit, category=category),
        )

    def search(self, q: str, *, user_id: str | None, limit: int, filters: Filters) -> Served:
        """Semantic search; cached only without a user (a user's taste leans the query)."""
        key = None
        if user_id is None:
            params = _params(filters, q=q.strip().lower(), limit=limit)
            key = self._key("search", "*", None, params)
        return self._serve(
            key=key,
            ttl=self.settings.cache_ttl_search_s,
            private=user_id is not None,
            compute=lambda: self.ranker.search(q, user_id=user_id, limit=limit, filters=filters),
        )

    def health(self) -> dict[str, Any]:
        """Liveness plus what each dependency says (a failing one does not fail the check)."""
        status: dict[str, Any] = {"status": "ok", "cache": self.cache.backend}
        try:
            status["products"] = self.ranker.store().count(self.settings.products_collection)
        except Exception as exc:
            status["status"] = "degraded"
            status["store_error"] = str(exc)[:200]
        return status
