"""``recsys eval``: offline evaluation of the ranking against baselines on a time split."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from recsys.core.config import get_settings
from recsys.core.errors import RecsysError
from recsys.evaluation.data import load, parse_time
from recsys.evaluation.harness import (
    MODELS,
    category_text,
    evaluate,
    prepare,
    sparse_variant,
)
from recsys.ranking.config import RankingConfig


def run_eval(
    *,
    catalog: Any,
    events: Any,
    split: str,
    variant: str = "full",
    models: tuple[str, ...] = MODELS,
    progress: bool = False,
) -> dict[str, Any]:
    """Load, prepare and evaluate one split; the dict printed by ``recsys eval --json``."""
    settings = get_settings()
    t0 = time.perf_counter()
    data = load(catalog, events, split=parse_time(split))
    loaded = time.perf_counter() - t0
    if progress:
        print(
            f"loaded {len(data.products)} products, {len(data.train)} training events, "
            f"{len(data.truth)} test customers in {loaded:.1f} s",
            file=sys.stderr,
        )
    texts = None
    if variant == "sparse":
        data = sparse_variant(data)
        texts = category_text
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    # One BLAS thread: the per-user products are small, and threads only contend (and make
    # ALS less repeatable) on a shared machine.
    with threadpool_limits(1):
        prep = prepare(data, settings=settings, texts=texts)
        result = evaluate(prep, config=RankingConfig.from_settings(settings), models=models)
    result["timings"]["load_s"] = round(loaded, 2)
    return {
        "split": split,
        "variant": variant,
        "catalog_size": len(prep.ids),
        "train_events": len(data.train),
        **result,
    }


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table: one row per protocol and model."""
    lines = [
        f"split {result['split']} ({result.get('variant', 'full')}), "
        f"catalog {result.get('catalog_size', '?')} products",
        f"{'protocol':<9}{'model':<12}{'recall@10':>10}{'ndcg@10':>10}{'hit@10':>9}"
        f"{'cov@10':>9}{'users':>7}",
    ]
    for protocol, models in result["protocols"].items():
        for name, m in models.items():
            lines.append(
                f"{protocol:<9}{name:<12}{m['recall@10']:>10.4f}{m['ndcg@10']:>10.4f}"
                f"{m['hitrate@10']:>9.4f}{m['coverage@10']:>9.3f}{m['users']:>7}"
            )
    return "\n".join(lines)


def cli_eval(args: argparse.Namespace) -> int:
    """Entry of ``recsys eval``."""
    try:
        result = run_eval(
            catalog=args.catalog,
            events=args.events,
            split=args.split,
            variant=getattr(args, "variant", "full") or "full",
            progress=not args.json,
        )
    except (RecsysError, OSError) as exc:
        print(f"recsys eval: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        print(format_table(result))
        timings = ", ".join(f"{k} {v}" for k, v in result["timings"].items())
        print(f"timings (s): {timings}")
    return 0
