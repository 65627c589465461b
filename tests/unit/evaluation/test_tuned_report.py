"""The self-tuning report's verdict: ratios against the best baseline and the row served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recsys.evaluation.tuned_report import (
    fitted,
    goals,
    provenance,
    served_row,
    summary,
    table,
    verdict,
    write,
)


def _m(recall: float, coverage: float = 0.2) -> dict[str, float]:
    return {"recall@10": recall, "ndcg@10": recall, "coverage@10": coverage}


def _run(chosen_repeat: str, chosen_new: str) -> dict[str, Any]:
    return {
        "dataset": "shop",
        "protocols": {
            "all": {
                "recsys": _m(0.10),
                "self_tuned": _m(0.11),
                "learned": _m(0.13, 0.3),
                "popularity": _m(0.05),
                "item_knn": _m(0.10),
                "als": _m(0.08),
            },
            "new": {
                "recsys": _m(0.04),
                "self_tuned": _m(0.05, 0.12),
                "learned": _m(0.045),
                "popularity": _m(0.05),
                "item_knn": _m(0.03),
                "als": _m(0.02),
            },
        },
        "tuned": {
            "status": "fitted",
            "modes": {
                "repeat": {
                    "chosen": chosen_repeat,
                    "check": {"current": {"recall": 0.1}, "learned": {"recall": 0.12}},
                    "gain": {"weighted_sum": 0.99, "learned": 1.2},
                },
                "new": {"chosen": chosen_new, "check": {"current": {"recall": 0.04}}},
            },
        },
    }


def test_served_row_maps_the_tuners_choice_to_the_evaluation_row() -> None:
    run = _run("learned", "defaults")
    assert served_row(run, "repeat") == "learned"
    assert served_row(run, "new") == "recsys"
    assert served_row(_run("weighted_sum", "current"), "repeat") == "self_tuned"
    assert served_row({"protocols": {}}, "new") is None


def test_verdict_takes_the_best_of_ours_over_the_best_baseline_and_says_what_is_served() -> None:
    text = verdict(_run("learned", "defaults"))
    all_part, new_part = text.split("; new: ")
    # all: learned 0.13 over item-kNN 0.10 (the best baseline) = 1.30, goal 1.2 met
    assert "learned 0.1300 / item-knn 0.1000 = 1.300×" in all_part
    assert "goal 1.2×: met" in all_part
    assert "the store serves the learned ranker: 1.300×" in all_part
    # new: self-tuned 0.05 ties popularity 0.05 → 1.00, not met; the store serves the defaults
    assert "self-tuned 0.0500 / popularity 0.0500 = 1.000×" in new_part
    assert "**not met**" in new_part
    assert "the store serves the fixed defaults: 0.800×" in new_part


def test_table_and_fitted_lines_carry_every_row_and_the_gains() -> None:
    run = _run("learned", "defaults")
    rows = table(run).splitlines()
    assert len(rows) == 2 + 6  # header, rule, six models (content-only absent)
    assert rows[3].startswith("| **self-tuned** | 0.1100")
    text = fitted(run)
    assert "kept **learned**" in text and "mean gain over both weighted_sum 0.990" in text


def test_goals_are_judged_on_the_served_row() -> None:
    run = _run("learned", "defaults")
    g = goals(run)
    assert g["all"]["served"] == "learned" and g["all"]["ratio_met"]
    assert g["all"]["served_ratio"] == pytest.approx(1.3)
    assert g["all"]["coverage_met"]  # 30 %
    # new: the defaults serve (0.04 / popularity 0.05), though self-tuned ties the baseline
    assert g["new"]["served"] == "recsys" and not g["new"]["ratio_met"]
    assert g["new"]["best_ratio"] == pytest.approx(1.0)
    text = summary([run])
    assert (
        "| shop @  | new | 0.0400 | 0.0500 | 0.0450 | 0.0500 (popularity) | fixed defaults" in text
    )
    assert "0.800× (1.1×: **not met**)" in text
    assert text.endswith("no dataset — of 1 runs.")
    # the served learned row names the candidate the tuner kept
    assert (
        "| shop @  | all | 0.1000 | 0.1100 | 0.1300 | 0.1000 (item-knn) "
        "| learned ranker (`learned`) |" in text
    )


def test_blocks_are_replaced_only_between_their_markers(tmp_path: Path) -> None:
    run = _run("learned", "learned")
    run["tuned"]["seconds"], run["tuned"]["peak_rss_mib"] = 12.5, 800.0
    (tmp_path / "SELF_TUNING.md").write_text(
        "intro\n<!-- tuned:results -->old<!-- /tuned:results -->\nmid\n"
        "<!-- tuned:cost -->old<!-- /tuned:cost -->\nend\n",
        encoding="utf-8",
    )
    (tmp_path / "EVALUATION.md").write_text(
        "a\n<!-- tuned:summary -->old<!-- /tuned:summary -->\nb\n", encoding="utf-8"
    )
    write([run], docs=tmp_path)
    page = (tmp_path / "SELF_TUNING.md").read_text(encoding="utf-8")
    assert page.startswith("intro\n<!-- tuned:results -->\n### shop") and page.endswith("end\n")
    assert "| shop @  | 0 | 0 | 12.5 |" in page and "old" not in page
    summary_page = (tmp_path / "EVALUATION.md").read_text(encoding="utf-8")
    assert summary_page.startswith("a\n<!-- tuned:summary -->\n| dataset |")
    assert summary_page.endswith("<!-- /tuned:summary -->\nb\n")
    assert (tmp_path / "evaluation_tuned.png").stat().st_size > 0


def test_provenance_names_the_code_of_each_run() -> None:
    a, b = _run("learned", "learned"), _run("learned", "learned")
    b["dataset"] = "grocer"
    assert provenance([a, b]) == ""
    a["code"] = b["code"] = "abc1234 (2026-12-02)"
    assert provenance([a, b]) == "Every run on the code of abc1234 (2026-12-02)."
    assert summary([a, b]).endswith("Every run on the code of abc1234 (2026-12-02).")
    b["code"] = "def5678 (2026-12-02)"
    assert provenance([a, b]) == (
        "Runs on the code of abc1234 (2026-12-02): shop @ ; def5678 (2026-12-02): grocer @ ."
    )
