"""What goes into the Lambda layer: the resolved requirement set, and the built tree if present."""

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ROOT / "layers"
BUILT = ROOT / "build" / "layer"
#: Never in the layer: they are for exporting the model, and would not fit anyway.
FORBIDDEN = {"torch", "transformers", "sentence-transformers", "optimum", "huggingface-hub"}
#: In pyproject's runtime dependencies but deliberately not shipped (see layers/requirements.txt).
NOT_SHIPPED = {"boto3", "qdrant-edge-py"}
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024


def _name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def _requirements(path: Path) -> dict[str, str]:
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
    return {_name(ln): ln for ln in lines if ln}


def test_the_resolved_layer_set_has_no_torch_or_transformers() -> None:
    # GIVEN the layer's top-level requirements and its lock (the exact installed set)
    top = _requirements(LAYERS / "requirements.txt")
    lock = _requirements(LAYERS / "requirements.lock")
    # THEN neither names torch, transformers or the hub client
    assert not FORBIDDEN & set(top)
    assert not FORBIDDEN & set(lock)
    # AND every lock line is an exact pin (the build installs it with --no-deps)
    assert all("==" in line for line in lock.values())
    # AND every top-level requirement is in the lock
    assert set(top) <= set(lock)


def test_the_layer_ships_every_runtime_dependency_of_the_package() -> None:
    # GIVEN the package's runtime dependencies
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(dep) for dep in project["dependencies"]}
    # THEN the layer ships all of them except those left out on purpose
    shipped = set(_requirements(LAYERS / "requirements.txt"))
    assert runtime - NOT_SHIPPED - shipped == set()


@pytest.mark.skipif(not BUILT.is_dir(), reason="build/layer absent: run `make layer` to check it")
def test_the_built_layer_fits_and_holds_the_model() -> None:
    # GIVEN the layer tree built by layers/build.sh
    site = BUILT / "python"
    names = {p.name.lower() for p in site.iterdir()}
    # THEN no forbidden package was installed
    assert not {n for n in names if n.split("-")[0] in {"torch", "transformers"}}
    # AND the model sits where /opt/models_onnx/... resolves, the package beside its deps
    assert (BUILT / "models_onnx" / "all-MiniLM-L6-v2-int8" / "model.onnx").is_file()
    assert (site / "recsys" / "config.py").is_file()
    assert not (site / "recsys" / "local").exists()
    # AND unzipped it stays under Lambda's limit
    size = sum(p.stat().st_size for p in BUILT.rglob("*") if p.is_file())
    assert size < LAMBDA_UNZIPPED_LIMIT
