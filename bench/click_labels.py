"""Does training on attributed clicks pay? The learned ranker with and without click labels on
simulated shops whose click behaviour follows a known model (recsys.datasets.click_log).

For each seed the tuner runs once per click weight (``ClickLog.weight``: the clicked lists'
total weight against the customers' purchases) with click labels, fitting the purchase-only
learned ranker and the one with clicks on the same fit window; then, on the check window
neither saw:

- Recall@10 of the customers' purchases (the tuner's gate),
- the held-out clicks the tuner reports: the inverse-propensity-weighted share of the check
  window's clicks that a ranker puts in the top 3 of each logged list's 10 shown items,
- the true click-through of each ranker's own top 10 from the customer's whole candidate
  pool at the check window's start, under the simulator's click model (Σ_k θ_k · r(u, i_k)
  per list — what an online test would measure, known here because the model is),

and the propensities estimated from the log beside the true ones. Writes the section
``click-labels`` of docs/SELF_TUNING.md.

    python -m bench.click_labels --seeds 3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench._report import machine_line, write_section

DOC = Path(__file__).resolve().parents[1] / "docs" / "SELF_TUNING.md"
WINDOW_DAYS = 21.0
#: One tuning run each: the clicked lists' total weight against the customers' purchases, and
#: whether clicks are weighted by inverse propensity (without: every propensity clipped to 1).
RUNS: tuple[tuple[float, bool], ...] = ((0.3, True), (1.0, True), (0.3, False))


def true_ctr(block: Any, scorer: Any, sim: Any, k: int = 10) -> float:
    """Mean over the block's customers of Σ_k θ_k · r(u, i_k) over the scorer's top ``k``."""
    from recsys.ranking.learned import top_k_blocks

    theta = np.asarray(sim.theta[:k])
    chosen, mask = top_k_blocks(
        scorer.score(block.x, block.starts, block.scaled), block.starts, k=k
    )
    total = 0.0
    for u, user in enumerate(block.users):
        rows = [int(r) for r, ok in zip(chosen[u], mask[u], strict=True) if ok]
        r = sim.attractiveness(user.removeprefix("u#"), [block.items[i] for i in rows])
        total += float((theta[: len(rows)] * r).sum())
    return total / max(len(block.users), 1)


def _rows(fitted: Any, check: Any, sim: Any, names: dict[str, str]) -> dict[str, Any]:
    """Per objective: each named candidate's three figures, the current's recall, the choice."""
    from recsys.ranking.fitted import MODES, candidate

    out: dict[str, Any] = {}
    for mode in MODES:
        entry = fitted.report["modes"][mode]
        held = entry["held_out_clicks"]
        row: dict[str, Any] = {
            "current": entry["check"]["current"]["recall"],
            "served": held.get("served"),
            "lists": held["lists"],
            "chosen": {},
        }
        for name, label in names.items():
            fit = candidate(fitted, mode, name)
            if fit is None:
                continue
            row[label] = {
                "recall": entry["check"][name]["recall"],
                "held_out_clicks@3": held.get(name),
                "true_ctr@10": round(true_ctr(check.blocks[mode], fit.scorer, sim), 4),
            }
        out[mode] = row
    return out


def run_seed(seed: int, users: int, runs: tuple[tuple[float, bool], ...] = RUNS) -> dict[str, Any]:
    """One simulated shop, tuned once per click weight (the purchase-only candidates are the
    same in every run: the same fit window)."""
    from recsys.datasets.click_log import ClickWorld, simulate
    from recsys.events.models import validate_events
    from recsys.feedback.labels import labels_from_events
    from recsys.profiles.point import to_profile_event
    from recsys.ranking.click_labels import ClickLog
    from recsys.ranking.replay import TuneOptions, replay_window
    from recsys.ranking.tuner import Catalog, tune

    sim = simulate(ClickWorld(users=users, seed=seed))
    logged, _ = validate_events(sim.events, now=sim.events[-1]["timestamp"] + 10)
    labels = labels_from_events(logged, window_s=86400.0)
    events = [to_profile_event(e) for e in logged]
    as_of = events[-1].at + 1
    catalog = Catalog(sim.ids, sim.vectors, sim.payloads)
    opts = TuneOptions(window_days=WINDOW_DAYS, passes=1, max_users=users)
    check = replay_window(events, catalog, cut=as_of - WINDOW_DAYS * 86400, end=as_of, options=opts)
    out: dict[str, Any] = {"seed": seed, "events": len(events), "impressions": len(labels)}
    out["true_theta"] = [round(t, 4) for t in sim.theta]
    out["modes"] = {}
    out["runs"] = []
    for w, debiased in runs:
        t0 = time.perf_counter()
        clicks = ClickLog(labels, min_clicks=200, weight=w, clip=0.05 if debiased else 1.0)
        fitted = tune(events, catalog, as_of=as_of, options=opts, clicks=clicks)
        seconds = time.perf_counter() - t0
        run = f"weight {w:g}" + ("" if debiased else ", no position correction")
        names = {"learned_clicks": f"learned + clicks ({run})"}
        if not out["modes"]:
            names = {"weighted_sum": "weighted sum", "learned": "learned", **names}
        rows = _rows(fitted, check, sim, names)
        for mode, row in rows.items():
            row["chosen"] = {run: fitted.report["modes"][mode]["chosen"]}
            if mode in out["modes"]:
                merged = out["modes"][mode]
                merged["chosen"].update(row.pop("chosen"))
                merged.update({k: v for k, v in row.items() if k.startswith("learned +")})
            else:
                out["modes"][mode] = row
        out["runs"].append(
            {
                "weight": w,
                "tune_s": round(seconds, 1),
                "click_s": sum(fitted.report["modes"][m]["seconds"]["click_labels"] for m in rows),
                "click_labels": fitted.report["click_labels"],
            }
        )
    return out


def _mean(results: list[dict[str, Any]], mode: str, label: str, key: str) -> float:
    return float(np.mean([r["modes"][mode][label][key] for r in results]))


def _held(value: float, label: str, digits: int) -> str:
    """The held-out click share, except for a run without position correction: its share is
    weighted by that run's own flat propensities, so it does not compare (the true CTR does)."""
    return "–" if "no position correction" in label else f"{value:.{digits}f}"


def markdown(results: list[dict[str, Any]], users: int) -> str:
    labels = [k for k in results[0]["modes"]["repeat"] if k in ("weighted sum", "learned")]
    labels += [k for k in results[0]["modes"]["repeat"] if k.startswith("learned +")]
    lines = [
        "### Click labels, measured on simulated shops",
        "",
        f"`python -m bench.click_labels` · {machine_line()}. {len(results)} simulated shops "
        f"(`recsys.datasets.click_log`, seeds 1–{len(results)}: {users} customers, 150 "
        "products, 12 weeks; 3 lists of 10 a week per customer from a popularity-with-noise "
        "policy that knows nothing of taste; clicks by the position-based model θ_k = 1/(1+k), "
        "r = sigmoid(−3 + 6 · cos(taste, product)); weekly baskets of staples plus one product "
        "drawn by popularity × exp(2 · cos(taste, product)); a click is followed by a purchase "
        f"one time in five). Windows of {WINDOW_DAYS:.0f} days; every figure is on the check "
        "window, which no ranker was fitted on: Recall@10 of the customers' purchases (the "
        "gate), the held-out clicks (inverse-propensity-weighted share of the check window's "
        "clicks a ranker puts in the top 3 of each logged list's 10 shown items) and the true "
        "click-through of the ranker's own top 10 from each customer's whole candidate pool "
        "under the simulator's click model (Σ_k θ_k · r, expected clicks per list).",
        "",
        "Mean over the seeds:",
        "",
        "| objective | ranker | Recall@10 (gate) | held-out clicks, top 3 of 10 | true CTR of its "
        "top 10 |",
        "|---|---|---:|---:|---:|",
    ]
    for mode in ("repeat", "new"):
        for label in labels:
            lines.append(
                f"| {mode} | {label} | {_mean(results, mode, label, 'recall'):.4f} | "
                f"{_held(_mean(results, mode, label, 'held_out_clicks@3'), label, 4)} | "
                f"{_mean(results, mode, label, 'true_ctr@10'):.4f} |"
            )
        cur = float(np.mean([r["modes"][mode]["current"] for r in results]))
        served = float(np.mean([r["modes"][mode]["served"] for r in results]))
        lines.append(f"| {mode} | current (fixed blend) | {cur:.4f} | – | – |")
        lines.append(f"| {mode} | as served (the logged order) | – | {served:.4f} | – |")
    lines += [
        "",
        "Per seed (Recall@10 / held-out clicks / true CTR; what the gate kept per click weight):",
        "",
        "| seed · objective | " + " | ".join(labels) + " | current | kept |",
        "|---|" + "---:|" * (len(labels) + 1) + "---|",
    ]
    for r in results:
        for mode, row in r["modes"].items():
            cells = [
                f"{row[x]['recall']:.3f} / {_held(row[x]['held_out_clicks@3'], x, 3)} / "
                f"{row[x]['true_ctr@10']:.3f}"
                for x in labels
            ]
            kept = ", ".join(f"{k}: {c}" for k, c in row["chosen"].items())
            lines.append(
                f"| {r['seed']} · {mode} | " + " | ".join(cells) + f" | {row['current']:.3f} | "
                f"{kept} |"
            )
    lines += [
        "",
        "Propensities estimated from each log (θ relative to the top slot), beside the truth:",
        "",
        "| seed | method | clicks in the log | click labels used | θ_1 … θ_9 |",
        "|---|---|---:|---:|---|",
    ]
    for r in results:
        cl = r["runs"][0]["click_labels"]
        values = ", ".join(f"{v:.2f}" for v in cl["propensity"]["values"][1:])
        lines.append(
            f"| {r['seed']} | {cl['propensity']['method']} | {cl['clicks']} | "
            f"{cl.get('labels', 0)} | {values} |"
        )
    true = ", ".join(f"{v:.2f}" for v in results[0]["true_theta"][1:])
    lines += [f"| true | | | | {true} |", ""]
    runs = [run for r in results for run in r["runs"]]
    lines.append(
        f"One tuning run with click labels took {min(x['tune_s'] for x in runs):.0f}–"
        f"{max(x['tune_s'] for x in runs):.0f} s, of which building the click examples of both "
        f"windows and objectives {min(x['click_s'] for x in runs):.0f}–"
        f"{max(x['click_s'] for x in runs):.0f} s (2 shared cores)."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--from-json", type=Path, default=None, help="rewrite the section from a saved --json"
    )
    args = parser.parse_args()
    if args.from_json:
        results = json.loads(args.from_json.read_text())
    else:
        results = [run_seed(seed, args.users) for seed in range(1, args.seeds + 1)]
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    write_section("click-labels", markdown(results, args.users), path=DOC)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
