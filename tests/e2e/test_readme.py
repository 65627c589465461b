"""The README is executable: every shell example in it runs, as written, in CI.

Each ```bash block of README.md is one example. A block runs from the repository root with
``bash -euo pipefail`` and must exit 0; on small data (the Online Retail path the README
names is replaced by the 4,776-row sample in tests/fixtures) and in a fresh data dir (the
README's ``/tmp/shop`` becomes the test's own folder). A
comment line just before a block may say how:

- ``<!-- readme-test: skip -- REASON -->``: not run (the two set-up commands themselves,
  deploying to AWS); the reason is required.
- ``<!-- readme-test: stack -->``: run while a local stack answers (``recsys up`` on a free
  port, started by this test; ``localhost:8000`` in the block points at it).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from recsys.local.moto import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FULL_DATA = "../shared/data/online_retail/online_retail.csv.gz"
SAMPLE = ROOT / "tests" / "fixtures" / "online_retail_sample.csv.gz"
BIN = Path(sys.executable).parent

_BLOCK = re.compile(
    r"(?:<!--\s*readme-test:\s*(?P<mode>[a-z]+)(?:\s*--\s*(?P<why>[^>]*?))?\s*-->\s*\n)?"
    r"```(?:bash|sh|shell)\n(?P<body>.*?)```",
    re.S,
)


@dataclass(frozen=True)
class Example:
    line: int
    mode: str
    why: str
    body: str

    def __str__(self) -> str:
        return f"README.md:{self.line}"


def examples() -> list[Example]:
    text = README.read_text(encoding="utf-8")
    found = []
    for m in _BLOCK.finditer(text):
        line = text.count("\n", 0, m.start("body"))
        found.append(Example(line, m["mode"] or "run", (m["why"] or "").strip(), m["body"]))
    return found


def test_the_readme_has_examples_and_says_why_any_is_not_run() -> None:
    found = examples()
    assert len([e for e in found if e.mode != "skip"]) >= 2
    for ex in found:
        assert ex.mode in ("run", "skip", "stack"), ex
        if ex.mode == "skip":
            assert ex.why, f"{ex}: a skipped example must say why"


def _script(body: str, *, data_dir: str, port: int | None) -> str:
    body = body.replace(FULL_DATA, str(SAMPLE)).replace("/tmp/shop", data_dir)
    if port is not None:
        body = body.replace("localhost:8000", f"127.0.0.1:{port}")
        body = body.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    return body


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["RECSYS_DATA_DIR"] = str(tmp_path / "data")
    env["RECSYS_LOCAL_REFRESH_INTERVAL_S"] = "0"
    return env


@pytest.fixture
def stack(tmp_path: Path, env: dict[str, str]) -> Iterator[int]:
    """A local stack on a free port (the README's `recsys up`), stopped with Ctrl-C after."""
    port = free_port()
    log = (tmp_path / "stack.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "recsys"), "up", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"recsys up exited: {(tmp_path / 'stack.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("recsys up did not answer /health within 180 s")
                time.sleep(0.5)
        yield port
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _run(ex: Example, env: dict[str, str], *, port: int | None = None) -> None:
    script = _script(ex.body, data_dir=env["RECSYS_DATA_DIR"], port=port)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (
        f"{ex} failed ({done.returncode}):\n{script}\n--- stdout\n{done.stdout[-3000:]}"
        f"\n--- stderr\n{done.stderr[-3000:]}"
    )
    assert "Traceback" not in done.stderr, f"{ex} printed a traceback:\n{done.stderr[-3000:]}"


@pytest.mark.parametrize("ex", [e for e in examples() if e.mode == "run"], ids=str)
def test_readme_example_runs(ex: Example, env: dict[str, str]) -> None:
    _run(ex, env)


@pytest.mark.parametrize("ex", [e for e in examples() if e.mode == "stack"], ids=str)
def test_readme_example_runs_against_a_stack(ex: Example, env: dict[str, str], stack: int) -> None:
    _run(ex, env, port=stack)
