"""`recsys stats` prints the /stats report as tables."""

from __future__ import annotations

from decimal import Decimal

from recsys.cli.stats import format_report
from recsys.feedback.experiments import Experiment
from recsys.feedback.model import Counts
from recsys.feedback.report import build_report


def test_the_table_shows_every_group_and_the_experiment_verdict() -> None:
    exp = Experiment.parse({"name": "x", "variants": {"a": {"share": 0.5}, "b": {"share": 0.5}}})
    buckets = {
        ("2026-12-01", "personalized", "a"): Counts(
            lists=40,
            impressions=400,
            clicks=60,
            conversions=30,
            revenue=Decimal("75.5"),
            users={"u1", "u2"},
            shown={"P1", "P2", "P3"},
        ),
        ("2026-12-01", "personalized", "b"): Counts(
            lists=42,
            impressions=420,
            clicks=40,
            conversions=12,
            revenue=Decimal("20.25"),
            users={"u3"},
            shown={"P1"},
        ),
    }
    report = build_report(buckets, days=["2026-12-01"], experiment=exp, catalog_products=10)
    text = format_report(report)
    for needle in (
        "personalized",
        "variants:",
        "a ",
        "b ",
        "experiment 'x'",
        "ctr",
        "conversion_rate",
        "impressions per variant",
    ):
        assert needle in text, needle
    c = report["experiment"]["comparisons"]["b"]["conversion_rate"]
    assert f"p={c['p_value']:.4f}" in text
    assert "significant" in text
    assert f"{report['coverage']['shown_products']} products shown of 10" in text
