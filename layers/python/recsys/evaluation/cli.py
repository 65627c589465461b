"""``recsys eval``: offline evaluation of the ranking against baselines on a time split.

Either named datasets (``--dataset online-retail,ta-feng`` or ``--dataset all``; ``NAME@SPLIT``
moves one's split) or files (``--catalog F --events F --split T [--variant sparse]``). Several
runs print one JSON object ``{"runs": [...]}`` with ``--json`` (one run prints the run itself);
progress goes to stderr unless ``--quiet``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from recsys.core.config import get_settings
from recsys.core.errors import RecsysError
from recsys.evaluation.data import EvalData, parse_time
from recsys.evaluation.harness import (
    MODELS,
    REGISTRY,
    Model,
    category_text,
    evaluate,
    prepare,
    sparse_variant,
)
from recsys.evaluation.progress import Progress
from recsys.ranking.config import RankingConfig

VARIANTS = ("full", "sparse", "grocery")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``recsys eval``."""
    parser.add_argument(
        "--dataset",
        action="append",
        default=None,
        metavar="NAME[@SPLIT]",
        help="online-retail, online-retail-sparse, online-retail-grocery, ta-feng, "
        "ta-feng-sample, instacart, or all; repeat or comma-separate to run several",
    )
    parser.add_argument("--catalog", type=Path, default=None, help="a catalog file (with --events)")
    parser.add_argument("--events", type=Path, default=None, help="an events file (with --catalog)")
    parser.add_argument(
        "--split", default=None, help="ISO time: train before, test after (default per dataset)"
    )
    parser.add_argument(
        "--variant",
        choices=list(VARIANTS),
        default="full",
        help="for --catalog/--events: sparse = category-only texts and a thinned history; "
        "grocery = the most-bought products only, customer-day baskets, category-only texts",
    )
    parser.add_argument(
        "--models",
        action="append",
        default=None,
        help="rows to run, comma-separated (default: recsys and the four baselines; "
        "self_tuned, learned: the tuner's rows; all: every row)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON to this file")
    parser.add_argument(
        "--dataset-cache", type=Path, default=None, help="downloads (default <data-dir>/datasets)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _summary(data: EvalData) -> str:
    return (
        f"{len(data.products):,} products, {len(data.train):,} training events, "
        f"{len(data.truth):,} customers with purchases after the split"
    )


def evaluate_data(
    data: EvalData,
    *,
    texts: Callable[[Any], str] | None = None,
    models: Sequence[str | Model] = MODELS,
    config: RankingConfig | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Prepare and evaluate one split (one BLAS thread); the run's figures and timings."""
    settings = get_settings()
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    # One BLAS thread: the products are small, and threads only contend (and make ALS less
    # repeatable) on a shared machine.
    with threadpool_limits(1):
        prep = prepare(data, settings=settings, texts=texts, progress=progress)
        result = evaluate(
            prep,
            config=config or RankingConfig.from_settings(settings),
            models=models,
            progress=progress,
        )
    out = {"catalog_size": len(prep.ids), "train_events": len(data.train), **result}
    if "tuned" in prep.cache:
        # What the tuner chose on this split and why (docs: recsys.evaluation.tuned_report).
        from recsys.evaluation.tuned import tuned_report

        out["tuned"] = tuned_report(prep)
    return out


def run_eval(
    *,
    catalog: Any,
    events: Any,
    split: str,
    variant: str = "full",
    models: Sequence[str | Model] = MODELS,
    progress: bool | Progress = False,
) -> dict[str, Any]:
    """Load, prepare and evaluate one split of files; the dict printed by ``recsys eval``."""
    say = progress if isinstance(progress, Progress) else Progress(enabled=bool(progress))
    t0, c0 = time.perf_counter(), time.process_time()
    from recsys.evaluation.datasets import load_cached

    data = load_cached(Path(catalog), Path(events), split=parse_time(split))
    loaded = time.perf_counter() - t0
    say(f"loaded {_summary(data)} in {loaded:.1f} s")
    texts = None
    if variant == "sparse":
        data, texts = sparse_variant(data), category_text
    elif variant == "grocery":
        from recsys.evaluation.datasets import grocery_variant

        data, texts = grocery_variant(data), category_text
    result = evaluate_data(data, texts=texts, models=models, progress=say)
    result["timings"]["load_s"] = round(loaded, 2)
    return {
        "split": split,
        "variant": variant,
        **result,
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_s": round(time.process_time() - c0, 1),
    }


def run_dataset(
    name: str,
    *,
    split: str | None = None,
    models: Sequence[str | Model] = MODELS,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Load and evaluate one named dataset (``NAME`` or ``NAME@SPLIT``)."""
    from recsys.evaluation.datasets import load_dataset

    say = progress or Progress(enabled=False)
    t0, c0 = time.perf_counter(), time.process_time()
    ds = load_dataset(name, split=split, cache_dir=cache_dir)
    loaded = time.perf_counter() - t0
    say = say.child(f"{ds.name}@{ds.split}: ")
    say(f"loaded {_summary(ds.data)} in {loaded:.1f} s")
    result = evaluate_data(ds.data, texts=ds.texts, models=models, progress=say)
    result["timings"]["load_s"] = round(loaded, 2)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    say(f"done in {wall:.0f} s ({cpu:.0f} s CPU)")
    return {
        "dataset": ds.name,
        "split": ds.split,
        "variant": ds.name,
        "description": ds.description,
        **result,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
    }


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table: one row per protocol and model."""
    title = result.get("dataset") or result.get("variant", "full")
    lines = [
        f"{title} @ {result['split']}: catalog {result.get('catalog_size', '?'):,} products, "
        f"{result.get('train_events', 0):,} training events",
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


def _names(values: Sequence[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or ():
        out += [v.strip() for v in value.split(",") if v.strip()]
    return out


def _datasets(args: argparse.Namespace) -> list[str]:
    from recsys.evaluation.datasets import DATASETS, parse_name

    names = _names(getattr(args, "dataset", None))
    if names == ["all"]:
        names = list(DATASETS)
    for n in names:
        parse_name(n)  # raises ValueError naming the known datasets
    return names


#: Modules that register further rows (``harness.register``) when they are importable.
EXTRA_ROWS = ("recsys.evaluation.tuned",)


def _load_extra_rows() -> None:
    import importlib

    for module in EXTRA_ROWS:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def _models(args: argparse.Namespace) -> list[str]:
    names = _names(getattr(args, "models", None)) or list(MODELS)
    if any(n not in REGISTRY for n in names) or "all" in names:
        _load_extra_rows()
    if names == ["all"]:
        names = list(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown model {unknown[0]!r}; known: {', '.join(REGISTRY)}")
    return names


def _runs(args: argparse.Namespace, say: Progress) -> list[dict[str, Any]]:
    datasets = _datasets(args)
    models = _models(args)
    files = args.catalog is not None or args.events is not None
    if files and (args.catalog is None or args.events is None or args.split is None):
        raise ValueError("--catalog, --events and --split go together")
    if not files and not datasets:
        raise ValueError(
            "say what to evaluate: --dataset NAME (or all), or --catalog/--events/--split"
        )
    runs: list[dict[str, Any]] = []
    if files:
        runs.append(
            run_eval(
                catalog=args.catalog,
                events=args.events,
                split=args.split,
                variant=args.variant or "full",
                models=models,
                progress=say.child("files: "),
            )
        )
    cache = getattr(args, "dataset_cache", None)
    for name in datasets:
        split = None if files else args.split
        runs.append(run_dataset(name, split=split, models=models, cache_dir=cache, progress=say))
    return runs


def cli_eval(args: argparse.Namespace) -> int:
    """Entry of ``recsys eval``."""
    say = Progress(enabled=not getattr(args, "quiet", False))
    t0 = time.perf_counter()
    try:
        runs = _runs(args, say)
    except (RecsysError, OSError, ValueError) as exc:
        print(f"recsys eval: {exc}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    payload: dict[str, Any] = (
        runs[0] if len(runs) == 1 else {"runs": runs, "wall_s": round(wall, 1)}
    )
    out = getattr(args, "out", None)
    if out is not None:
        Path(out).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(payload))
    else:
        for run in runs:
            print(format_table(run))
            timings = ", ".join(f"{k} {v}" for k, v in run["timings"].items())
            print(f"timings (s): {timings}\n")
    if len(runs) > 1:
        say(f"{len(runs)} runs in {wall:.0f} s")
    return 0
