"""The recommendation service behind the HTTP routes: strategies, fallbacks and degradation.

Every method returns a :class:`~recsys.ranking.fallback.Reply` and never raises for a
dependency outage: when the vector store, the aggregates or the encoder fail, it falls back —
profile → trending → popular → catalog order — and marks the reply ``degraded``. Only a missing
product (404) or bad input (422) reach the caller as errors. The lists about one product are
:mod:`recsys.ranking.products`'s, the fallbacks :mod:`recsys.ranking.fallback`'s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from recsys.core.config import Settings
from recsys.core.types import Encoder
from recsys.ranking.buy_again import rank_buy_again, reason, repeat_scores
from recsys.ranking.config import RankingConfig, Weights
from recsys.ranking.fallback import Fallbacks, Reply
from recsys.ranking.fitted import FittedRanking, fitted_of, rank
from recsys.ranking.products import ProductLists
from recsys.ranking.sources import StoreItems, StoreUsers
from recsys.ranking.state import user_state
from recsys.ranking.types import AggregateSource, Scored, UserState
from recsys.search import FALLBACK, NO_MATCH, ProductSearch, tuning_for
from recsys.search.second import pair_of, second_source, served_model
from recsys.store.base import Filters, Record, Vector, VectorStore

log = logging.getLogger(__name__)


def _unit(v: Any) -> Vector:
    arr = np.asarray(v, dtype=np.float32)
    n = float(np.linalg.norm(arr))
    return (arr / n).astype(np.float32) if n > 0 else arr


class Recommender:
    """Strategies over injected dependencies (store, aggregates loader, encoder, clock)."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: VectorStore | Callable[[], VectorStore],
        aggregates: Callable[[], AggregateSource],
        encoder: Callable[[], Encoder] | None = None,
        config: RankingConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._store = store
        self._aggregates = aggregates
        self._encoder = encoder
        self.config = config or RankingConfig.from_settings(settings)
        self.clock = clock
        self.products = settings.products_collection
        self.users = settings.users_collection
        self._search_engine: tuple[tuple[object, object, str], ProductSearch] | None = None
        self.lists = Fallbacks(store=self.store, aggregates=aggregates, products=self.products)
        self.by_product = ProductLists(store=self.store, lists=self.lists, products=self.products)

    # --- dependencies, each failure recorded -------------------------------------------------

    def store(self) -> VectorStore:
        return self._store() if callable(self._store) else self._store

    def _aggs(self, problems: list[str]) -> AggregateSource:
        return self.lists.aggregates(problems)

    def fitted(self, aggs: AggregateSource | None = None) -> FittedRanking | None:
        """The ranking the nightly tuner fitted to this store (kept in the aggregates), or None:
        the fixed weights of :attr:`config` serve. Weights set explicitly (``RECSYS_RANKING_W_*``,
        or an experiment variant's) win over the tuner, so a variant can compare the two."""
        if self.config.weights != Weights():
            return None
        if aggs is None:
            try:
                aggs = self._aggregates()
            except Exception:  # an outage: the fixed weights serve
                return None
        return fitted_of(aggs)

    def profile(self, user_id: str, problems: list[str]) -> Record | None:
        """The user's stored profile (with vectors), None when absent or unreachable."""
        try:
            found = self.store().retrieve(self.users, [user_id], with_vectors=True)
        except Exception as exc:
            problems.append(f"profile: {exc}")
            log.warning("profile lookup failed for %s: %s", user_id, exc)
            return None
        return found[0] if found else None

    def _read_state(
        self, user_id: str, profile: tuple[Record | None, list[str]] | None
    ) -> tuple[UserState, list[str], float]:
        """The user's state now, from ``profile`` when the caller read it, else from the store;
        with the problems met reading it."""
        if profile is None:
            problems: list[str] = []
            record = self.profile(user_id, problems)
        else:
            record, problems = profile[0], list(profile[1])
        now = self.clock()
        return self.user_state(record, now=now), problems, now

    def user_state(self, record: Record | None, *, now: float) -> UserState:
        """What ranking needs from a stored profile."""
        return user_state(record, now=now, tau_short_s=self.settings.profile_tau_short_s)

    # --- strategies -----------------------------------------------------------------------------

    def for_user(
        self,
        user_id: str,
        *,
        limit: int,
        filters: Filters | None = None,
        diversity: float | None = None,
        profile: tuple[Record | None, list[str]] | None = None,
        include_bought: bool | None = None,
    ) -> Reply:
        """Personalised list ("for you"); unknown users and failures fall back to trending /
        popular.

        Past purchases are left out (they are :meth:`buy_again`'s) unless the store's
        ``ranking_buy_again`` setting lets them in; ``include_bought`` overrides it for one
        request. ``profile``: the stored profile and the problems met reading it, when the
        caller read it already (:class:`~recsys.ranking.cached.CachedRecommender` keys its
        cache on it).
        """
        state, problems, now = self._read_state(user_id, profile)
        config = self.ranking_for(include_bought)
        if state.is_known:
            try:
                aggs = self._aggs(problems)
                items = rank(
                    state,
                    now=now,
                    limit=limit,
                    items=StoreItems(self.store(), self.products),
                    users=StoreUsers(self.store(), self.users),
                    aggregates=aggs,
                    config=config,
                    fitted=self.fitted(aggs),
                    filters=filters,
                    diversity=diversity,
                )
                if items:
                    if len(items) < limit:
                        items += self._top_up(
                            items,
                            state,
                            limit=limit,
                            filters=filters,
                            problems=problems,
                            buy_again=config.buy_again,
                        )
                    return Reply("personalized", items, bool(problems), problems)
            except Exception as exc:
                problems.append(f"ranking: {exc}")
                log.warning("personal ranking failed for %s: %s", user_id, exc)
        rules = filters
        if not config.buy_again and state.purchases:
            # The fallback keeps the exclude-bought rule of the list it stands in for.
            base = filters or Filters()
            bought = {p.product_id for p in state.purchases}
            rules = replace(base, exclude_keys=sorted(bought | set(base.exclude_keys)))
        fallback = self.lists.aggregate_list(limit=limit, filters=rules, problems=problems)
        return replace(fallback, degraded=bool(problems))

    def ranking_for(self, include_bought: bool | None) -> RankingConfig:
        """The ranking for one request: the store's, with ``buy_again`` overridden when the
        request says whether past purchases may appear."""
        if include_bought is None or include_bought == self.config.buy_again:
            return self.config
        return replace(self.config, buy_again=include_bought)

    def _top_up(
        self,
        items: Sequence[Scored],
        state: UserState,
        *,
        limit: int,
        filters: Filters | None,
        problems: list[str],
        buy_again: bool,
    ) -> list[Scored]:
        """Fill a short personal list with trending / popular products under the same rules."""
        taken = {s.product_id for s in items} | set(filters.exclude_keys if filters else ())
        if not buy_again:
            taken |= {p.product_id for p in state.purchases}
        base = filters or Filters()
        more = self.lists.aggregate_list(
            limit=limit - len(items),
            filters=replace(base, exclude_keys=sorted(taken)),
            problems=problems,
        )
        return [s for s in more.items if s.product_id not in taken][: limit - len(items)]

    def buy_again(
        self,
        user_id: str,
        *,
        limit: int,
        filters: Filters | None = None,
        profile: tuple[Record | None, list[str]] | None = None,
    ) -> Reply:
        """The user's past purchases, the likeliest to be bought again first
        (:mod:`recsys.ranking.buy_again`), under ``filters``.

        A shopper who bought nothing yet gets an empty list, not other people's bestsellers;
        an unreadable profile, an empty degraded one; with the product store down the ranked
        ids come back bare (unfiltered), degraded.
        """
        state, problems, now = self._read_state(user_id, profile)
        if not state.purchases:
            return Reply("buy_again", [], bool(problems), problems)
        aggs = self._aggs(problems)
        rates: Callable[[str], float | None] | None = getattr(aggs, "repeat_rate", None)
        try:
            items = rank_buy_again(
                state,
                now=now,
                limit=limit,
                items=StoreItems(self.store(), self.products),
                repeat_rate=rates,
                filters=filters,
            )
        except Exception as exc:
            problems.append(f"products: {exc}")
            log.warning("buy again for %s without the product store: %s", user_id, exc)
            scores = repeat_scores(state, now=now, repeat_rate=rates)
            order = sorted(scores, key=lambda p: (-scores[p][0], p))[:limit]
            items = [
                Scored(pid, round(scores[pid][0], 6), reason(scores[pid][1]), {"product_id": pid})
                for pid in order
            ]
        return Reply("buy_again", items, bool(problems), problems)

    def similar(self, product_id: str, *, limit: int, filters: Filters | None = None) -> Reply:
        """Nearest products by embedding (:class:`~recsys.ranking.products.ProductLists`)."""
        return self.by_product.similar(product_id, limit=limit, filters=filters)

    def bought_together(self, product_id: str, *, limit: int) -> Reply:
        """Frequently bought together (:class:`~recsys.ranking.products.ProductLists`)."""
        return self.by_product.bought_together(product_id, limit=limit)

    def cart(self, product_ids: Sequence[str], *, user_id: str | None, limit: int) -> Reply:
        """Complements of a cart: its items seed co-purchase and content; the user's taste
        (when known) adds to it; cart items are never recommended back."""
        problems: list[str] = []
        now = self.clock()
        record = self.profile(user_id, problems) if user_id else None
        base = self.user_state(record, now=now)
        filters = Filters(in_stock=True, exclude_keys=list(product_ids))
        try:
            store = self.store()
            cart = store.retrieve(self.products, list(product_ids), with_vectors=["text"])
            vecs = [r.vectors["text"] for r in cart if r.vectors.get("text") is not None]
            cart_vec = _unit(np.mean(np.stack(vecs), axis=0)) if vecs else None
            state = UserState(
                user_id=user_id,
                long=base.long if base.long is not None else cart_vec,
                short=cart_vec,
                purchases=[],
                # The cart's items seed its list and are all its reasons name; the user's
                # taste comes in through the long-term vector.
                recent=[r.key for r in cart],
                in_cart=[r.key for r in cart],
            )
            aggs = self._aggs(problems)
            items = rank(
                state,
                now=now,
                limit=limit,
                items=StoreItems(store, self.products),
                users=None,
                aggregates=aggs,
                config=replace(self.config, buy_again=False, exclude_seen=False),
                fitted=self.fitted(aggs),
                filters=filters,
            )
            if items:
                return Reply("cart", items, bool(problems), problems)
        except Exception as exc:
            problems.append(f"cart: {exc}")
        fallback = self.lists.aggregate_list(limit=limit, filters=filters, problems=problems)
        return replace(fallback, degraded=bool(problems))

    def trending(self, *, limit: int, category: str | None = None) -> Reply:
        """Trending products (popular when too few trend), optionally in one category."""
        filters = Filters(categories=[category] if category else None)
        return self.lists.aggregate_list(limit=limit, filters=filters, problems=[])

    def search(
        self,
        query: str,
        *,
        user_id: str | None,
        limit: int,
        filters: Filters | None = None,
    ) -> Reply:
        """Search (:mod:`recsys.search`): the query's meaning, fused with keyword evidence when
        it adds any; with a user, the matches lean 30 % towards their taste. A query nothing
        matches is never answered with products presented as matches: the nearest products
        flagged as such (strategy ``search:fallback``, each reason "no exact match"), or, far
        from everything, an empty list (``search:no-match``)."""
        problems: list[str] = []
        try:
            if self._encoder is None:
                raise RuntimeError("no encoder configured")
            strategy = "search"
            taste = None
            if user_id:
                record = self.profile(user_id, problems)
                long = record.vectors.get("long") if record else None
                if long is not None:
                    taste = np.asarray(long, dtype=np.float32)
                    strategy = "search+profile"
            result = self._product_search().search(query, limit=limit, filters=filters, taste=taste)
            if not result.evidence.matched and not result.hits:
                return Reply(NO_MATCH, [], bool(problems), problems)
            items = [
                Scored(h.key, h.score, _search_reason(h.via, query), h.payload) for h in result.hits
            ]
            if not result.evidence.matched:
                strategy = FALLBACK
            return Reply(strategy, items, bool(problems), problems)
        except Exception as exc:
            problems.append(f"search: {exc}")
            log.warning("search failed: %s", exc)
        return self.lists.aggregate_list(limit=limit, filters=filters, problems=problems)

    def _product_search(self) -> ProductSearch:
        """The search engine over the current store, encoder and products collection (kept
        while they are the same, so its cached product count lives on; a re-embed that moves
        the products to another space — other vectors — gets a new one)."""
        assert self._encoder is not None
        store, encoder = self.store(), self._encoder()
        served = store.bound_spec(self.products)
        key = (store, encoder, served.name if served is not None else self.products)
        cached = self._search_engine
        if cached is None or cached[0] != key:
            # The served space's encoders decide the tuning, not the configured ones: a store
            # not yet moved to RECSYS_ENCODER_MODEL, or whose products lack (or carry) the
            # second vector whatever RECSYS_SECOND_ENCODER says.
            primary = served_model(store, self.products, self.settings)
            second = second_source(store, self.products, primary, self.settings)
            tuning = pair_of(primary, second.model) if second is not None else tuning_for(primary)
            engine = ProductSearch(
                store=store,
                collection=self.products,
                encoder=encoder,
                tuning=tuning,
                second=second,
                solo_tuning=tuning_for(primary),
            )
            cached = self._search_engine = (key, engine)
        return cached[1]


def _search_reason(via: str, query: str) -> str:
    """Why a product is in a search reply (shown in the shop's "explain" mode)."""
    if via == "keywords":
        return f"has the words “{query}”"
    if via == "nearest":
        return f"no exact match for “{query}”: the nearest"
    return f"matches “{query}”"
