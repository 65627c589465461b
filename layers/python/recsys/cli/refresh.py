"""``recsys refresh``: the nightly job now — on the embedded stores (profiles rebuilt
in-process) or, with ``--api-url``, by the running stack (``POST /_local/refresh``)."""

from __future__ import annotations

import argparse
import json
import sys


def cli_refresh(args: argparse.Namespace) -> int:
    """``recsys refresh``: the nightly job now."""
    from recsys.cli._console import target

    if target(args) == "api":
        from recsys.cli._console import http_json

        reply = http_json("POST", args.api_url.rstrip("/") + "/_local/refresh", {}, timeout_s=3600)
        print(json.dumps(reply))
        return 0

    from tqdm import tqdm

    from recsys.profiles.worker import ProfileWorker
    from recsys.services import Services

    worker = ProfileWorker(Services())
    try:
        with tqdm(total=4, desc="refresh", unit="step", file=sys.stderr) as bar:

            def step(msg: str) -> None:
                bar.set_postfix_str(msg)
                bar.update(1)

            report = worker.nightly(update_inline=lambda todo: worker.update(*todo), progress=step)
    finally:
        worker.services.close()
    print(json.dumps(report))
    return 0
