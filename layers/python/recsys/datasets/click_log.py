"""A synthetic shop whose served lists, impressions and clicks follow a known click model: what
the tests and the bench of the tuner's click labels (:mod:`recsys.ranking.click_labels`) are
measured on.

- Products: unit vectors (their "text"), a category, a price; popularity is Zipf.
- Customers: a taste vector each. Every week they buy a basket — two of their four staples
  and one product drawn by popularity × exp(``taste_purchase`` · cos(taste, product)).
- Served lists: ``lists_per_week`` times a week each customer is shown ``list_size``
  products by a logging policy that knows nothing of taste — log popularity plus Gaussian
  noise of ``policy_noise``, best first — so the same product reaches the same customer at
  different positions in different lists.
- Clicks, position-based model: P(click at position k) = θ_k · r(u, i) with
  θ_k = (1 + k) ^ −``bias`` and r = sigmoid(``click_base`` + ``taste_click`` · cos(taste, i)).
  A click is followed by a purchase of the product with probability ``buy_after_click``
  (attributed through the window, as a storefront reports it).

Events are raw ``POST /events`` bodies (``context.request_id`` / ``context.position``), so
tests and the bench read them through the real validation and label extraction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ClickWorld", "simulate"]

DAY = 86400.0
T0 = 1_600_000_000.0
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ClickWorld:
    """The shop's size and its shoppers' behaviour (module doc)."""

    users: int = 200
    items: int = 150
    weeks: int = 12
    dim: int = 16
    categories: int = 8
    lists_per_week: int = 3
    list_size: int = 10
    bias: float = 1.0
    click_base: float = -3.0
    taste_click: float = 6.0
    taste_purchase: float = 2.0
    policy_noise: float = 1.0
    buy_after_click: float = 0.2
    seed: int = 7


@dataclass
class Simulated:
    """The catalog, the raw events and the hidden truth of a simulated shop."""

    world: ClickWorld
    ids: list[str]
    vectors: FloatArray
    payloads: dict[str, dict[str, Any]]
    events: list[dict[str, Any]]
    taste: dict[str, FloatArray] = field(default_factory=dict)

    @property
    def theta(self) -> list[float]:
        """The true examination probability of each position (θ_0 = 1)."""
        return [(1.0 + k) ** -self.world.bias for k in range(self.world.list_size)]

    def attractiveness(self, user: str, products: list[str]) -> npt.NDArray[np.float64]:
        """r(u, i) of ``products`` for customer ``user`` (its id without the owner prefix)."""
        index = {p: i for i, p in enumerate(self.ids)}
        cos = self.vectors[[index[p] for p in products]] @ self.taste[user]
        w = self.world
        return 1.0 / (1.0 + np.exp(-(w.click_base + w.taste_click * cos.astype(np.float64))))


def simulate(world: ClickWorld | None = None) -> Simulated:
    """Generate the shop of ``world`` (deterministic in its seed)."""
    w = world or ClickWorld()
    rng = np.random.default_rng(w.seed)
    ids = [f"p{i:04d}" for i in range(w.items)]
    vectors = rng.normal(size=(w.items, w.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    payloads = {
        p: {
            "product_id": p,
            "title": p,
            "category": f"C{i % w.categories}",
            "price": float(1 + i % 7),
            "in_stock": True,
            "is_active": True,
        }
        for i, p in enumerate(ids)
    }
    zipf = 1.0 / np.arange(1, w.items + 1) ** 1.0
    zipf /= zipf.sum()
    log_pop = np.log(zipf)
    theta = np.array([(1.0 + k) ** -w.bias for k in range(w.list_size)])
    sim = Simulated(w, ids, vectors, payloads, [])
    events = sim.events
    for u in range(w.users):
        user = f"c{u:04d}"
        # A taste near a few products: purchases and clicks both lean towards it.
        anchor = vectors[rng.choice(w.items, 3, replace=False)].sum(axis=0)
        taste = (anchor + 0.5 * rng.normal(size=w.dim)).astype(np.float32)
        taste /= np.linalg.norm(taste)
        sim.taste[user] = taste
        cos = vectors @ taste
        buy_p = zipf * np.exp(w.taste_purchase * cos)
        buy_p /= buy_p.sum()
        attract = 1.0 / (1.0 + np.exp(-(w.click_base + w.taste_click * cos.astype(np.float64))))
        staples = rng.choice(w.items, 4, replace=False, p=buy_p)
        for week in range(w.weeks):
            at = T0 + (week * 7 + float(rng.integers(0, 7))) * DAY + u * 7.0
            basket = set(rng.choice(staples, 2, replace=False).tolist())
            basket.add(int(rng.choice(w.items, p=buy_p)))
            order = f"o{u}-{week}"
            for i in sorted(basket):
                events.append(_purchase(user, ids[i], at, order))
            for n in range(w.lists_per_week):
                served = T0 + (week * 7 + float(rng.uniform(0, 7))) * DAY + u
                score = log_pop + rng.normal(0.0, w.policy_noise, w.items)
                shown = np.argsort(-score)[: w.list_size]
                rid = f"r{u}-{week}-{n}"
                for k, i in enumerate(shown.tolist()):
                    ctx = {"request_id": rid, "position": k}
                    events.append(_event("impression", user, ids[i], served + 1 + k * 0.01, ctx))
                    if rng.random() < theta[k] * attract[i]:
                        events.append(_event("click", user, ids[i], served + 10 + k, ctx))
                        if rng.random() < w.buy_after_click:
                            events.append(_purchase(user, ids[i], served + 300 + k, f"x{rid}"))
    events.sort(key=lambda e: (e["timestamp"], e["event_id"]))
    return sim


def _event(kind: str, user: str, product: str, at: float, ctx: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": kind,
        "user_id": user,
        "product_id": product,
        "timestamp": at,
        "context": ctx,
        "event_id": f"{kind}-{ctx['request_id']}-{product}",
    }


def _purchase(user: str, product: str, at: float, order: str) -> dict[str, Any]:
    return {
        "type": "purchase",
        "user_id": user,
        "product_id": product,
        "timestamp": at,
        "order_id": order,
        "quantity": 1,
        "price": 1.0,
        "event_id": f"buy-{order}-{product}-{math.floor(at)}",
    }
