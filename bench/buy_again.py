"""How well "buy again" orders a customer's past purchases, on the Online Retail time splits.

For every customer who bought again after the split something they had bought before, the
list is their products bought before the split, ordered by :func:`recsys.ranking.buy_again.
repeat_scores` (the function the route serves) over one line per purchase occasion (an order),
with the item repeat rates of :func:`recsys.aggregates.compute.compute_aggregates` as of the
split; the truth is the products they bought again. Variants: recency only, occasions only,
and the served score with and without the item's repeat rate, for a few decays.

    python bench/buy_again.py [--data ../shared/data/online_retail/online_retail.csv.gz]
        [--split 2011-11-01 --split 2011-10-01]

Prints one table per split (Recall@10, NDCG@10, HitRate@10); docs/EVALUATION.md "Buy again".
"""

from __future__ import annotations

import argparse
import math
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from recsys.aggregates.compute import compute_aggregates
from recsys.evaluation.data import load, parse_time
from recsys.ranking.buy_again import repeat_scores
from recsys.ranking.types import Purchase, UserState

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail"
K = 10


def _metrics(ranked: list[str], truth: set[str]) -> tuple[float, float, float]:
    hits = [p in truth for p in ranked[:K]]
    dcg = sum(1 / math.log2(i + 2) for i, h in enumerate(hits) if h)
    idcg = sum(1 / math.log2(i + 2) for i in range(min(K, len(truth))))
    return sum(hits) / len(truth), dcg / idcg, float(any(hits))


def run(path: Path, split_iso: str) -> None:
    t0 = time.perf_counter()
    split = parse_time(split_iso)
    data = load(path, path, split=split)
    cats = {pid: str(p.payload.get("category") or "") for pid, p in data.products.items()}
    aggs = compute_aggregates(data.train, now=split, catalog_categories=cats)
    lines: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    for e in data.train:
        if e.type == "purchase" and e.owner and e.owner.startswith("u#") and e.product_id:
            key = (e.product_id, e.order_id or str(int(e.at // 86400)))
            lines[e.owner][key] = max(lines[e.owner].get(key, 0.0), e.at)
    states = {
        u: UserState(user_id=u, purchases=[Purchase(p, at) for (p, _), at in occ.items()])
        for u, occ in lines.items()
    }
    scored = {
        u: (truth & {p.product_id for p in states[u].purchases})
        for u, truth in data.truth.items()
        if u in states
    }
    scored = {u: t for u, t in scored.items() if t}

    def served(tau: float, rates: bool) -> Callable[[UserState], dict[str, float]]:
        rate = aggs.repeat_rate if rates else None
        return lambda s: {
            p: v
            for p, (v, _) in repeat_scores(s, now=split, repeat_rate=rate, tau_days=tau).items()
        }

    def last_time(s: UserState) -> dict[str, float]:
        out: dict[str, float] = {}
        for p in s.purchases:
            out[p.product_id] = max(out.get(p.product_id, 0.0), p.at)
        return out

    def occasions(s: UserState) -> dict[str, float]:
        last = last_time(s)
        n: dict[str, float] = defaultdict(float)
        for p in s.purchases:
            n[p.product_id] += 1.0
        return {p: v + last[p] / 1e12 for p, v in n.items()}  # ties: the latest first

    variants: dict[str, Callable[[UserState], dict[str, float]]] = {
        "recency only (last purchase)": last_time,
        "occasions only": occasions,
        "Σ exp(−age/30 d)": served(30.0, False),
        "Σ exp(−age/90 d)": served(90.0, False),
        "Σ exp(−age/365 d)": served(365.0, False),
        "Σ exp(−age/90 d) × (½ + repeat rate)": served(90.0, True),
        "**Σ exp(−age/365 d) × (½ + repeat rate)** (served)": served(365.0, True),
    }
    print(
        f"\n### {split_iso}: {len(scored):,} customers who bought again "
        f"(load and aggregates {time.perf_counter() - t0:.0f} s)\n"
    )
    print("| order | Recall@10 | NDCG@10 | HitRate@10 |\n|---|---:|---:|---:|")
    for name, score in variants.items():
        total = [0.0, 0.0, 0.0]
        for u, truth in scored.items():
            values = score(states[u])
            ranked = sorted(values, key=lambda p: (-values[p], p))
            for i, m in enumerate(_metrics(ranked, truth)):
                total[i] += m
        n = len(scored)
        print(f"| {name} | {total[0] / n:.4f} | {total[1] / n:.4f} | {total[2] / n:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "online_retail.csv.gz")
    parser.add_argument("--split", action="append", default=None)
    args = parser.parse_args()
    for split in args.split or ["2011-11-01", "2011-10-01"]:
        run(args.data, split)


if __name__ == "__main__":
    main()
