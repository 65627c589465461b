"""The command line's conventions: global options anywhere, --version, python -m recsys, and
one line (no traceback) for each common mistake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from recsys import __version__
from recsys.cli import build_parser, main


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recsys", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )


def test_global_options_go_before_or_after_the_command(tmp_path: Path) -> None:
    parser = build_parser()
    before = parser.parse_args(["--data-dir", str(tmp_path), "up", "--port", "8001"])
    after = parser.parse_args(["up", "--port", "8001", "--data-dir", str(tmp_path)])
    assert before.data_dir == after.data_dir == tmp_path
    assert before.port == after.port == 8001
    # a value given before the command is not reset by the command's own default
    assert parser.parse_args(["--debug", "refresh"]).debug is True


def test_version_and_python_dash_m(tmp_path: Path) -> None:
    done = _run("--version", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.strip() == f"recsys {__version__}"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["events", "missing.jsonl"], "missing.jsonl: no such file"),
        (["ingest", "missing.csv"], "missing.csv: no such file"),
        (["events", "bad.jsonl", "--format", "jsonl"], "bad.jsonl: not UTF-8 text"),
        (["events", "other.csv", "--format", "online-retail"], "not the Online Retail table"),
        (["ingest", "other.csv", "--format", "online-retail"], "not the Online Retail table"),
        (["events", "bad.jsonl", "--since", "yesterday"], "not a time: 'yesterday'"),
    ],
)
def test_common_mistakes_get_one_line_and_no_traceback(
    tmp_path: Path, args: list[str], says: str
) -> None:
    # GIVEN a non-UTF-8 file and a CSV that is not the Online Retail table
    (tmp_path / "bad.jsonl").write_bytes(b'\xff\xfe{"type": "view"}\n')
    (tmp_path / "other.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    # WHEN the command runs on the embedded defaults
    done = _run("--data-dir", str(tmp_path / "data"), *args, cwd=tmp_path)
    # THEN it fails with one line that names the file or option, and no traceback
    assert done.returncode == 2, done.stderr
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        main(["--debug", "--data-dir", str(tmp_path), "events", str(tmp_path / "nope.jsonl")])


def test_a_stack_that_is_not_running_is_one_line(tmp_path: Path) -> None:
    # GIVEN a URL where nothing listens
    (tmp_path / "e.jsonl").write_text('{"user_id": "u1", "type": "view", "product_id": "p"}\n')
    done = _run("events", "e.jsonl", "--api-url", "http://127.0.0.1:9", cwd=tmp_path)
    # THEN the command says which stack it tried and what to do
    assert done.returncode == 2
    assert "no stack answers at http://127.0.0.1:9/events" in done.stderr
    assert "Traceback" not in done.stderr
