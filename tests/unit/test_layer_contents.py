"""What goes into the Lambda layer: the resolved requirement set.

The built tree itself is checked in tests/integration/deploy/test_layer_build.py.
"""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ROOT / "layers"
#: Never in the layer: they are for exporting the model, and would not fit anyway.
FORBIDDEN = {"torch", "transformers", "sentence-transformers", "optimum", "huggingface-hub"}
#: In pyproject's runtime dependencies but deliberately not shipped (see layers/requirements.txt).
NOT_SHIPPED = {"boto3", "qdrant-edge-py"}


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
