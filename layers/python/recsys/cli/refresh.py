"""``recsys refresh``: the nightly job now, profiles rebuilt in-process."""

from __future__ import annotations

import argparse
import json
import sys

from recsys.profiles.worker import ProfileWorker


def cli_refresh(args: argparse.Namespace) -> int:
    """``recsys refresh``: the nightly job now; profiles are rebuilt in-process."""
    from tqdm import tqdm

    from recsys.services import Services

    worker = ProfileWorker(Services())
    with tqdm(total=4, desc="refresh", unit="step", file=sys.stderr) as bar:

        def step(msg: str) -> None:
            bar.set_postfix_str(msg)
            bar.update(1)

        report = worker.nightly(update_inline=lambda todo: worker.update(*todo), progress=step)
    worker.services.close()
    print(json.dumps(report))
    return 0
