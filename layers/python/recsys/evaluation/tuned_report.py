"""The self-tuning section of docs/EVALUATION.md: tables, fitted configurations, costs, plot.

``python -m recsys.evaluation.tuned_report RUN.json ...`` reads runs written by
``recsys eval --out`` (or one JSON object per file with ``protocols``, ``timings``, ``dataset``
and the tuner's report under ``tuned``) that include the rows "self_tuned" and "learned", and
writes the blocks between ``<!-- tuned:results -->`` and ``<!-- tuned:cost -->`` markers of
docs/SELF_TUNING.md, the ``<!-- tuned:summary -->`` block of docs/EVALUATION.md (the goals per
dataset, judged on the row the store serves) and the plot docs/evaluation_tuned.png.
"""

from __future__ import annotations

import argparse
import json
import re
import textwrap
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[4] / "docs"
ROWS = (
    ("recsys", "fixed defaults (recsys)"),
    ("self_tuned", "**self-tuned**"),
    ("learned", "**learned ranker**"),
    ("popularity", "popularity"),
    ("item_knn", "item-kNN co-purchase"),
    ("als", "ALS (implicit)"),
    ("content", "content-only"),
)
BASELINES = ("popularity", "item_knn", "als")
OURS = ("self_tuned", "learned")


def _runs(paths: list[Path]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in paths:
        data = json.loads(p.read_text(encoding="utf-8"))
        out.extend(data.get("runs", [data]))
    return out


def _cell(m: dict[str, Any] | None, key: str, pct: bool = False) -> str:
    if m is None:
        return "–"
    v = m[key]
    return f"{100 * v:.1f} %" if pct else f"{v:.4f}"


def table(run: dict[str, Any]) -> str:
    p = run["protocols"]
    head = (
        "| model | all: Recall@10 | NDCG@10 | coverage@10 | new: Recall@10 | NDCG@10 "
        "| coverage@10 |\n|---|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for name, label in ROWS:
        a, n = p["all"].get(name), p["new"].get(name)
        if a is None and n is None:
            continue
        lines.append(
            f"| {label} | {_cell(a, 'recall@10')} | {_cell(a, 'ndcg@10')} | "
            f"{_cell(a, 'coverage@10', True)} | {_cell(n, 'recall@10')} | "
            f"{_cell(n, 'ndcg@10')} | {_cell(n, 'coverage@10', True)} |"
        )
    return "\n".join(lines)


def verdict(run: dict[str, Any]) -> str:
    """Best of self-tuned / learned over the best baseline, per protocol, against the goals."""
    parts = []
    for protocol, goal in (("all", 1.2), ("new", 1.1)):
        ms = run["protocols"][protocol]
        base = max(BASELINES, key=lambda b: ms.get(b, {}).get("recall@10", 0.0))
        ours = max(OURS, key=lambda o: ms.get(o, {}).get("recall@10", 0.0))
        b, o = ms[base]["recall@10"], ms[ours]["recall@10"]
        ratio = o / b if b > 0 else float("inf")
        mark = "met" if ratio >= goal else "**not met**"
        cov = ms[ours]["coverage@10"]
        text = (
            f"{protocol}: {ours.replace('_', '-')} {o:.4f} / {base.replace('_', '-')} {b:.4f} "
            f"= {ratio:.3f}× (goal {goal}×: {mark}; coverage {100 * cov:.1f} %)"
        )
        row = served_row(run, "repeat" if protocol == "all" else "new")
        if row is not None and row in ms:
            s = ms[row]["recall@10"]
            text += f", the store serves {SERVED_LABEL[row]}: {s / b:.3f}×" if b > 0 else ""
        parts.append(text)
    return "; ".join(parts)


SERVED_LABEL = {"self_tuned": "the weighted sum", "learned": "the learned ranker"}
SERVED_LABEL["recsys"] = "the fixed defaults"


def served_row(run: dict[str, Any], mode: str) -> str | None:
    """Which row is what the store would serve for ``mode`` (None without a tuner report)."""
    chosen = (run.get("tuned") or {}).get("modes", {}).get(mode, {}).get("chosen")
    if chosen is None:
        return None
    # The evaluation's "learned" row runs whichever learned ranker (any input set) was kept.
    if chosen == "weighted_sum":
        return "self_tuned"
    return "learned" if chosen.startswith("learned") else "recsys"


def fitted(run: dict[str, Any]) -> str:
    """What the tuner chose on this run's training side, per objective, and why."""
    t = run.get("tuned") or {}
    if not t:
        return "(no tuner report)"
    lines = [
        f"Tuner: status **{t.get('status')}**, {t.get('events', 0):,} events, "
        f"{t.get('history_days')} days of history, windows of {t.get('window_days')} days, "
        f"{t.get('users', {}).get('fit', '?')} / {t.get('users', {}).get('check', '?')} customers "
        f"scored (fit / check), repeat share of the check window's purchases "
        f"{100 * t.get('repeat_share', 0):.0f} %; {t.get('seconds')} s, peak RSS "
        f"{t.get('peak_rss_mib')} MiB (the whole evaluation process)."
    ]
    if "reason" in t:
        lines.append(f"Cold: {t['reason']}.")
    for mode, e in t.get("modes", {}).items():
        check = e.get("check", {})
        recall = ", ".join(f"{k} {v['recall']:.4f}" for k, v in check.items())
        first = e.get("check_fit_window", {})
        if first:
            recall += "; on the fit window " + ", ".join(
                f"{k} {v['recall']:.4f}" for k, v in first.items()
            )
        if e.get("gain"):
            recall += "; mean gain over both " + ", ".join(
                f"{k} {v:.3f}" for k, v in e["gain"].items()
            )
        if e.get("gate"):
            recall += "; paired bootstrap, share of draws better (per fold worse) " + ", ".join(
                f"{k} {v['p_better']:.2f} ({' / '.join(f'{p:.2f}' for p in v['p_fold_worse'])})"
                for k, v in e["gate"].items()
            )
        ws = e.get("weighted_sum", {})
        dead = ("repeat", "due") if mode == "new" else ()  # zero there: bought items are out
        weights = ", ".join(f"{k} {v:g}" for k, v in ws.get("weights", {}).items() if k not in dead)
        cols = ", ".join(f"{k} by {v}" for k, v in ws.get("columns", {}).items())
        variant = e["chosen"] if str(e.get("chosen", "")).startswith("learned_") else "learned"
        learned = e.get("signals", {}).get(variant, {})
        top = ", ".join(f"{k} {v:.2f}" for k, v in list(learned.items())[:6])
        lines.append(
            f"- *{mode}*: kept **{e.get('chosen')}**; check-window Recall@10 {recall}. "
            f"Weighted sum: {weights}"
            + (f" ({cols})" if cols else "")
            + (f", cap {e['max_per_category']} per category" if e.get("max_per_category") else "")
            + f". Learned ranker's ({variant}) largest standardised weights: {top}."
        )
    return "\n".join(lines)


GOALS = {"all": 1.2, "new": 1.1}
MIN_COVERAGE = 0.10


def _best_baseline(ms: dict[str, Any]) -> tuple[str, float]:
    base = max(BASELINES, key=lambda b: ms.get(b, {}).get("recall@10", 0.0))
    return base, float(ms[base]["recall@10"])


def goals(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per protocol: the best baseline, the best of self-tuned / learned and the row the store
    serves (the tuner's choice), each as a ratio to that baseline, and the goals met by the
    served row (the ratio, and coverage@10 ≥ 10 %)."""
    out: dict[str, dict[str, Any]] = {}
    for protocol, goal in GOALS.items():
        ms = run["protocols"][protocol]
        base, b = _best_baseline(ms)
        ours = max(OURS, key=lambda o: ms.get(o, {}).get("recall@10", 0.0))
        served = served_row(run, "repeat" if protocol == "all" else "new") or ours
        s = float(ms[served]["recall@10"])
        ratio = s / b if b > 0 else float("inf")
        cov = float(ms[served]["coverage@10"])
        out[protocol] = {
            "baseline": base,
            "baseline_recall": b,
            "best": ours,
            "best_ratio": float(ms[ours]["recall@10"]) / b if b > 0 else float("inf"),
            "served": served,
            "served_recall": s,
            "served_ratio": ratio,
            "coverage": cov,
            "ratio_met": ratio >= goal,
            "coverage_met": cov >= MIN_COVERAGE,
        }
    return out


def summary(runs: list[dict[str, Any]]) -> str:
    """The table of docs/EVALUATION.md: per dataset and protocol, the fixed blend, both tuned
    rows, the best baseline, and the served row's ratio to it and coverage, against the goals."""
    head = (
        "| dataset | protocol | fixed | self-tuned | learned | best baseline | served "
        "| served / baseline (goal) | best of ours / baseline | served coverage@10 (goal 10 %) |\n"
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|"
    )
    lines = [head]
    for r in runs:
        g = goals(r)
        for protocol in GOALS:
            ms, e = r["protocols"][protocol], g[protocol]

            def cell(name: str, ms: dict[str, Any] = ms) -> str:
                return f"{ms[name]['recall@10']:.4f}" if name in ms else "–"

            mark = "met" if e["ratio_met"] else "**not met**"
            cmark = "met" if e["coverage_met"] else "**not met**"
            mode = "repeat" if protocol == "all" else "new"
            kept = (r.get("tuned") or {}).get("modes", {}).get(mode, {}).get("chosen")
            served = SERVED_LABEL[e["served"]].removeprefix("the ")
            if e["served"] == "learned" and kept:
                served += f" (`{kept}`)"
            lines.append(
                f"| {r.get('dataset')} @ {r.get('split', '')} | {protocol} | {cell('recsys')} "
                f"| {cell('self_tuned')} | {cell('learned')} "
                f"| {e['baseline_recall']:.4f} ({e['baseline'].replace('_', '-')}) "
                f"| {served} "
                f"| {e['served_ratio']:.3f}× ({GOALS[protocol]}×: {mark}) "
                f"| {e['best_ratio']:.3f}× | {100 * e['coverage']:.1f} % ({cmark}) |"
            )
    met = [
        f"{r.get('dataset')} @ {r.get('split', '')}"
        for r in runs
        if all(e["ratio_met"] and e["coverage_met"] for e in goals(r).values())
    ]
    lines.append("")
    lines.append(
        "Every goal met (both ratios and coverage, by the served row): "
        + (", ".join(met) if met else "no dataset")
        + f" — of {len(runs)} runs."
        + (f" {provenance(runs)}" if provenance(runs) else "")
    )
    return "\n".join(lines)


def cost(runs: list[dict[str, Any]]) -> str:
    """The tuner's cost per run (its report) and the whole evaluation's."""
    lines = [
        "| run | products | training events | tuning wall s | of it: search / learned fit "
        "/ check / refit s | peak RSS of the process MiB | whole eval wall / CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        t = r.get("tuned") or {}
        secs = [m.get("seconds", {}) for m in t.get("modes", {}).values()]

        def total(key: str, secs: list[dict[str, Any]] = secs) -> float:
            return float(sum(s.get(key, 0.0) for s in secs))

        parts = " / ".join(
            f"{total(k):.0f}" for k in ("weighted_search", "learned_fit", "check", "refit")
        )
        lines.append(
            f"| {r.get('dataset')} @ {r.get('split', '')} | {r.get('catalog_size', 0):,} "
            f"| {r.get('train_events', 0):,} | {t.get('seconds', '–')} | {parts} "
            f"| {t.get('peak_rss_mib', '–')} | {r.get('wall_s', '–')} / {r.get('cpu_s', '–')} |"
        )
    return "\n".join(lines)


def provenance(runs: list[dict[str, Any]]) -> str:
    """Which code each run's figures come from (a run file's ``code``: commit and date), one
    sentence; empty when no run says."""
    by_code: dict[str, list[str]] = {}
    for r in runs:
        if r.get("code"):
            by_code.setdefault(str(r["code"]), []).append(
                f"{r.get('dataset')} @ {r.get('split', '')}"
            )
    if not by_code:
        return ""
    if len(by_code) == 1 and sum(map(len, by_code.values())) == len(runs):
        return f"Every run on the code of {next(iter(by_code))}."
    return (
        "Runs on the code of " + "; ".join(f"{c}: {', '.join(d)}" for c, d in by_code.items()) + "."
    )


def _replace_block(text: str, name: str, body: str) -> str:
    block = f"<!-- tuned:{name} -->\n{body}\n<!-- /tuned:{name} -->"
    pattern = re.compile(rf"<!-- tuned:{name} -->.*?<!-- /tuned:{name} -->", re.S)
    return pattern.sub(lambda _: block, text) if pattern.search(text) else text


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    """Recall@10 per dataset: one panel per protocol (one shared axis each), a group of bars
    per dataset, values on the bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, _ in ROWS if n != "content"]
    colours = {
        "recsys": "#9467bd",
        "self_tuned": "#d62728",
        "learned": "#ff7f0e",
        "popularity": "#7f7f7f",
        "item_knn": "#1f77b4",
        "als": "#2ca02c",
    }
    fig, axes = plt.subplots(2, 1, figsize=(2.1 * len(runs) + 3, 8.5), sharey=False)
    width = 0.8 / len(names)
    for ax, protocol in zip(axes, ("all", "new"), strict=True):
        for j, name in enumerate(names):
            xs, vs = [], []
            for i, r in enumerate(runs):
                m = r["protocols"][protocol].get(name)
                if m is not None:
                    xs.append(i + (j - len(names) / 2 + 0.5) * width)
                    vs.append(m["recall@10"])
            label = dict(ROWS)[name].strip("*")
            bars = ax.bar(xs, vs, width, label=label, color=colours[name])
            ax.bar_label(bars, labels=[f"{v:.3f}" for v in vs], fontsize=6, rotation=90, padding=2)
        ax.set_xticks(range(len(runs)))
        ax.set_xticklabels(
            [f"{r.get('dataset', '?')}\n@ {r.get('split', '')}" for r in runs], fontsize=8
        )
        ax.set_ylabel(f"Recall@10, {protocol}")
        ax.margins(y=0.22)
        ax.legend(fontsize=7, ncol=6, loc="upper right")
    axes[0].set_title(
        "Recall@10 per dataset. all: every product bought after the split counts (buy-again "
        "allowed);\nnew: only products the customer had not bought before (bought ones excluded "
        "from lists and truth). Tuned rows fitted before the split only."
        + (f"\n{textwrap.fill(provenance(runs), 160)}" if provenance(runs) else ""),
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(
    runs: list[dict[str, Any]],
    docs: Path = DOCS,
    doc: str = "SELF_TUNING.md",
    summary_doc: str | None = "EVALUATION.md",
) -> None:
    """The per-dataset block (and the cost block, where ``doc`` has its markers) of ``doc``,
    the summary block of ``summary_doc`` (only between its markers) and the plot."""
    parts = []
    for r in runs:
        code = f"Code of {r['code']}.\n\n" if r.get("code") else ""
        parts.append(
            f"### {r.get('dataset')} @ {r.get('split', '')}\n\n{code}{table(r)}\n\n"
            f"Against the goals — {verdict(r)}.\n\n{fitted(r)}"
        )
    block = "<!-- tuned:results -->\n" + "\n\n".join(parts) + "\n<!-- /tuned:results -->"
    md = docs / doc
    text = md.read_text(encoding="utf-8") if md.exists() else "# Self-tuned ranking\n"
    pattern = re.compile(r"<!-- tuned:results -->.*?<!-- /tuned:results -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text}\n{block}\n"
    text = _replace_block(text, "cost", cost(runs))
    md.write_text(text, encoding="utf-8")
    if summary_doc:
        other = docs / summary_doc
        if other.exists():
            before = other.read_text(encoding="utf-8")
            after = _replace_block(before, "summary", summary(runs))
            if after != before:
                other.write_text(after, encoding="utf-8")
    plot(runs, docs / "evaluation_tuned.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--doc", default="SELF_TUNING.md", help="the page under docs/ to update")
    parser.add_argument(
        "--summary-doc", default="EVALUATION.md", help="the page with the summary block"
    )
    args = parser.parse_args(argv)
    write(_runs(args.runs), doc=args.doc, summary_doc=args.summary_doc or None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
