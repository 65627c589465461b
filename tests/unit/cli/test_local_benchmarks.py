"""`recsys bench` finds every benchmark script and runs them in turn."""

import argparse
from pathlib import Path

import pytest

from recsys.cli import bench as benchmarks


def test_every_public_bench_script_is_found() -> None:
    # GIVEN the checkout's bench/ folder WHEN the runner lists it
    names = [p.name for p in benchmarks.bench_scripts()]
    # THEN the layer benchmark is there and private helpers are not
    assert "layer.py" in names
    assert not [n for n in names if n.startswith("_")]


def test_scripts_run_in_turn_and_a_failure_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a checkout with one passing and one failing benchmark
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "__init__.py").write_text("")
    (bench / "_report.py").write_text("raise SystemExit('private modules are not run')\n")
    (bench / "a_ok.py").write_text("open('ran-a', 'w').write('x')\n")
    (bench / "b_fail.py").write_text("raise SystemExit(3)\n")
    monkeypatch.setattr(benchmarks, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(benchmarks, "bench_scripts", lambda: sorted(bench.glob("[!_]*.py")))
    # WHEN the suite runs
    code = benchmarks.cli_bench(argparse.Namespace())
    # THEN both ran, in order, and the exit code says one failed
    assert code == 1
    assert (tmp_path / "ran-a").exists()
    out = capsys.readouterr().out
    assert out.index("a_ok.py") < out.index("b_fail.py")
    assert "FAILED b_fail.py" in out
