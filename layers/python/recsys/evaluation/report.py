"""Regenerate docs/EVALUATION.md's measured tables and docs/evaluation.png.

``python -m recsys.evaluation.report [--dataset NAME[@SPLIT] ...] [--from-json RUNS]`` (from a
checkout) runs ``recsys eval`` on every dataset of :data:`RUNS` (Online Retail at two splits, its
sparse and grocery-like variants, the Ta-Feng sample and the Instacart sample), or formats the
runs of a ``recsys eval --out`` file, then writes the results between the
``<!-- eval:results -->`` markers of docs/EVALUATION.md (the prose around them is kept), the raw
figures to docs/evaluation.json and a bar chart to docs/evaluation.png. Every registered model
that ran gets a row.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from recsys.evaluation.cli import run_dataset
from recsys.evaluation.harness import REGISTRY
from recsys.evaluation.progress import Progress

DOCS = Path(__file__).resolve().parents[4] / "docs"
RUNS = (
    "online-retail",
    "online-retail@2011-10-01",
    "online-retail-sparse",
    "online-retail-grocery",
    "ta-feng-sample",
    "instacart",
)
BASELINES = ("item_knn", "als", "popularity")


def _models(result: dict[str, Any]) -> list[str]:
    """The models of a run in registry order (unknown ones after)."""
    ran = list(result["protocols"]["all"])
    return [m for m in REGISTRY if m in ran] + [m for m in ran if m not in REGISTRY]


def _label(model: str) -> str:
    label = REGISTRY[model].label if model in REGISTRY else model
    return f"**{label}**" if model == "recsys" else label


def ratios(protocols: dict[str, Any]) -> str:
    """The system's Recall@10 over each baseline's, per protocol (the targets are ratios)."""
    parts = []
    for model in BASELINES:
        if model not in protocols["all"] or "recsys" not in protocols["all"]:
            continue
        cells = []
        for protocol in ("all", "new"):
            base = protocols[protocol][model]["recall@10"]
            mine = protocols[protocol]["recsys"]["recall@10"]
            cells.append(f"{protocol} {mine / base:.2f}×" if base > 0 else f"{protocol} –")
        parts.append(f"{_label(model)} " + ", ".join(cells))
    return "Recall@10 of recsys over: " + "; ".join(parts) + "." if parts else ""


def table(result: dict[str, Any]) -> str:
    """Markdown table of one run, both protocols side by side."""
    lines = [
        "| model | all: Recall@10 | NDCG@10 | HitRate@10 | coverage@10 "
        "| new: Recall@10 | NDCG@10 | HitRate@10 | coverage@10 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    protocols = result["protocols"]
    for model in _models(result):
        label = _label(model)
        cells = []
        for protocol in ("all", "new"):
            m = protocols[protocol][model]
            cells += [
                f"{m['recall@10']:.4f}",
                f"{m['ndcg@10']:.4f}",
                f"{m['hitrate@10']:.3f}",
                f"{100 * m['coverage@10']:.1f} %",
            ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    first = _models(result)[0]
    users = {p: protocols[p][first]["users"] for p in ("all", "new")}
    lines.append("")
    lines.append(ratios(protocols))
    lines.append("")
    lines.append(
        f"{_title(result)}: {result['catalog_size']:,} products in "
        f"the catalog at the split, {result['train_events']:,} training events, "
        f"{users['all']:,} customers scored under *all*, {users['new']:,} under *new*."
    )
    return "\n".join(lines)


def _title(result: dict[str, Any]) -> str:
    return f"{result.get('dataset') or result.get('variant', 'full')} @ {result['split']}"


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """Bars of Recall@10 per model: a row of panels per protocol (one shared axis each), a
    panel per run, values on the bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    protocols = ("all", "new")
    fig, axes = plt.subplots(
        len(protocols),
        len(results),
        figsize=(2.9 * len(results), 6.6),
        sharey="row",
        squeeze=False,
    )
    for row, p in enumerate(protocols):
        for col, r in enumerate(results):
            ax = axes[row][col]
            names = _models(r)
            values = [r["protocols"][p][n]["recall@10"] for n in names]
            colours = ["#7f7f7f" if n in REGISTRY and n != "recsys" else "#d62728" for n in names]
            bars = ax.bar(range(len(names)), values, color=colours)
            ax.bar_label(
                bars, labels=[f"{v:.3f}" for v in values], fontsize=6, rotation=90, padding=2
            )
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels([n.replace("_", " ") for n in names], rotation=60, fontsize=7)
            ax.set_title(f"{_title(r)}\n{p}", fontsize=8)
            ax.tick_params(axis="y", labelsize=7)
            ax.margins(y=0.25)
        axes[row][0].set_ylabel(f"Recall@10 ({p})")
    fig.suptitle(
        "Recall@10 per model. all: every product bought after the split counts; "
        "new: only products the customer had not bought before.",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: list[dict[str, Any]], *, wall_s: float, docs: Path = DOCS) -> None:
    """Put the tables between the markers of EVALUATION.md; write JSON and the plot."""
    parts = []
    for r in results:
        timings = r["timings"]
        eval_s = sum(v for k, v in timings.items() if k.startswith(("all_", "new_")))
        cpu = f" ({r['cpu_s']:.0f} s CPU)" if "cpu_s" in r else ""
        code = f"Code of {r['code']}.\n\n" if r.get("code") else ""
        parts.append(
            f"### {_title(r)}\n\n{code}{table(r)}\n\n"
            f"Run time: load {timings.get('load_s', 0):.0f} s, embed {timings['embed_s']:.0f} s, "
            f"aggregates {timings['aggregates_s']:.0f} s, scoring all models {eval_s:.0f} s; "
            f"whole run {r.get('wall_s', 0):.0f} s{cpu}."
        )
    block = (
        "<!-- eval:results -->\n"
        + "\n\n".join(parts)
        + f"\n\nWhole report: {wall_s:.0f} s on a shared 2-core machine.\n<!-- /eval:results -->"
    )
    md = docs / "EVALUATION.md"
    text = md.read_text(encoding="utf-8") if md.exists() else "# Offline evaluation\n\n"
    pattern = re.compile(r"<!-- eval:results -->.*?<!-- /eval:results -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text}\n{block}\n"
    md.write_text(text, encoding="utf-8")
    (docs / "evaluation.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    plot(results, docs / "evaluation.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--dataset", action="append", default=None, help="NAME[@SPLIT] (default: RUNS)"
    )
    parser.add_argument(
        "--from-json", type=Path, default=None, help="format these runs (recsys eval --out)"
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    if args.from_json is not None:
        loaded = json.loads(args.from_json.read_text(encoding="utf-8"))
        results = loaded.get("runs", [loaded])
        wall = float(loaded.get("wall_s", sum(r.get("wall_s", 0) for r in results)))
    else:
        say = Progress()
        results = [run_dataset(name, progress=say) for name in args.dataset or RUNS]
        wall = time.perf_counter() - t0
    write(results, wall_s=wall)
    print(f"wrote {DOCS / 'EVALUATION.md'} ({len(results)} runs)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
