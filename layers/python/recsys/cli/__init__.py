"""The ``recsys`` command line: the top layer. Each sub-command is a module of this package (the
evaluation's is ``recsys.evaluation.cli``); no other module of the package imports it."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

#: sub-command → "module:function"; the function takes the parsed namespace, returns an exit code.
COMMANDS: dict[str, str] = {
    "up": "recsys.cli.up:cli_up",
    "ingest": "recsys.cli.ingest:cli_ingest",
    "events": "recsys.cli.events:cli_events",
    "refresh": "recsys.cli.refresh:cli_refresh",
    "eval": "recsys.evaluation.cli:cli_eval",
    "bench": "recsys.cli.bench:cli_bench",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recsys", description=__doc__)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where embedded stores live (default .recsys-data)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the local stack on embedded defaults")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--demo", action="store_true", help="load the Online Retail catalog and events")
    up.add_argument(
        "--full-history", action="store_true", help="with --demo: replay the whole year"
    )
    up.add_argument("--no-serve", action="store_true", help="set up and load, then exit")

    ingest = sub.add_parser("ingest", help="ingest a catalog file (JSON Lines or CSV)")
    ingest.add_argument("file", type=Path)
    ingest.add_argument(
        "--format", choices=["auto", "jsonl", "csv", "online-retail"], default="auto"
    )
    ingest.add_argument("--rejects", type=Path, default=None, help="write rejected rows here")

    events = sub.add_parser("events", help="load events from a JSON Lines file")
    events.add_argument("file", type=Path)
    events.add_argument("--format", choices=["auto", "jsonl", "online-retail"], default="auto")
    events.add_argument("--since", default=None, help="only events at or after this ISO time")
    events.add_argument("--until", default=None, help="only events before this ISO time")
    events.add_argument("--rejects", type=Path, default=None, help="write rejected events here")

    sub.add_parser("refresh", help="run the nightly job now")

    ev = sub.add_parser("eval", help="offline evaluation against baselines")
    ev.add_argument(
        "--dataset",
        action="append",
        default=None,
        metavar="NAME[@SPLIT]",
        help="online-retail, online-retail-sparse, online-retail-grocery, ta-feng, "
        "ta-feng-sample, instacart, or all; repeat or comma-separate to run several",
    )
    ev.add_argument("--catalog", type=Path, default=None, help="a catalog file (with --events)")
    ev.add_argument("--events", type=Path, default=None, help="an events file (with --catalog)")
    ev.add_argument(
        "--split", default=None, help="ISO time: train before, test after (default per dataset)"
    )
    ev.add_argument(
        "--variant",
        choices=["full", "sparse", "grocery"],
        default="full",
        help="for --catalog/--events: sparse = category-only texts and a thinned history; "
        "grocery = the most-bought products only, customer-day baskets, category-only texts",
    )
    ev.add_argument("--models", action="append", default=None, help="rows to run (default all)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--out", type=Path, default=None, help="also write the JSON to this file")
    ev.add_argument(
        "--dataset-cache", type=Path, default=None, help="downloads (default <data-dir>/datasets)"
    )
    ev.add_argument("--quiet", action="store_true", help="no progress on stderr")

    sub.add_parser("bench", help="run the benchmark suite, writing docs/BENCHMARKS.md")
    return parser


def _resolve(target: str) -> Callable[[argparse.Namespace], int]:
    module, func = target.split(":")
    fn: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), func)
    return fn


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recsys`` console script."""
    args = _parser().parse_args(argv)
    if args.data_dir is not None:
        import os

        # The CLI is the one place allowed to translate a flag into the settings environment.
        os.environ["RECSYS_DATA_DIR"] = str(args.data_dir)
    return _resolve(COMMANDS[args.command])(args)


if __name__ == "__main__":
    sys.exit(main())
