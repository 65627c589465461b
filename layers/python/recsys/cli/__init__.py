"""The ``recsys`` command line: the top layer. No other module of the package imports it.

Each sub-command is one module exposing ``add_arguments(parser)`` and a run function that takes
the parsed namespace and returns an exit code (the evaluation's lives in
``recsys.evaluation.cli``). Global options are accepted before or after the sub-command.
Mistakes a user makes (a missing file, a bad option value, an unreadable store) print one line
naming the file, row or option and what to do; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from recsys import __version__

__all__ = ["COMMANDS", "main"]


@dataclass(frozen=True)
class Command:
    """One sub-command: its module, run function and one-line help."""

    module: str
    run: str
    help: str


COMMANDS: dict[str, Command] = {
    "up": Command("recsys.cli.up", "cli_up", "run the local stack on embedded defaults"),
    "ingest": Command(
        "recsys.cli.ingest", "cli_ingest", "ingest a catalog file (JSON Lines or CSV)"
    ),
    "events": Command("recsys.cli.events", "cli_events", "load a file of events"),
    "refresh": Command("recsys.cli.refresh", "cli_refresh", "run the nightly job now"),
    "reembed": Command(
        "recsys.cli.reembed",
        "cli_reembed",
        "move the store to another encoder (re-embed, rebuild profiles, switch)",
    ),
    "eval": Command("recsys.evaluation.cli", "cli_eval", "offline evaluation against baselines"),
    "bench": Command(
        "recsys.cli.bench", "cli_bench", "run the benchmark suite, writing docs/BENCHMARKS.md"
    ),
}
#: Sub-commands whose modules are optional here (registered by other modules when present).
OPTIONAL: dict[str, Command] = {
    "tune": Command("recsys.cli.tune", "cli_tune", "fit the ranking to the store's own history"),
    "stats": Command(
        "recsys.cli.stats", "cli_stats", "attribution: lists, clicks, conversions, experiments"
    ),
}


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every sub-command takes. Below the top level they default to SUPPRESS, so
    a value given before the sub-command is not overwritten by the sub-parser's default."""
    default = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default,
        help="where the embedded stores live (default .recsys-data, or RECSYS_DATA_DIR)",
    )
    parser.add_argument(
        "--api-url",
        default=default,
        metavar="URL",
        help="send to a running stack (recsys up) at URL instead of the embedded stores "
        "(or RECSYS_API_URL)",
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=default,
        help="text (default): progress on the terminal, JSON logs to <data-dir>/recsys.log; "
        "json: JSON log lines on stderr",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="show tracebacks",
    )


def _module(cmd: Command) -> ModuleType | None:
    try:
        return importlib.import_module(cmd.module)
    except ModuleNotFoundError as exc:
        if exc.name == cmd.module:
            return None
        raise


def _commands() -> dict[str, Command]:
    available = dict(COMMANDS)
    for name, cmd in OPTIONAL.items():
        if importlib.util.find_spec(cmd.module) is not None:
            available[name] = cmd
    return available


def build_parser() -> argparse.ArgumentParser:
    """The whole parser (each sub-command's module adds its own arguments)."""
    parser = argparse.ArgumentParser(
        prog="recsys",
        description="Product recommendations: the local stack, bulk loads, the nightly job, "
        "tuning, stats and offline evaluation. Global options go before or after the command.",
    )
    parser.add_argument("--version", action="version", version=f"recsys {__version__}")
    _global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, cmd in _commands().items():
        p = sub.add_parser(name, help=cmd.help, description=cmd.help)
        _global_options(p, top=False)
        module = _module(cmd)
        add = getattr(module, "add_arguments", None)
        if add is not None:
            add(p)
    return parser


def _run_function(cmd: Command) -> Callable[[argparse.Namespace], int]:
    fn: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(cmd.module), cmd.run)
    return fn


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recsys`` console script and ``python -m recsys``."""
    args = build_parser().parse_args(argv)
    # The CLI is the one place that turns flags into the settings environment.
    if args.data_dir is not None:
        os.environ["RECSYS_DATA_DIR"] = str(args.data_dir)
    if args.api_url is None:
        args.api_url = os.environ.get("RECSYS_API_URL") or None
    from recsys.cli._console import configure_logging, fail

    configure_logging(args)
    try:
        return _run_function(_commands()[args.command])(args)
    except KeyboardInterrupt:
        print(f"recsys {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        return fail(args.command, exc)


if __name__ == "__main__":
    sys.exit(main())
