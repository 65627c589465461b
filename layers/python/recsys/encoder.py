"""The int8 ONNX sentence encoders (all-MiniLM-L6-v2, 384-d; USE multilingual v3, 512-d).

Runtime needs only onnxruntime, tokenizers and numpy: each model was exported and quantized
once (models_onnx/export.py, models_onnx/export_multilingual.py) and ships as a folder of
files; the folder's config.json says how to feed it (``lowercase``, ``empty_text_ids``) and its
dimension. One ONNX session per process, created by :func:`get_encoder` on first use and shared
by every caller.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from recsys.core.errors import EncoderError

if TYPE_CHECKING:
    from recsys.core.config import Settings

__all__ = [
    "CONFIG_FILE",
    "MODEL_FILE",
    "TOKENIZER_FILE",
    "LazyEncoder",
    "TextEncoder",
    "get_encoder",
    "lower_text",
    "unshout",
]

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "config.json"
#: BERT's learned position table has 512 rows; longer inputs cannot be encoded.
_MAX_POSITIONS = 512

FloatArray = npt.NDArray[np.float32]


class TextEncoder:
    """Turns texts into unit-length float32 vectors with an ONNX Runtime session.

    Inside one :meth:`encode` call texts are sorted by token count so each batch pads only to
    its own longest member, then the original order is restored. A graph whose output is
    ``(batch, tokens, dim)`` is mean-pooled over real tokens here; one whose output is
    ``(batch, dim)`` pools itself. config.json (optional) may say ``lowercase: true`` (texts
    written in capitals are lower-cased first, see :func:`unshout`), ``empty_text_ids`` (the
    ids of a text without any token) and the dimension (``embedding_dim``, else BERT's
    ``hidden_size``).
    """

    def __init__(
        self,
        model_dir: Path | str,
        *,
        threads: int = 1,
        max_tokens: int = 256,
        batch_size: int = 32,
    ) -> None:
        model_dir = Path(model_dir)
        if not 2 < max_tokens <= _MAX_POSITIONS:
            raise EncoderError(f"max_tokens must be in 3..{_MAX_POSITIONS}, got {max_tokens}")
        if batch_size < 1:
            raise EncoderError(f"batch_size must be ≥ 1, got {batch_size}")
        if threads < 1:
            raise EncoderError(f"threads must be ≥ 1, got {threads}")
        model_path = model_dir / MODEL_FILE
        tokenizer_path = model_dir / TOKENIZER_FILE
        missing = [p.name for p in (model_path, tokenizer_path) if not p.is_file()]
        if missing:
            raise EncoderError(
                f"encoder model not found: looked for {', '.join(missing)} in {model_dir}. "
                "Set RECSYS_ENCODER_MODEL to a folder under models_onnx/ (all-MiniLM-L6-v2-int8, "
                "or multilingual), or point RECSYS_MODEL_DIR at a directory holding model.onnx "
                "and tokenizer.json (the Lambda layer has them under /opt/models_onnx/, only "
                "those the layer was built with)."
            )
        # Imported here so that importing recsys (e.g. for the CLI's help) stays cheap.
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir = model_dir
        self.threads = threads
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        config = _read_config(model_dir)
        self.lowercase = bool(config.get("lowercase", False))
        #: The languages the model reads (config.json ``languages``; without it, English).
        self.languages: tuple[str, ...] = tuple(str(x) for x in config.get("languages") or ("en",))
        empty = config.get("empty_text_ids")
        self._empty_ids: list[int] | None = [int(i) for i in empty] if empty else None

        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        # Padding is done per length-sorted batch below, not by the tokenizer.
        self._tokenizer.no_padding()

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # On x86-64 CPUs with AVX2 but no VNNI, onnxruntime's fast u8×s8 kernels add pairs of
        # products in 16 bits and saturate: MiniLM's int8 vectors then drift (mean cosine to
        # fp32 0.987 instead of 0.997). The precise kernels keep the int8 model's fidelity on
        # every CPU; CPUs with VNNI are not affected.
        options.add_session_config_entry("session.x64quantprecision", "1")
        try:
            self._session = ort.InferenceSession(
                str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EncoderError(f"cannot load ONNX model {model_path}: {exc}") from exc
        self._input_names = {i.name for i in self._session.get_inputs()}
        output = self._session.get_outputs()[0]
        self._output_name: str = output.name
        self._pooled = len(output.shape or ()) == 2
        last = output.shape[-1] if output.shape else None
        dim = config.get("embedding_dim", config.get("hidden_size"))
        if isinstance(dim, int) and isinstance(last, int) and dim != last:
            raise EncoderError(f"{model_dir}: config.json says {dim} dimensions, the model {last}")
        if not isinstance(dim, int):
            dim = last if isinstance(last, int) else int(self._run_batch([[101, 102]]).shape[1])
        self._dim: int = dim

    @property
    def dim(self) -> int:
        """Length of each vector (384 for all-MiniLM-L6-v2, 512 for USE multilingual)."""
        return self._dim

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Encode ``texts`` into an ``(n, dim)`` float32 array of unit-length rows.

        Empty and whitespace-only texts are valid (they embed as the bare ``[CLS] [SEP]``);
        texts longer than ``max_tokens`` tokens are truncated.
        """
        if isinstance(texts, str | bytes):
            raise EncoderError(
                f"encode() takes a list of strings, got a single {type(texts).__name__}; "
                "wrap it in a list"
            )
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise EncoderError(
                    f"texts[{index}] is {type(text).__name__}, expected str: {text!r:.80}"
                )
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)

        if self.lowercase:
            texts = [unshout(text) for text in texts]
        encodings = self._tokenizer.encode_batch(list(texts))
        empty = self._empty_ids
        # A text with nothing but special tokens embeds as its model's export measured it.
        ids = [e.ids if empty is None or 0 in e.special_tokens_mask else empty for e in encodings]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.empty((len(ids), self._dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self._run_batch([ids[i] for i in chunk])
        return out

    def _run_batch(self, batch: list[list[int]]) -> FloatArray:
        width = max(len(seq) for seq in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, seq in enumerate(batch):
            input_ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        feeds: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        hidden: FloatArray = np.asarray(
            self._session.run([self._output_name], feeds)[0], dtype=np.float32
        )
        if self._pooled:
            pooled = hidden
        else:
            # Mean over real tokens only, as sentence-transformers' Pooling(mean) does.
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: FloatArray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
        return unit


def lower_text(text: str) -> str:
    """``str.lower()``, with Turkish "İ" as "i" (str.lower() gives "i" + a combining dot, which
    tokenizers split into a piece of its own; "I" stays "i", as the language of a text is not
    known)."""
    return text.lower().replace("i\u0307", "i")


def unshout(text: str) -> str:
    """What a cased model whose config says ``lowercase`` is fed: a text written in capitals
    (more upper- than lower-case letters: "ALARM CLOCK BAKELIKE RED. Home > Decorations",
    "WECKER") is lower-cased (:func:`lower_text`); a text in natural case is kept as written.

    USE multilingual is cased: titles in capitals embed badly (about 0.3 of Recall@10), and
    lower-casing text written normally costs it too — German nouns lose their capital
    ("Gießkanne", "Wecker": German queries' hit rate 0.81 → 0.65 on the search query set,
    docs/EVALUATION.md "Search")."""
    upper = lower = 0
    for char in text:
        if char.isupper():
            upper += 1
        elif char.islower():
            lower += 1
    return lower_text(text) if upper > lower else text


def _read_config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise EncoderError(f"unreadable {path}: {exc}") from exc
    return config if isinstance(config, dict) else {}


_encoders: dict[tuple[Path, int, int, int], TextEncoder] = {}
_lock = threading.Lock()


def get_encoder(settings: Settings | None = None) -> TextEncoder:
    """The process-wide encoder for ``settings`` (default: ``get_settings()``), built once."""
    if settings is None:
        from recsys.core.config import get_settings

        settings = get_settings()
    key = (
        Path(settings.model_dir).resolve(),
        settings.encoder_threads,
        settings.encoder_max_tokens,
        settings.encoder_batch_size,
    )
    encoder = _encoders.get(key)
    if encoder is None:
        with _lock:
            encoder = _encoders.get(key)
            if encoder is None:
                encoder = TextEncoder(key[0], threads=key[1], max_tokens=key[2], batch_size=key[3])
                _encoders[key] = encoder
    return encoder


class LazyEncoder:
    """:func:`get_encoder` for ``settings``, called on the first :meth:`encode`.

    For holders that need text vectors only now and then (the profile worker embeds search
    queries, which most batches lack), so their cold start does not load a model it may not use.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._encoder: TextEncoder | None = None

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if self._encoder is None:
            self._encoder = get_encoder(self._settings)
        return self._encoder.encode(texts)
