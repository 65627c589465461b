#!/usr/bin/env bash
# Build the shared Lambda layer:
#   build/layer/python/...                          the recsys package + runtime dependencies
#   build/layer/models_onnx/<encoder>/               the int8 encoder(s) (→ /opt/models_onnx/... on Lambda)
#   build/layer.zip                                  the same tree, zipped (what AWS receives)
# template.yaml's SharedLayer ContentUri is build/layer/, so `sam build`/`sam deploy` pick it up.
#
# Dependencies are installed as Linux x86_64 CPython 3.12 wheels whatever the build machine is,
# so the layer is right for the python3.12 runtime even when built on a laptop.
# Environment: PYTHON (a Python with pip; default .venv/bin/python, else python3),
#              PYTHON312 (the CPython 3.12 that compiles the bytecode; default: found on PATH/pyenv),
#              LAYER_OUT (the layer tree; default build/layer, zipped beside it as <LAYER_OUT>.zip),
#              LAYER_KEEP_SOURCES=1 to ship third-party sources next to their bytecode (debugging),
#              LAYER_MODELS (encoder folders under models_onnx/, or the aliases multilingual and
#                minilm, space-separated; default: $RECSYS_ENCODER_MODEL, else
#                all-MiniLM-L6-v2-int8). The first is the selected one and always goes in; each
#                further one only if the layer stays within the 150 MiB target with it.
#              LAYER_ALLOW_NO_MODEL=1 to build without the model (the layer is then incomplete).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

OUT="${LAYER_OUT:-build/layer}"
OUT="${OUT%/}"  # "dir/" would otherwise put the zip inside the layer as "dir/.zip"
ZIP="$OUT.zip"
SITE="$OUT/python"
LAYER_MODELS="${LAYER_MODELS:-${RECSYS_ENCODER_MODEL:-all-MiniLM-L6-v2-int8}}"
TARGET_KB=$((150 * 1024))

rm -rf "$OUT" "$ZIP"
mkdir -p "$SITE" "$OUT/models_onnx"

# onnxruntime ≥ 1.20 publishes manylinux_2_28 wheels only; Lambda's python3.12 runtime
# (Amazon Linux 2023, glibc 2.34) accepts both tags.
PIP_TARGET_ARGS=(
  --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64
  --implementation cp --python-version 3.12 --only-binary=:all:
  --target "$SITE" --no-compile --quiet --disable-pip-version-check
)

quiet_pip() {
  # The machine's pip config lists optional local indexes; their "ignored" notices are noise.
  "$PYTHON" -m pip "$@" 2> >(grep -v -e 'is ignored: it is neither' -e "dependency resolver" \
    -e 'dependency conflicts' -e ' requires .*, but you have ' >&2)
}

if [[ "${LAYER_RELOCK:-0}" == "1" ]]; then
  echo "==> resolving layers/requirements.txt into layers/requirements.lock"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  grep -v -- '--no-deps' layers/requirements.txt > "$tmp/deps.txt"
  quiet_pip install "${PIP_TARGET_ARGS[@]/#$SITE/$tmp/site}" -r "$tmp/deps.txt"
  grep -- '--no-deps' layers/requirements.txt | sed 's/#.*//' > "$tmp/nodeps.txt"
  quiet_pip install "${PIP_TARGET_ARGS[@]/#$SITE/$tmp/site}" --no-deps -r "$tmp/nodeps.txt"
  {
    sed -n '1,4p' layers/requirements.lock
    for meta in "$tmp"/site/*.dist-info/METADATA; do
      name=$(sed -n 's/^Name: //p' "$meta" | head -1 | tr 'A-Z_' 'a-z-')
      version=$(sed -n 's/^Version: //p' "$meta" | head -1)
      echo "$name==$version"
    done | sort
  } > "$tmp/lock" && mv "$tmp/lock" layers/requirements.lock
fi

echo "==> runtime dependencies (Linux x86_64, cp312, from layers/requirements.lock)"
quiet_pip install "${PIP_TARGET_ARGS[@]}" --no-deps -r layers/requirements.lock

echo "==> recsys package"
# Only what ships, named one by one: the handlers' layers (docs/ARCHITECTURE.md). The CLI, the
# local stack, the offline evaluation and the datasets never run on Lambda and stay out; a new
# top-level module or subpackage ships only once it is added here.
SHIPPED=(
  recsys/__init__.py recsys/py.typed recsys/services.py recsys/encoder.py recsys/cache.py
  recsys/core recsys/store recsys/catalog recsys/events recsys/profiles recsys/aggregates
  recsys/jobs recsys/ranking recsys/api recsys/feedback recsys/search
)
for entry in "${SHIPPED[@]}"; do
  [[ -e "layers/python/$entry" ]] || { echo "ERROR: layers/python/$entry missing" >&2; exit 1; }
done
tar -C layers/python --exclude='__pycache__' --exclude='*.pyc' -cf - "${SHIPPED[@]}" \
  | tar -C "$SITE" -xf -

echo "==> strip"
# Safe to drop: bytecode caches (Lambda compiles on import), the packages' own test suites,
# and onnxruntime's offline tooling (model converters/quantizers, never imported at run time).
# dist-info directories stay: importlib.metadata reads them (pydantic, fastapi, powertools).
find "$SITE" -type d -name '__pycache__' -prune -exec rm -rf {} +
find "$SITE" -type d \( -name tests -o -name testing_data \) -path '*/numpy/*' -prune -exec rm -rf {} +
rm -rf "$SITE"/onnxruntime/transformers "$SITE"/onnxruntime/quantization \
  "$SITE"/onnxruntime/tools "$SITE"/onnxruntime/datasets "$SITE"/bin
# libonnxruntime.so is the C API library for native callers (35 MB): the Python binding
# (onnxruntime_pybind11_state) has the runtime linked in and never loads it (readelf NEEDED,
# no dlopen of it either); libonnxruntime_providers_shared.so stays (the binding names it).
rm -f "$SITE"/onnxruntime/capi/libonnxruntime.so*
# onnxruntime's ONNX-backend test API needs the onnx package (not shipped), and it is the only
# user of `packaging`; flatbuffers serves only the ORT-format converters removed above.
rm -rf "$SITE"/onnxruntime/backend "$SITE"/packaging "$SITE"/packaging-*.dist-info \
  "$SITE"/flatbuffers "$SITE"/flatbuffers-*.dist-info
# numpy's Fortran wrapper generator, PyInstaller hook, C headers and Cython/C build inputs are
# build-time tools; its test-only extension modules serve only the test suites removed above.
rm -rf "$SITE"/numpy/f2py "$SITE"/numpy/_pyinstaller "$SITE"/numpy/_core/include \
  "$SITE"/numpy/_core/lib "$SITE"/numpy/random/lib "$SITE"/numpy/random/_examples \
  "$SITE"/numpy/conftest.py
rm -f "$SITE"/numpy/_core/_simd.cpython-* "$SITE"/numpy/_core/_*_tests.cpython-*
find "$SITE"/numpy -name '*.pxd' -type f -delete
# pydantic.v1 is pydantic 1's API kept for migration: nothing in the layer uses it, and FastAPI
# imports it on every route it registers only to rule out v1 models (≈ 40 ms of each HTTP
# handler's cold start); without it FastAPI takes the ImportError as "no v1 models".
rm -rf "$SITE"/pydantic/v1
# httpx's HTTP/2 stack: qdrant-client requires httpx[http2] but speaks HTTP/1.1 unless given
# http2=True, which the store never passes (httpcore imports h2 only for HTTP/2 connections).
rm -rf "$SITE"/h2 "$SITE"/h2-*.dist-info "$SITE"/hpack "$SITE"/hpack-*.dist-info \
  "$SITE"/hyperframe "$SITE"/hyperframe-*.dist-info
# grpcio (17.5 MiB, nearly all its native core): qdrant-client imports grpc at package import,
# REST client or not, but the store speaks REST only (no prefer_grpc). layers/stubs/grpc takes
# its place: the classes and enums qdrant-client's modules need to import, and a GrpcNotShipped
# error from anything that would open a gRPC channel (tests/unit/test_layer_grpc_stub.py).
rm -rf "$SITE"/grpc "$SITE"/grpcio-*.dist-info
cp -r layers/stubs/grpc "$SITE"/grpc
find "$SITE"/grpc -type d -name '__pycache__' -prune -exec rm -rf {} +
# Powertools' Swagger UI files serve its own HTTP resolver (FastAPI serves ours), and
# qdrant-client's .proto files are the sources of the generated *_pb2 modules it imports.
rm -rf "$SITE"/aws_lambda_powertools/event_handler/openapi/swagger_ui/*.js \
  "$SITE"/aws_lambda_powertools/event_handler/openapi/swagger_ui/*.css "$SITE"/qdrant_client/proto
# Type stubs are read by type checkers, never by the interpreter.
find "$SITE" -name '*.pyi' -type f -delete
find "$SITE" -name '*.dist-info' -type d -exec rm -f {}/RECORD {}/INSTALLER {}/REQUESTED \;
# Symbol tables of the shared objects are not needed to run them (tokenizers drops 3 MB).
# Only objects auditwheel left alone: those it rewrote with patchelf (the vendored *.libs/ and
# anything with an RPATH/RUNPATH, e.g. numpy's openblas) fail to load once stripped ("ELF load
# command address/offset not page-aligned").
if command -v strip >/dev/null 2>&1 && command -v readelf >/dev/null 2>&1; then
  while IFS= read -r -d '' so; do
    if ! readelf -d "$so" 2>/dev/null | grep -qE '\((RPATH|RUNPATH)\)'; then
      strip --strip-unneeded "$so" 2>/dev/null || true
    fi
  done < <(find "$SITE" -type f \( -name '*.so' -o -name '*.so.*' \) -not -path '*.libs/*' -print0)
else
  echo "WARNING: no strip/readelf on PATH; shared objects keep their symbol tables" >&2
fi

echo "==> bytecode"
# Lambda mounts layers read-only, so Python cannot cache what it compiles: without shipped
# .pyc files every cold start recompiles every module it imports (seconds). Compile with a
# CPython 3.12 (bytecode is version-specific).
# Third-party packages ship as bytecode only (`compileall -b` writes module.pyc where module.py
# was, and the .py goes): ~17 MiB less, and a traceback through them still names file, line and
# function, only without the source text (LAYER_KEEP_SOURCES=1 builds a layer with sources for
# debugging). Kept as source + __pycache__ (unchecked-hash: zip round trips blur the mtimes that
# timestamp-checked .pyc files compare against): recsys, whose tracebacks we read, and anyio,
# which parses its own source at import to set up its lazy attributes.
KEEP_SOURCE=(recsys anyio)
PY312="${PYTHON312:-}"
if [[ -z "$PY312" ]]; then
  for cand in python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'pass' 2>/dev/null; then PY312="$cand"; break; fi
  done
fi
if [[ -n "$PY312" ]]; then
  with_source=() sourceless=()
  for entry in "$SITE"/*; do
    name="$(basename "$entry")"
    case "$name" in *.dist-info | *.libs | __pycache__) continue ;; esac
    if [[ -d "$entry" || "$name" == *.py ]]; then
      if [[ "${LAYER_KEEP_SOURCES:-0}" == "1" ]] || [[ " ${KEEP_SOURCE[*]} " == *" ${name%.py} "* ]]; then
        with_source+=("$entry")
      else
        sourceless+=("$entry")
      fi
    fi
  done
  "$PY312" -m compileall -q -j 0 --invalidation-mode unchecked-hash "${with_source[@]}" \
    >/dev/null || echo "WARNING: some modules did not compile (they will compile at import)" >&2
  if ((${#sourceless[@]})); then
    "$PY312" -m compileall -q -j 0 -b "${sourceless[@]}" >/dev/null \
      || echo "WARNING: some modules did not compile; their source stays" >&2
    # Only sources whose bytecode is there go; a module that did not compile keeps its .py.
    find "${sourceless[@]}" -name '*.py' -type f -print0 | while IFS= read -r -d '' src; do
      if [[ -f "${src}c" ]]; then rm -f "$src"; fi
    done
  fi
else
  echo "WARNING: no CPython 3.12 found (set PYTHON312); the layer ships no bytecode and" \
    "every cold start will compile its imports" >&2
fi

echo "==> int8 encoder(s): $LAYER_MODELS"
# Last, so the size check below sees everything else. Only what the encoder loads at run time
# (model, tokenizer, config, manifest); export scripts and reports stay in the repo.
layer_kb() { find "$OUT" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s / 1024}'; }
files_kb() { stat -c %s "$@" | awk '{s += $1} END {printf "%d", s / 1024}'; }
selected=1
for wanted in $LAYER_MODELS; do
  case "$wanted" in
    multilingual) name=use-multilingual-v3-int8 ;;
    minilm) name=all-MiniLM-L6-v2-int8 ;;
    *) name="$wanted" ;;
  esac
  src="models_onnx/$name"
  if [[ ! -f "$src/model.onnx" ]]; then
    if [[ "${LAYER_ALLOW_NO_MODEL:-0}" == "1" ]]; then
      echo "WARNING: $src missing; layer built WITHOUT that encoder" >&2
      selected=0
      continue
    fi
    echo "ERROR: $src missing (run the export in models_onnx/ first," \
      "or set LAYER_ALLOW_NO_MODEL=1 to build an incomplete layer)" >&2
    exit 1
  fi
  files=("$src"/*.onnx "$src"/*.json)
  if ((!selected)) && (($(layer_kb) + $(files_kb "${files[@]}") > TARGET_KB)); then
    echo "WARNING: $name left out: the layer would pass the 150 MiB target with it" \
      "(the selected encoder, the first of LAYER_MODELS, is in)" >&2
    continue
  fi
  mkdir -p "$OUT/models_onnx/$name"
  cp "${files[@]}" "$OUT/models_onnx/$name/"
  echo "    $name: $(($(files_kb "${files[@]}") / 1024)) MiB"
  selected=0
done

echo "==> zip"
ZIP="$(cd "$(dirname "$ZIP")" && pwd)/$(basename "$ZIP")"
(cd "$OUT" && zip -qr -X "$ZIP" python models_onnx)

# What Lambda counts: the bytes of the files (du would add directory entries and rounding).
unzipped_kb=$(find "$OUT" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s / 1024}')
zipped_kb=$(($(stat -c %s "$ZIP") / 1024))
awk -v u="$unzipped_kb" -v z="$zipped_kb" -v out="$OUT" -v zip="$ZIP" 'BEGIN {
  printf "layer: %s/ %.1f MiB unzipped (limit 250 MiB, target 150), %s %.1f MiB\n",
    out, u / 1024, zip, z / 1024 }'
if (( unzipped_kb > 250 * 1024 )); then
  echo "ERROR: unzipped layer exceeds Lambda's 250 MiB limit" >&2
  exit 1
elif (( unzipped_kb > 150 * 1024 )); then
  echo "WARNING: unzipped layer is over the 150 MiB target (see layers/README.md)" >&2
fi
