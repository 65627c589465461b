"""``recsys stats``: attribution per strategy and variant, and the experiment's verdict.

From a running stack (``--api-url``: GET /stats, with ``X-Api-Key`` from ``RECSYS_API_KEY``)
or straight from the stats store the settings name (``RECSYS_STATS_TABLE`` with
``RECSYS_STATS_BACKEND=dynamodb`` — on AWS, the deployed table). Without ``RECSYS_STATS_TABLE``
it asks the stack at ``http://127.0.0.1:8000``: the local stack keeps its stats in the SQLite
file under its data directory and serves them as GET /stats.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8000"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=7, help="the last N UTC days (default 7)")
    parser.add_argument("--json", action="store_true", help="print the /stats JSON")


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.2f}%"


def format_report(r: dict[str, Any]) -> str:
    """The report as plain-text tables."""
    lines = [f"attribution {r['since']} .. {r['until']} ({r['days']} days)"]
    head = f"{'':22} {'lists':>7} {'impr.':>8} {'clicks':>7} {'CTR':>7} {'sales':>6} "
    head += f"{'conv.':>7} {'revenue':>10} {'users':>6}"
    for group in ("strategies", "variants"):
        lines += ["", f"{group}:", head]
        for name, f in r[group].items():
            lines.append(
                f"{name[:22]:22} {f['lists']:>7} {f['impressions']:>8} {f['clicks']:>7} "
                f"{_pct(f['ctr']):>7} {f['conversions']:>6} {_pct(f['conversion_rate']):>7} "
                f"{f['revenue']:>10.2f} {f.get('users', ''):>6}"
            )
    cov = r["coverage"]
    lines += [
        "",
        f"coverage: {cov['shown_products']} products shown of {cov['catalog_products']} "
        f"({_pct(cov['coverage'])}); cold start: {_pct(r['cold_start']['share'])} of lists",
    ]
    exp = r.get("experiment")
    if exp:
        lines += ["", f"experiment {exp['name']!r} (control {exp['control']}):"]
        for name, c in exp["comparisons"].items():
            for metric in ("conversion_rate", "ctr"):
                m = c[metric]
                if "diff" not in m:
                    lines.append(f"  {name} {metric}: {m.get('note')}")
                    continue
                lo, hi = m["ci95"]
                verdict = "significant" if m["significant"] else "not significant yet"
                lines.append(
                    f"  {name} - {exp['control']} {metric}: {100 * m['diff']:+.3f} pp "
                    f"[{100 * lo:+.3f}, {100 * hi:+.3f}] p={m['p_value']:.4f} ({verdict})"
                )
            size = c["sample_size"]
            if "per_variant" in size:
                lines.append(
                    f"  impressions per variant for {_pct(size['effect'])} ({size['basis']}): "
                    f"{size['per_variant']:,} (have {size['have']:,}; "
                    f"{size['still_needed']:,} more)"
                )
    return "\n".join(lines)


def cli_stats(args: argparse.Namespace) -> int:
    """``recsys stats``."""
    from recsys.cli._console import http_json, say

    days = max(1, int(args.days))
    url = getattr(args, "api_url", None)
    report: dict[str, Any]
    if url is None:
        from recsys.core.config import get_settings

        if not get_settings().stats_table:
            url = DEFAULT_URL
            say("stats", f"no RECSYS_STATS_TABLE here: asking the stack at {url}")
    if url is not None:
        report = http_json("GET", f"{url.rstrip('/')}/stats?days={days}")
    else:
        from recsys.api.routes.stats import stats_report
        from recsys.services import Services

        services = Services()
        try:
            report = stats_report(services, days=days)
        finally:
            services.close()
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0
