"""Regenerate docs/EVALUATION.md's measured tables and docs/evaluation.png.

``python -m recsys.evaluation.report [--data CSV]`` (from a checkout) runs ``recsys eval`` on
the Online Retail table for the main split, a second split and the sparse category-only
variant, then writes the
results between the ``<!-- eval:results -->`` markers of docs/EVALUATION.md (the prose around
them is kept), the raw figures to docs/evaluation.json and a bar chart to docs/evaluation.png.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from recsys.evaluation.cli import run_eval

DOCS = Path(__file__).resolve().parents[4] / "docs"
RUNS = (("2011-11-01", "full"), ("2011-10-01", "full"), ("2011-11-01", "sparse"))
LABELS = {
    "recsys": "**recsys**",
    "popularity": "popularity",
    "item_knn": "item-kNN co-purchase",
    "als": "ALS (implicit)",
    "content": "content-only",
}


def ratios(protocols: dict[str, Any]) -> str:
    """The system's Recall@10 over each baseline's, per protocol (the targets are ratios)."""
    parts = []
    for model in ("item_knn", "als", "popularity"):
        cells = []
        for protocol in ("all", "new"):
            base = protocols[protocol][model]["recall@10"]
            mine = protocols[protocol]["recsys"]["recall@10"]
            cells.append(f"{protocol} {mine / base:.2f}×" if base > 0 else f"{protocol} –")
        parts.append(f"{LABELS[model]} " + ", ".join(cells))
    return "Recall@10 of recsys over: " + "; ".join(parts) + "."


def table(result: dict[str, Any]) -> str:
    """Markdown table of one run, both protocols side by side."""
    lines = [
        "| model | all: Recall@10 | NDCG@10 | HitRate@10 | coverage@10 "
        "| new: Recall@10 | NDCG@10 | HitRate@10 | coverage@10 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    protocols = result["protocols"]
    for model, label in LABELS.items():
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
    users = {p: protocols[p]["recsys"]["users"] for p in ("all", "new")}
    lines.append("")
    lines.append(ratios(protocols))
    lines.append("")
    lines.append(
        f"Split {result['split']} ({result['variant']}): {result['catalog_size']:,} products in "
        f"the catalog at the split, {result['train_events']:,} training events, "
        f"{users['all']:,} customers scored under *all*, {users['new']:,} under *new*."
    )
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """Grouped bars of Recall@10 per model, one panel per run and protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(r, p) for r in results for p in ("all", "new")]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6), sharey=False)
    for ax, (r, p) in zip(axes, panels, strict=True):
        names = list(LABELS)
        values = [r["protocols"][p][n]["recall@10"] for n in names]
        colours = ["#d62728" if n == "recsys" else "#7f7f7f" for n in names]
        ax.bar(range(len(names)), values, color=colours)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(["recsys", "pop", "kNN", "ALS", "content"], rotation=45, fontsize=8)
        ax.set_title(f"{r['split']} {r['variant']}\n{p}", fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
    axes[0].set_ylabel("Recall@10")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: list[dict[str, Any]], *, wall_s: float, docs: Path = DOCS) -> None:
    """Put the tables between the markers of EVALUATION.md; write JSON and the plot."""
    parts = []
    for r in results:
        timings = r["timings"]
        eval_s = sum(v for k, v in timings.items() if k.startswith(("all_", "new_")))
        parts.append(
            f"### Split {r['split']} — {r['variant']}\n\n{table(r)}\n\n"
            f"Run time: load {timings.get('load_s', 0):.0f} s, embed {timings['embed_s']:.0f} s, "
            f"aggregates {timings['aggregates_s']:.0f} s, scoring all models {eval_s:.0f} s."
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
        "--data", type=Path, default=None, help="Online Retail CSV (default: settings.demo_data)"
    )
    args = parser.parse_args(argv)
    if args.data is None:
        from recsys.core.config import get_settings

        args.data = get_settings().demo_data
    t0 = time.perf_counter()
    results = []
    for split, variant in RUNS:
        print(f"evaluating {split} {variant} …", file=sys.stderr, flush=True)
        results.append(run_eval(catalog=args.data, events=args.data, split=split, variant=variant))
    write(results, wall_s=time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
