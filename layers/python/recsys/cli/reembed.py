"""``recsys reembed``: move the store to another encoder — re-embed the catalog, rebuild the
profiles in the new space, switch, drop the old space — while reads are served from the old one.

On the embedded stores it runs in this process (qdrant-edge allows one process per data
directory: stop ``recsys up`` first, or use ``--api-url``); with ``--api-url`` the running stack
does it in its nightly job (``POST /_local/refresh``), which re-embeds whenever the stack's
``RECSYS_ENCODER_MODEL`` differs from the store's. Against a Qdrant server
(``RECSYS_VECTOR_BACKEND=qdrant``) it runs here while the functions keep serving.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=None,
        help="the encoder to move to: a folder under models_onnx/ or an alias (multilingual, "
        "minilm); default RECSYS_ENCODER_MODEL",
    )
    parser.add_argument(
        "--batch", type=int, default=1024, help="products encoded per batch (sorted by length)"
    )
    parser.add_argument(
        "--keep-old", action="store_true", help="keep the old space's collections after the switch"
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="stop after this long (between batches); run again to continue",
    )
    parser.add_argument(
        "--grace-s",
        type=float,
        default=None,
        help="wait between the switch and dropping the old space (default: the time other "
        "processes take to follow the switch)",
    )


def cli_reembed(args: argparse.Namespace) -> int:
    """``recsys reembed [--model M] [--batch N] [--keep-old] [--max-seconds S]``."""
    from recsys.cli._console import say, target

    if target(args) == "api":
        from recsys.cli._console import http_json

        if args.model:
            say("reembed", "--model is ignored with --api-url: the stack's RECSYS_ENCODER_MODEL")
        reply = http_json("POST", args.api_url.rstrip("/") + "/_local/refresh", {}, timeout_s=7200)
        print(json.dumps(reply))
        return 0

    from tqdm import tqdm

    from recsys.jobs.reembed import ReembedProgress
    from recsys.profiles.worker import ProfileWorker
    from recsys.services import Services

    worker = ProfileWorker(Services())
    bars: dict[str, Any] = {}

    def show(p: ReembedProgress) -> None:
        bar = bars.get(p.phase)
        if bar is None:
            for old in bars.values():
                old.close()
            bar = bars[p.phase] = tqdm(
                total=p.total, desc=p.phase, unit="item", file=sys.stderr, dynamic_ncols=True
            )
        bar.n = p.done
        bar.set_postfix_str(f"{p.rate:.0f}/s")
        bar.refresh()

    try:
        report = worker.reembed(
            model=args.model,
            progress=show,
            batch_size=args.batch,
            grace_s=args.grace_s,
            keep_old=args.keep_old,
            max_seconds=args.max_seconds,
            every_s=0.5,
        )
    finally:
        for bar in bars.values():
            bar.close()
        worker.services.close()
    print(json.dumps(report))
    if not report["complete"]:
        say("reembed", "stopped by --max-seconds before the switch: run it again to continue")
    return 0
