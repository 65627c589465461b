"""`sam build` builds everything the template deploys: each function and the layer names a
Makefile target (BuildMethod: makefile) that exists and produces the artefact.

The layer target itself is the layer build (tests/integration/deploy/test_layer_build.py runs
build.sh); here it is resolved with `make -n` only."""

import shutil
import subprocess
from pathlib import Path

import pytest

from recsys.local.provision import load_template

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
MAKE = shutil.which("make")


def _buildable() -> dict[str, dict]:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    return {
        name: res
        for name, res in resources.items()
        if res["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion")
    }


def test_every_function_and_layer_has_a_makefile_build_method() -> None:
    # GIVEN the template's functions and layer
    buildable = _buildable()
    # THEN each one is built by a Makefile (sam build would otherwise skip the layer silently)
    assert {"SharedLayer", "RecommendFunction"} <= set(buildable)
    for name, res in buildable.items():
        assert res.get("Metadata", {}).get("BuildMethod") == "makefile", name


@pytest.mark.skipif(MAKE is None, reason="needs make")
def test_function_targets_copy_the_handler(tmp_path: Path) -> None:
    for name, res in _buildable().items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        # GIVEN the folder sam builds in and the Makefile its ContextPath names
        code = ROOT / res["Properties"]["CodeUri"]
        makefile = ROOT / res["Metadata"]["ContextPath"] / "Makefile"
        out = tmp_path / name
        out.mkdir()
        # WHEN sam's make step runs
        subprocess.run(
            [MAKE, "-f", str(makefile), f"build-{name}", f"ARTIFACTS_DIR={out}"],
            cwd=code,
            check=True,
            capture_output=True,
        )
        # THEN the artefact is the handler file, byte for byte
        handler_file = res["Properties"]["Handler"].split(".")[0] + ".py"
        assert (out / handler_file).read_bytes() == (code / handler_file).read_bytes()


@pytest.mark.skipif(MAKE is None, reason="needs make")
def test_layer_target_runs_the_layer_build(tmp_path: Path) -> None:
    # GIVEN the layer's ContentUri folder and its Makefile
    layer = _buildable()["SharedLayer"]
    code = ROOT / layer["Properties"]["ContentUri"]
    # WHEN make resolves the target sam calls (dry run: the real build is tested elsewhere)
    dry = subprocess.run(
        [MAKE, "-n", "build-SharedLayer", f"ARTIFACTS_DIR={tmp_path}"],
        cwd=code,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # THEN it is build.sh writing into sam's artefacts folder
    assert f'LAYER_OUT="{tmp_path}" bash build.sh' in dry
    assert (code / "build.sh").is_file()
