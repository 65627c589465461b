"""The ranking sources over a real store (qdrant-edge and qdrant-client local mode) read only
what ranking uses — the nearest products as keys and scores, the candidates' "text" vector and
not the second encoder's, a similar user's kind and products — and rank exactly as sources that
read every vector and the whole payload of each point."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from recsys.aggregates.compute import Aggregates, compute_aggregates
from recsys.core.config import Settings
from recsys.profiles.maths import ProfileEvent
from recsys.profiles.schema import ProfilePayload
from recsys.ranking.config import RankingConfig
from recsys.ranking.features import INDEX, Pool, build_pool
from recsys.ranking.fitted import rank
from recsys.ranking.item_stats import ItemStats, compute_item_stats
from recsys.ranking.sources import StoreItems, StoreUsers
from recsys.ranking.types import Budgets, Purchase, UserState
from recsys.store import PointIn, VectorStore, ensure_collections
from recsys.store.base import Filters, Vector
from recsys.store.edge import EdgeStore
from recsys.store.qdrant import QdrantStore
from recsys.store.space_ids import second_space
from recsys.store.spaces import forget_model

pytestmark = pytest.mark.integration

SECOND = f"text__{second_space('use-multilingual-v3-int8')}"
DAY = 86400.0
T0 = 1_700_000_000.0
N_ITEMS, N_USERS = 120, 40


class FullReads:
    """The sources as they read before: every vector and the whole payload of each hit."""

    def __init__(self, store: VectorStore) -> None:
        self.store = store
        self.seen: dict[str, tuple[Mapping[str, Any], Vector | None]] = {}

    def nearest(
        self, vector: Vector, *, limit: int, filters: Filters | None
    ) -> list[tuple[str, float]]:
        found = self.store.search(
            "products", vector, using="text", limit=limit, filters=filters, with_vectors=True
        )
        self.seen.update({r.key: (r.payload, r.vectors.get("text")) for r in found})
        return [(r.key, r.score) for r in found]

    def items(
        self, ids: Sequence[str], *, with_vectors: bool
    ) -> dict[str, tuple[Mapping[str, Any], Vector | None]]:
        out = {k: self.seen[k] for k in ids if k in self.seen}
        missing = [k for k in ids if k not in out]
        found = self.store.retrieve("products", missing, with_vectors=with_vectors)
        out.update({r.key: (r.payload, r.vectors.get("text")) for r in found})
        return out

    def similar_users(
        self, vector: Vector, *, limit: int, exclude: str | None
    ) -> list[tuple[str, float, Sequence[str]]]:
        out: list[tuple[str, float, Sequence[str]]] = []
        for r in self.store.search("users", vector, using="long", limit=limit + 1):
            profile = ProfilePayload.read(r.payload)
            if r.key != exclude and profile.is_user:
                out.append((r.key, r.score, [str(p) for p in profile.bought_or_seen][:20]))
        return out[:limit]


def unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture(autouse=True)
def _fresh_context() -> Iterator[None]:
    forget_model()  # random vectors below, from no encoder
    yield
    forget_model()


class Shop:
    """Products with both encoders' vectors, profiles with a full payload, and the events."""

    def __init__(self, seed: int = 11) -> None:
        rng = np.random.default_rng(seed)
        self.ids = [f"p{i:03d}" for i in range(N_ITEMS)]
        self.payloads = {
            p: {
                "title": f"Product {i}",
                "category": f"Home > C{i % 6}",
                "category_levels": ["Home", f"Home > C{i % 6}"],
                "price": 1.0 + i % 7,
                "in_stock": i % 9 != 0,
                "is_active": True,
                "content_hash": f"{i:064d}",
            }
            for i, p in enumerate(self.ids)
        }
        self.products = [
            PointIn(p, {"text": unit(rng, 384), SECOND: unit(rng, 512)}, self.payloads[p])
            for p in self.ids
        ]
        self.events: list[ProfileEvent] = []
        self.users: list[PointIn] = []
        self.history: dict[str, list[Purchase]] = {}
        for u in range(N_USERS):
            bought = [self.ids[int(i)] for i in rng.choice(N_ITEMS, 6, replace=False)]
            for k, pid in enumerate(bought):
                at = T0 + (u * 3 + k) * DAY
                self.events.append(ProfileEvent("purchase", at, pid, None, f"o{u}-{k}", f"u#{u}"))
                self.history.setdefault(f"u{u}", []).insert(0, Purchase(pid, at))
            profile = ProfilePayload(
                kind="user" if u % 5 else "session",
                owner=f"u#{u}",
                counts={"purchase": len(bought)},
                category_scores={"Home > C1": 0.5},
                recent_product_ids=bought[::-1],
                recent_purchases=bought[::-1] if u % 3 else [],
                profile_version=u + 1,
            )
            vectors = {"long": unit(rng, 384), "short": unit(rng, 384)}
            self.users.append(PointIn(f"u{u}", vectors, profile.to_payload()))
        self.events.sort(key=lambda e: e.at)
        self.now = self.events[-1].at + DAY

    def aggregates(self) -> Aggregates:
        cats = {p: str(pl["category"]) for p, pl in self.payloads.items()}
        return compute_aggregates(self.events, now=self.now, catalog_categories=cats)

    def stats(self) -> ItemStats:
        return compute_item_stats(self.events, now=self.now, payloads=self.payloads)

    def state(self, u: int) -> UserState:
        point = self.users[u]
        return UserState(
            user_id=point.key,
            long=point.vectors["long"],
            short=point.vectors["short"],
            purchases=self.history[point.key],
            recent=[p.product_id for p in self.history[point.key][:3]],
        )


SHOP = Shop()


@pytest.fixture(scope="module", params=["edge", "qdrant"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VectorStore]:
    root = tmp_path_factory.mktemp(request.param)
    s: VectorStore = (
        EdgeStore(root / "qdrant")
        if request.param == "edge"
        else QdrantStore(str(root / "qdrant-local"))
    )
    ensure_collections(s, Settings(data_dir=root))
    forget_model()
    s.upsert("products", SHOP.products)
    s.upsert("users", SHOP.users)
    forget_model()
    yield s
    s.close()


def assert_same_pool(got: Pool, want: Pool) -> None:
    assert got.ids == want.ids
    np.testing.assert_array_equal(got.x, want.x)
    np.testing.assert_array_equal(got.vectors, want.vectors)
    assert got.payloads == want.payloads
    assert got.seed_of == want.seed_of and got.seeds == want.seeds


def test_the_sources_read_only_what_ranking_uses(store: VectorStore) -> None:
    # GIVEN products that carry the second encoder's vector beside "text"
    items, full = StoreItems(store, "products"), FullReads(store)
    query = SHOP.users[1].vectors["long"]

    # WHEN the nearest products, some candidates and the similar users are read
    nearest = items.nearest(query, limit=20, filters=Filters(in_stock=True))
    fetched = items.items([k for k, _ in nearest[:5]] + ["p100", "ghost"], with_vectors=True)
    bare = items.items(["p100"], with_vectors=False)
    similar = StoreUsers(store, "users").similar_users(query, limit=8, exclude="u1")

    # THEN they are what full reads give, each candidate's vector its "text" one alone
    assert nearest == full.nearest(query, limit=20, filters=Filters(in_stock=True))
    want = full.items(list(fetched), with_vectors=True)
    assert set(fetched) == set(want) and "ghost" not in fetched
    for pid, (payload, vector) in fetched.items():
        assert payload == want[pid][0]
        assert payload["title"] == SHOP.payloads[pid]["title"] and "content_hash" in payload
        assert vector is not None and vector.shape == (384,)
        np.testing.assert_array_equal(vector, want[pid][1])
    assert bare["p100"][1] is None and bare["p100"][0] == fetched["p100"][0]
    assert similar == full.similar_users(query, limit=8, exclude="u1")
    assert similar and all(int(key[1:]) % 5 for key, _, _ in similar)  # users, not sessions


@pytest.mark.parametrize("buy_again", [True, False])
def test_pools_and_lists_are_those_of_full_reads(store: VectorStore, buy_again: bool) -> None:
    # GIVEN the shop's aggregates and item statistics
    aggs, stats = SHOP.aggregates(), SHOP.stats()
    config = RankingConfig(buy_again=buy_again)
    for u in range(0, N_USERS, 4):
        user = SHOP.state(u)
        args: dict[str, Any] = dict(
            now=SHOP.now, aggregates=aggs, stats=stats, budgets=Budgets(), buy_again=buy_again
        )
        # WHEN a pool is built, whole and cut to the fetch budget by a pre-score, and a list
        # ranked, over the sources and over full reads
        cut = {"prescore": lambda x: x[:, INDEX["popularity"]], "budgets": Budgets(fetch=10)}
        for extra in ({}, cut):
            kw = {**args, **extra}
            got = build_pool(
                user, items=StoreItems(store, "products"), users=StoreUsers(store, "users"), **kw
            )
            full = FullReads(store)
            want = build_pool(user, items=full, users=full, **kw)
            # THEN they are the same, value for value
            assert got.ids
            assert_same_pool(got, want)
        full = FullReads(store)
        lists = [
            rank(
                user,
                now=SHOP.now,
                limit=10,
                items=source_items,
                users=source_users,
                aggregates=aggs,
                config=config,
                fitted=None,
                filters=Filters(in_stock=True),
            )
            for source_items, source_users in (
                (StoreItems(store, "products"), StoreUsers(store, "users")),
                (full, full),
            )
        ]
        assert lists[0] and lists[0] == lists[1]
