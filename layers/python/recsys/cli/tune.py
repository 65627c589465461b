"""``recsys tune``: fit the ranking to the store's own history now (the nightly job's tuning
step on its own), print what was chosen and why, and keep it with the aggregates.

``--dry-run`` prints without saving; ``--dataset NAME`` tunes on an evaluation dataset's
training side instead of the store (``recsys eval``'s datasets) and only prints.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print the result, keep nothing")
    parser.add_argument("--json", action="store_true", help="print the whole fitted configuration")
    parser.add_argument(
        "--dataset", default=None, help="tune on an evaluation dataset (before its split)"
    )
    parser.add_argument("--window-days", type=float, default=None, help="fit/check window")
    parser.add_argument("--max-users", type=int, default=None, help="customers per window")


def _options(args: argparse.Namespace) -> Any:
    from dataclasses import replace

    from recsys.ranking.tuner import TuneOptions

    opts = TuneOptions()
    if getattr(args, "window_days", None):
        opts = replace(opts, window_days=args.window_days)
    if getattr(args, "max_users", None):
        opts = replace(opts, max_users=args.max_users)
    return opts


def _print(fitted: Any, *, as_json: bool) -> None:
    from recsys.ranking.tuner import explain_report

    if as_json:
        print(json.dumps(fitted.to_json() | {"item_stats": "(omitted)"}, indent=1, default=str))
        return
    print(json.dumps({"ranking": fitted.summary(), "why": explain_report(fitted)}, indent=1))


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def _tune_dataset(args: argparse.Namespace) -> int:
    from recsys.core.config import get_settings
    from recsys.evaluation.datasets import load_dataset
    from recsys.evaluation.harness import prepare
    from recsys.ranking.tuner import Catalog, tune

    ds = load_dataset(args.dataset)
    prep = prepare(ds.data, settings=get_settings(), texts=ds.texts)
    fitted = tune(
        prep.data.train,
        Catalog(prep.ids, prep.vectors, prep.payloads),
        as_of=prep.data.split,
        options=_options(args),
        say=_say,
    )
    _print(fitted, as_json=args.json)
    return 0


def cli_tune(args: argparse.Namespace) -> int:
    """Entry of ``recsys tune``."""
    if getattr(args, "dataset", None):
        return _tune_dataset(args)
    from recsys.feedback.labels import labels_from_events
    from recsys.profiles.point import to_profile_event
    from recsys.ranking.fitted import attach, fitted_of
    from recsys.ranking.tuner import nightly_tuning
    from recsys.services import Services

    services = Services()
    try:
        logged = list(services.event_log.scan())
        events = [to_profile_event(ev) for ev in logged]
        labels = labels_from_events(logged, window_s=services.settings.attribution_window_s)
        del logged
        wall = time.time()
        newest = max((e.at for e in events), default=wall)
        as_of = min(wall, newest) if newest < wall - 86400 else wall
        aggregates = services.aggregates.load()
        fitted = nightly_tuning(
            events,
            store=services.store,
            settings=services.settings,
            as_of=as_of,
            current=fitted_of(aggregates),
            say=_say,
            labels=labels,
        )
        if not args.dry_run and aggregates.computed_at is not None:
            attach(aggregates, fitted)
            services.aggregates.save(aggregates)
            _say("kept with the aggregates (served from their next load)")
        elif not args.dry_run:
            _say("no aggregates yet: run `recsys refresh` (it tunes too); nothing kept")
        _print(fitted, as_json=args.json)
    finally:
        services.close()
    return 0
