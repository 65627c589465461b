"""The Lambda layer: size, and each handler's cold start from the built layer.

Builds the layer (layers/build.sh), reports its unzipped and zipped sizes and what takes the
room, then for each function in template.yaml starts a FRESH CPython 3.12 process with only
the layer (plus boto3, which the Lambda runtime provides) on its path, imports the handler file
by path as Lambda's bootstrap does and invokes it once with its canonical sample event from
shared/events/. AWS is the moto server, Qdrant is qdrant-client's in-process ``:memory:``.

Usage: python bench/layer.py [--no-build] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._report import machine_line, write_section  # noqa: E402

LAYER = ROOT / "build" / "layer"
LAMBDA_RUNTIME = ROOT / "build" / "lambda-runtime"
EVENTS = ROOT / "shared" / "events"
#: The canonical sample event each handler is timed with (first one present wins).
SAMPLE_EVENTS = {
    "IngestFunction": ["apigw_post_products"],
    "EmbedFunction": ["sqs_embed"],
    "LogEventFunction": ["apigw_post_events"],
    "UpdateProfileFunction": ["sqs_profile", "eventbridge_scheduled"],
    "RecommendFunction": [
        "apigw_get_recommendations",
        "apigw_get_user_recommendations",
        "apigw_get_health",
    ],
}

#: Runs in the fresh 3.12 process: import the handler by path, invoke once, print timings.
CHILD = r"""
import importlib.util, json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
path, event_path = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("lambda_function", path)
module = importlib.util.module_from_spec(spec)
sys.modules["lambda_function"] = module
spec.loader.exec_module(module)
t1, c1 = time.perf_counter(), time.process_time()
class Ctx:
    function_name = "bench"; memory_limit_in_mb = 1024; aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    def get_remaining_time_in_millis(self): return 30000
event = json.load(open(event_path))
reply = module.handler(event, Ctx())
t2, c2 = time.perf_counter(), time.process_time()
status = reply.get("statusCode") if isinstance(reply, dict) else None
failures = len(reply.get("batchItemFailures", [])) if isinstance(reply, dict) else None
print(json.dumps({"import_s": t1 - t0, "invoke_s": t2 - t1, "cpu_s": c2 - c0,
                  "status": status, "failures": failures}))
"""


def _python312() -> str | None:
    candidates = [shutil.which("python3.12")]
    candidates += sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))
    for cand in candidates:
        if cand and subprocess.run([cand, "-c", "pass"], capture_output=True).returncode == 0:
            return cand
    return None


def _build() -> float:
    t0 = time.perf_counter()
    subprocess.run(["bash", str(ROOT / "layers" / "build.sh")], check=True, cwd=ROOT)
    return time.perf_counter() - t0


def _runtime_boto3(python: str) -> None:
    """boto3 as the Lambda runtime provides it (not part of the layer), compiled like it.

    The runtime's boto3/botocore come with their bytecode; the cold starts run with
    PYTHONDONTWRITEBYTECODE, so without compiling them here every run would recompile
    boto3, botocore and s3transfer from source and charge that to the handlers.
    """
    if not (LAMBDA_RUNTIME / "boto3").is_dir():
        subprocess.run(
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--target",
                str(LAMBDA_RUNTIME), "--platform", "manylinux2014_x86_64", "--python-version",
                "3.12", "--only-binary=:all:", "boto3",
            ],
            check=True,
        )  # fmt: skip
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", str(LAMBDA_RUNTIME)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


#: The encoders a layer can hold (folders under models_onnx/), MiniLM the default.
ENCODERS = {"MiniLM": "all-MiniLM-L6-v2-int8", "multilingual": "use-multilingual-v3-int8"}
TARGET_MIB = 150


def layer_model_dir(layer: Path) -> Path:
    """The encoder the layer's functions run: MiniLM if the layer holds it, else the one there."""
    models = layer / "models_onnx"
    folders = sorted(p for p in models.iterdir() if p.is_dir()) if models.is_dir() else []
    default = models / ENCODERS["MiniLM"]
    return default if default in folders or not folders else folders[0]


def _shipped_model_bytes(folder: Path) -> int:
    """What build.sh copies of an encoder folder into the layer (its *.onnx and *.json)."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix in {".onnx", ".json"})


def encoder_sets(layer: Path) -> list[tuple[str, int]]:
    """Unzipped size of the layer with each set of encoders: this build's runtime (everything
    but models_onnx/) plus the encoder files build.sh would copy from the checkout."""
    runtime = _du(layer) - _du(layer / "models_onnx")
    one = {label: _shipped_model_bytes(ROOT / "models_onnx" / n) for label, n in ENCODERS.items()}
    return [
        ("MiniLM only", runtime + one["MiniLM"]),
        ("multilingual only", runtime + one["multilingual"]),
        ("both", runtime + sum(one.values())),
    ]


def _sizes(layer: Path) -> tuple[int, int | None, list[tuple[str, int]]]:
    unzipped = _du(layer)
    zip_path = layer.with_name(layer.name + ".zip")
    zipped = zip_path.stat().st_size if zip_path.is_file() else None
    parts: dict[str, int] = {}
    for child in (layer / "python").iterdir():
        if child.name.endswith(".dist-info"):
            continue
        key = child.name.removesuffix(".libs")
        parts[key] = parts.get(key, 0) + (_du(child) if child.is_dir() else child.stat().st_size)
    for model in sorted((layer / "models_onnx").iterdir()):
        parts[f"{model.name} (int8 encoder)"] = _du(model)
    top = sorted(parts.items(), key=lambda kv: -kv[1])[:8]
    return unzipped, zipped, top


def _event_for(function: str) -> Path | None:
    for name in SAMPLE_EVENTS.get(function, []):
        path = EVENTS / f"{name}.json"
        if path.is_file():
            return path
    return None


def _template_env() -> dict[str, str]:
    """The literal environment template.yaml gives every function (e.g. OPENBLAS_NUM_THREADS)."""
    from recsys.local.provision import load_template

    variables = (
        load_template(ROOT / "template.yaml")
        .get("Globals", {})
        .get("Function", {})
        .get("Environment", {})
        .get("Variables", {})
    )
    return {k: v for k, v in variables.items() if isinstance(v, str)}


def _one_cold_start(
    python: str, layer: Path, module_file: Path, event: Path, endpoint: str, prov: Any
) -> dict[str, Any] | str:
    """One fresh-process cold start from ``layer``: timings, or why it failed."""
    from recsys.local.provision import resource_env

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **_template_env(),
            "PATH": os.environ["PATH"],
            "HOME": tmp,
            "PYTHONPATH": f"{layer / 'python'}{os.pathsep}{LAMBDA_RUNTIME}",
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": "recsys",
            "POWERTOOLS_METRICS_NAMESPACE": "recsys",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "RECSYS_VECTOR_BACKEND": "qdrant",
            "RECSYS_QDRANT_URL": ":memory:",
            "RECSYS_AWS_ENDPOINT_URL": endpoint,
            "RECSYS_DATA_DIR": tmp,
            "RECSYS_MODEL_DIR": str(layer_model_dir(layer)),
            **resource_env(prov),
        }
        t0 = time.perf_counter()
        proc = subprocess.run(
            [python, "-c", CHILD, str(module_file), str(event)],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp,
            timeout=300,
        )
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return lines[-1] if lines else f"exit status {proc.returncode}"
    run: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    run["process_s"] = wall
    return run


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "import_s": statistics.median(r["import_s"] for r in runs),
        "invoke_s": statistics.median(r["invoke_s"] for r in runs),
        "process_s": statistics.median(r["process_s"] for r in runs),
        "cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "spread_s": max(r["process_s"] for r in runs) - min(r["process_s"] for r in runs),
        "status": runs[0]["status"],
        "failures": runs[0]["failures"],
    }


def _cold_starts(python: str, repeat: int, layers: list[Path]) -> list[dict[str, Any]]:
    """One row per (function, layer); the layers' runs alternate so they share the noise."""
    import logging

    from moto.server import ThreadedMotoServer

    from recsys.core.config import Settings
    from recsys.local.provision import provision_from_template
    from recsys.local.template import read_template

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    rows: list[dict[str, Any]] = []
    try:
        prov = provision_from_template(
            Settings(aws_endpoint_url=endpoint, aws_region="us-east-1"), prefix="bench"
        )
        template = read_template(ROOT / "template.yaml")
        for logical_id, spec in template.functions.items():
            event = _event_for(logical_id)
            if event is None or not spec.module_file.is_file():
                why = "no handler file yet" if event else "no sample event"
                rows.append({"function": logical_id, "skipped": why})
                continue
            runs: dict[Path, list[dict[str, Any]]] = {layer: [] for layer in layers}
            failed: dict[Path, str] = {}
            for _ in range(repeat):
                for layer in layers:
                    if layer in failed:
                        continue
                    run = _one_cold_start(python, layer, spec.module_file, event, endpoint, prov)
                    if isinstance(run, str):
                        failed[layer] = run
                    else:
                        runs[layer].append(run)
            for layer in layers:
                row: dict[str, Any] = {"function": logical_id, "layer": layer, "event": event.stem}
                if layer in failed:
                    row["skipped"] = failed[layer]
                else:
                    row.update(_summary(runs[layer]))
                rows.append(row)
    finally:
        server.stop()
    return rows


def _baseline(python: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([python, "-c", "pass"], check=True)
    return time.perf_counter() - t0


#: Runs in a fresh 3.12 process: CPU seconds each heavy import adds (in this order).
IMPORTS_CHILD = r"""
import json, sys, time
costs = {}
for name in sys.argv[1:]:
    c0 = time.process_time()
    __import__(name)
    costs[name] = time.process_time() - c0
print(json.dumps(costs))
"""
HEAVY_IMPORTS = [
    "pydantic",
    "numpy",
    "boto3",
    "fastapi",
    "onnxruntime",
    "recsys.store._qdrant_client",  # qdrant-client as the store imports it (models deferred)
]


def _import_costs(python: str, repeat: int) -> dict[str, float]:
    """Median CPU seconds of each heavy import, from the layer, in a fresh process each time."""
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": f"{LAYER / 'python'}{os.pathsep}{LAMBDA_RUNTIME}",
        "PYTHONDONTWRITEBYTECODE": "1",
        **_template_env(),
    }
    samples: dict[str, list[float]] = {name: [] for name in HEAVY_IMPORTS}
    for _ in range(repeat):
        proc = subprocess.run(
            [python, "-c", IMPORTS_CHILD, *HEAVY_IMPORTS],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        for name, cost in json.loads(proc.stdout).items():
            samples[name].append(cost)
    return {name: statistics.median(values) for name, values in samples.items()}


def _size_lines(layer: Path, label: str) -> list[str]:
    mib = 1024 * 1024
    unzipped, zipped, _top = _sizes(layer)
    zipped_text = f"{zipped / mib:.1f} MiB" if zipped is not None else "—"
    return [f"| {label} | {unzipped / mib:.1f} MiB | {zipped_text} |"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-build", action="store_true", help="use the existing build/layer")
    parser.add_argument("--repeat", type=int, default=3, help="cold starts per handler")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="an earlier layer tree (e.g. a copy of build/layer) measured in the same run",
    )
    args = parser.parse_args(argv)
    if args.baseline is not None and not (args.baseline / "python").is_dir():
        parser.error(f"--baseline {args.baseline}: no python/ directory (not a built layer)")
    baseline = args.baseline.resolve() if args.baseline is not None else None

    build_s = None if args.no_build else _build()
    _unzipped, _zipped, top = _sizes(LAYER)
    mib = 1024 * 1024
    layers = [LAYER] + ([baseline] if baseline is not None else [])
    label = {LAYER: "this build"}
    if baseline is not None:
        label[baseline] = f"baseline (`{baseline.name}`)"
    lines = [
        "## Lambda layer",
        "",
        machine_line(),
        "",
        f"Built by `layers/build.sh`{f' in {build_s:.0f} s' if build_s else ''} for python3.12 "
        "x86_64 (manylinux wheels from layers/requirements.lock). Lambda's limit: 250 MiB "
        "unzipped (function + layers); target 150 MiB.",
        "",
        "| layer | unzipped | zipped |",
        "|---|---:|---:|",
    ]
    for layer in layers:
        lines += _size_lines(layer, label[layer])
    lines += [
        "",
        "The same runtime with each set of encoders (this build's files but models_onnx/, plus "
        "the encoder folders as build.sh copies them; `LAYER_MODELS` picks the set):",
        "",
        "| encoders | unzipped | within 150 MiB |",
        "|---|---:|---|",
    ]
    lines += [
        f"| {name} | {size / mib:.1f} MiB | {'yes' if size <= TARGET_MIB * mib else 'no'} |"
        for name, size in encoder_sets(LAYER)
    ]
    lines += [
        "",
        "Largest parts of this build (unzipped): "
        + ", ".join(f"{name} {size / mib:.0f} MiB" for name, size in top)
        + ".",
        "",
    ]
    python = _python312()
    if python is None:
        lines.append("Cold starts not measured: no CPython 3.12 on this machine.")
    else:
        _runtime_boto3(python)
        base = _baseline(python)
        rows = _cold_starts(python, args.repeat, layers)
        lines += [
            f"Cold start per handler: fresh `{Path(python).name}` process, only the layer and "
            f"boto3 (compiled, as the runtime ships it) on its path, template.yaml's environment; "
            f"median of {args.repeat} "
            "runs"
            + (", the two layers' runs alternating" if len(layers) > 1 else "")
            + ". *import* = loading the handler "
            "file, *first call* = the first invocation with the sample event (HTTP status or "
            "SQS batch failures in the last column), *CPU* = CPU seconds the process used for "
            "both (less sensitive than wall time to the other work on the machine), *process* = "
            "wall time including interpreter start "
            f"(an empty interpreter starts in {base * 1000:.0f} ms here). Target: ≤ 1 s.",
            "",
            "| function | layer | import | first call | import + call | CPU | process "
            "| spread | reply |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for row in rows:
            where = label.get(row.get("layer"), "")  # type: ignore[arg-type]
            if "skipped" in row:
                lines.append(
                    f"| {row['function']} | {where} | not measured: {row['skipped'][:120]} ||||||"
                )
                continue
            total = row["import_s"] + row["invoke_s"]
            reply = (
                f"{row['status']}"
                if row["status"] is not None
                else f"{row['failures']} failed records"
            )
            lines.append(
                f"| {row['function']} | {where} | {row['import_s'] * 1000:.0f} ms | "
                f"{row['invoke_s'] * 1000:.0f} ms | **{total * 1000:.0f} ms** | "
                f"{row['cpu_s'] * 1000:.0f} ms | {row['process_s'] * 1000:.0f} ms | "
                f"{row['spread_s'] * 1000:.0f} ms | {reply} |"
            )
        costs = _import_costs(python, args.repeat)
        lines += [
            "",
            "Where the CPU goes: each heavy import's own CPU time from this build (fresh process, "
            "imported in this order, so shared dependencies count once, at first use; median of "
            f"{args.repeat}): "
            + ", ".join(
                f"{name.removeprefix('recsys.store._')} {cost * 1000:.0f} ms"
                for name, cost in costs.items()
            )
            + ".",
            "",
            "Local machine, not Lambda: a 1024 MB function gets a fraction of a vCPU, so expect "
            "Lambda's init to be slower than these figures; the ratios between handlers hold. "
            "Two shared cores, other work running: spreads show the noise.",
            "",
            "qdrant-client is imported through `recsys.store._qdrant_client`, which has "
            "pydantic build its ~400 REST models on first use instead of at import (its own "
            "import builds them all and then `model_rebuild()`s them: ≈ 0.4 s more CPU). The "
            "handlers that touch the store pay the rest at import (ingest, embed, "
            "update-profile) or on the first call (recommend opens the store lazily); log-event "
            "never does. template.yaml enables SnapStart on every function (event sources and "
            "routes target the `live` alias): init runs once per published version and cold "
            "starts restore the snapshot; restore time cannot be measured off AWS.",
        ]
    write_section("layer", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
