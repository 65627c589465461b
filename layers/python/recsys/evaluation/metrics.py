"""Top-k metrics over users: Recall, NDCG, hit rate, and catalog coverage."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Scores:
    """Mean metrics of one model under one protocol."""

    recall: float
    ndcg: float
    hitrate: float
    coverage: float
    users: int

    def as_dict(self, k: int) -> dict[str, float | int]:
        return {
            f"recall@{k}": round(self.recall, 4),
            f"ndcg@{k}": round(self.ndcg, 4),
            f"hitrate@{k}": round(self.hitrate, 4),
            f"coverage@{k}": round(self.coverage, 4),
            "users": self.users,
        }


def score_lists(
    lists: Mapping[str, Sequence[str]],
    truth: Mapping[str, set[str]],
    *,
    k: int,
    catalog_size: int,
) -> Scores:
    """Recall@k = hits / |truth|; NDCG@k with binary gains; coverage = distinct items / catalog.

    Every user in ``truth`` counts; a user without a list scores zero (never silently skipped).
    """
    users = [u for u, t in truth.items() if t]
    if not users:
        return Scores(0.0, 0.0, 0.0, 0.0, 0)
    recall = ndcg = hit = 0.0
    shown: set[str] = set()
    for user in users:
        relevant = truth[user]
        top = list(lists.get(user, ()))[:k]
        shown.update(top)
        hits = [i for i, item in enumerate(top) if item in relevant]
        recall += len(hits) / len(relevant)
        hit += 1.0 if hits else 0.0
        dcg = sum(1.0 / math.log2(i + 2) for i in hits)
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
        ndcg += dcg / ideal
    n = len(users)
    return Scores(recall / n, ndcg / n, hit / n, len(shown) / max(catalog_size, 1), n)
