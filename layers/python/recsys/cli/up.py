"""``recsys up``: the local stack on embedded defaults, optionally with the demo data."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from recsys.core.config import get_settings
from recsys.core.errors import ConfigError, RecsysError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``recsys up`` options (``--data-dir`` is global)."""
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="API port (default 8000)")
    parser.add_argument(
        "--demo", action="store_true", help="load the Online Retail catalog and events"
    )
    parser.add_argument(
        "--full-history", action="store_true", help="with --demo: replay the whole year"
    )
    parser.add_argument("--no-serve", action="store_true", help="set up and load, then exit")


def cli_up(args: argparse.Namespace) -> int:
    """``recsys up``: start the local stack, optionally load the demo, serve until Ctrl-C."""
    from recsys.local.runtime import LocalRuntime

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    data_dir = Path(args.data_dir) if getattr(args, "data_dir", None) else get_settings().data_dir
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = LocalRuntime(data_dir=data_dir, host=args.host, port=args.port)
    try:
        try:
            url = stack.start()
        except (RecsysError, ConfigError) as exc:
            print(f"recsys up: {exc}")
            return 2
        print(f"recsys API at {url}  (OpenAPI docs: {url}/docs; data in {stack.data_dir})")
        if getattr(args, "demo", False):
            from recsys.local.demo import run_demo

            run_demo(stack, full_history=bool(getattr(args, "full_history", False)), stop=stop)
        if getattr(args, "no_serve", False) or stop.is_set():
            return 0
        print("serving; Ctrl-C to stop")
        while not stop.wait(0.5):
            pass
        return 0
    finally:
        print("stopping ...")
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
