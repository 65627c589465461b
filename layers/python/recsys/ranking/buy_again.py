""" "Buy again": the shopper's own past purchases, ranked by how likely they come back for each.

score(i) = F(i) · (½ + r(i)), where

- F(i) = Σ exp(−age / τ) over the shopper's purchase occasions of i (τ = ``tau_days``, a year):
  how often and how lately they bought it, in one figure;
- r(i) = the item's repeat rate over all its buyers (:meth:`recsys.aggregates.compute.
  Aggregates.repeat_rate`, smoothed towards ½; ½ when unknown): a product people re-stock
  (paper cups) outranks one they buy once (a clock) bought as often.

On Online Retail (docs/EVALUATION.md, "Buy again"; ``bench/buy_again.py``) the product's repeat
rate is worth +0.034 / +0.040 Recall@10 over frequency and recency alone on the two splits, and
recency alone is the weakest order.

"For you" leaves past purchases out unless the store's ``ranking_buy_again`` setting (or the
request's ``include_bought``) lets them in; this list is where they always are.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable

from recsys.ranking.rules import predicate
from recsys.ranking.types import ItemSource, Scored, UserState
from recsys.store.base import Filters

DAY = 86400.0
#: The repeat rate assumed for a product no identified customer bought (the smoothing's prior).
UNKNOWN_RATE = 0.5
#: Added to the repeat rate, so a product nobody else re-buys still ranks by the shopper's own
#: frequency and recency.
RATE_FLOOR = 0.5


def repeat_scores(
    user: UserState,
    *,
    now: float,
    repeat_rate: Callable[[str], float | None] | None = None,
    tau_days: float = 365.0,
) -> dict[str, tuple[float, int]]:
    """product → (score, occasions) for every product the user bought."""
    tau = tau_days * DAY
    signal: dict[str, float] = defaultdict(float)
    occasions: dict[str, int] = defaultdict(int)
    for p in user.purchases:
        signal[p.product_id] += math.exp(-max(now - p.at, 0.0) / tau)
        occasions[p.product_id] += 1
    out: dict[str, tuple[float, int]] = {}
    for pid, f in signal.items():
        rate = repeat_rate(pid) if repeat_rate is not None else None
        out[pid] = (f * (RATE_FLOOR + (UNKNOWN_RATE if rate is None else rate)), occasions[pid])
    return out


def reason(occasions: int) -> str:
    """What the shopper reads under a "buy again" item."""
    if occasions > 1:
        return f"buy it again: you bought this {occasions} times"
    return "buy it again: you bought this before"


def rank_buy_again(
    user: UserState,
    *,
    now: float,
    limit: int,
    items: ItemSource,
    repeat_rate: Callable[[str], float | None] | None = None,
    filters: Filters | None = None,
    tau_days: float = 365.0,
) -> list[Scored]:
    """The user's past purchases that pass ``filters`` (still listed, in stock when asked …),
    best first, at most ``limit``."""
    scores = repeat_scores(user, now=now, repeat_rate=repeat_rate, tau_days=tau_days)
    if not scores or limit <= 0:
        return []
    order = sorted(scores, key=lambda p: (-scores[p][0], p))
    fetched = items.items(order, with_vectors=False)
    allowed = predicate(filters or Filters())
    out: list[Scored] = []
    for pid in order:
        found = fetched.get(pid)
        if found is None or not allowed(found[0]):
            continue
        score, n = scores[pid]
        out.append(
            Scored(
                product_id=pid,
                score=round(score, 6),
                reason=reason(n),
                payload=found[0],
                signals={"repeat": round(score, 6)},
            )
        )
        if len(out) >= limit:
            break
    return out
