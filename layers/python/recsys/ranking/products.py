"""Lists about one product: similar items, and what is bought with it (topped up with
complementary items from other shelves). Outages fall back to co-purchases, then to the
aggregate lists (:mod:`recsys.ranking.fallback`); only an unknown product is an error."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from recsys.core.errors import NotFoundError
from recsys.ranking.fallback import Fallbacks, Reply
from recsys.ranking.rules import top_category
from recsys.ranking.types import Scored
from recsys.store.base import Filters, Record, Vector, VectorStore

__all__ = ["ProductLists"]


class ProductLists:
    """The product-seeded strategies over the product store and the fallback lists."""

    def __init__(
        self, *, store: Callable[[], VectorStore], lists: Fallbacks, products: str
    ) -> None:
        self.store = store
        self.lists = lists
        self.products = products

    def similar(self, product_id: str, *, limit: int, filters: Filters | None = None) -> Reply:
        """Nearest products by embedding; co-purchase then popular when the store fails."""
        problems: list[str] = []
        try:
            store = self.store()
            found = store.retrieve(self.products, [product_id])
            if not found:
                raise NotFoundError(f"product {product_id!r} not found")
            title = found[0].payload.get("title") or product_id
            recs = store.recommend(
                self.products, positive=[product_id], using="text", limit=limit, filters=filters
            )
            items = [
                Scored(r.key, round(r.score, 6), f"similar to {title}", r.payload) for r in recs
            ]
            return Reply("similar", items)
        except NotFoundError:
            raise
        except Exception as exc:
            problems.append(f"similar: {exc}")
        co = self.lists.aggregates(problems).bought_with(product_id, limit=limit * 3)
        items = self.lists.hydrate(
            co,
            reason=lambda _: "often bought together",
            filters=filters,
            limit=limit,
            problems=problems,
        )
        if items:
            return Reply("bought_together", items, True, problems)
        return self.lists.aggregate_list(limit=limit, filters=filters, problems=problems)

    def bought_together(self, product_id: str, *, limit: int) -> Reply:
        """Co-purchased products; thin support is topped up with complementary similar items."""
        problems: list[str] = []
        aggs = self.lists.aggregates(problems)
        rules = Filters(in_stock=True, exclude_keys=[product_id])
        try:
            found = self.store().retrieve(self.products, [product_id], with_vectors=["text"])
        except Exception as exc:
            problems.append(f"products: {exc}")
            found = []
        if not found and not problems:
            raise NotFoundError(f"product {product_id!r} not found")
        title = found[0].payload.get("title") if found else product_id
        items = self.lists.hydrate(
            aggs.bought_with(product_id, limit=limit * 3),
            reason=lambda _: f"often bought with {title}",
            filters=rules,
            limit=limit,
            problems=problems,
        )
        strategy = "bought_together"
        if len(items) < limit and found and (vec := found[0].vectors.get("text")) is not None:
            try:
                extra = self._complementary(found[0], vec, limit=limit, skip=items)
                items += extra
                if extra:
                    strategy = "bought_together+similar" if items[: -len(extra)] else "similar"
            except Exception as exc:
                problems.append(f"similar: {exc}")
        if not items:
            return self.lists.aggregate_list(limit=limit, filters=rules, problems=problems)
        return Reply(strategy, items[:limit], bool(problems), problems)

    def _complementary(
        self, product: Record, vec: Vector, *, limit: int, skip: Sequence[Scored]
    ) -> list[Scored]:
        """Similar products, those from another top-level category first (they complete a
        basket; near-duplicates from the same shelf rarely do)."""
        exclude = [product.key, *(s.product_id for s in skip)]
        recs = self.store().search(
            self.products,
            vec,
            using="text",
            limit=limit * 4,
            filters=Filters(in_stock=True, exclude_keys=exclude),
        )
        own = top_category(product.payload)
        title = product.payload.get("title") or product.key
        ranked = sorted(
            recs, key=lambda r: (top_category(r.payload) == own and bool(own), -r.score)
        )
        return [
            Scored(r.key, round(r.score, 6), f"goes well with {title}", r.payload)
            for r in ranked[: limit - len(skip)]
        ]
