"""What goes into the Lambda layer: the resolved requirement set, and the built tree if present."""

import os
import re
import shutil
import subprocess
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


@pytest.mark.skipif(not BUILT.is_dir(), reason="build/layer absent: run `make layer` to check it")
def test_the_built_layer_leaves_out_what_never_runs_but_keeps_package_metadata() -> None:
    # GIVEN the layer tree built by layers/build.sh
    site = BUILT / "python"
    # THEN onnxruntime's C API library (the Python binding has the runtime linked in), its
    # offline tools, numpy's build tools and the type stubs are gone
    assert not list((site / "onnxruntime" / "capi").glob("libonnxruntime.so*"))
    assert not (site / "onnxruntime" / "transformers").exists()
    assert not (site / "numpy" / "f2py").exists()
    assert not (site / "numpy" / "_core" / "include").exists()
    assert not list(site.rglob("*.pyi"))
    # AND every distribution keeps the METADATA importlib.metadata reads at import
    dist_infos = list(site.glob("*.dist-info"))
    assert dist_infos
    assert all((d / "METADATA").is_file() for d in dist_infos)


def _python312() -> str | None:
    for cand in [
        shutil.which("python3.12"),
        *Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"),
    ]:
        if cand and subprocess.run([str(cand), "-c", "pass"], capture_output=True).returncode == 0:
            return str(cand)
    return None


@pytest.mark.skipif(not BUILT.is_dir(), reason="build/layer absent: run `make layer` to check it")
def test_the_built_layers_native_libraries_still_load_and_compute() -> None:
    # GIVEN a CPython 3.12 (the runtime's version) and the built layer, whose shared objects
    # build.sh stripped
    python = _python312()
    if python is None:
        pytest.skip("no CPython 3.12 on this machine to load the cp312 layer with")
    model = BUILT / "models_onnx" / "all-MiniLM-L6-v2-int8"
    code = (
        "import sys, numpy as np, onnxruntime as ort, tokenizers, grpc, yaml, pydantic_core\n"
        "a = np.arange(64, dtype=np.float64).reshape(8, 8)\n"
        "assert float((a @ a.T).trace()) == float((a * a).sum())\n"  # BLAS through openblas
        f"tok = tokenizers.Tokenizer.from_file({str(model / 'tokenizer.json')!r})\n"
        "enc = tok.encode('red wool scarf')\n"
        f"sess = ort.InferenceSession({str(model / 'model.onnx')!r}, "
        "providers=['CPUExecutionProvider'])\n"
        "feeds = {i.name: np.array([enc.ids if 'input_ids' in i.name else "
        "enc.attention_mask if 'mask' in i.name else enc.type_ids], dtype=np.int64) "
        "for i in sess.get_inputs()}\n"
        "out = sess.run(None, feeds)[0]\n"
        "print(out.shape[-1])\n"
    )
    # WHEN it imports the native packages and runs the encoder from the layer alone
    proc = subprocess.run(
        [python, "-c", code],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(BUILT / "python")},
        capture_output=True,
        text=True,
    )
    # THEN everything loads and the model produces 384-d token vectors
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "384"
