"""Product embeddings for evaluation, cached on disk by content hash of texts and model."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from recsys.core.config import Settings

FloatMatrix = npt.NDArray[np.float32]


def _model_fingerprint(settings: Settings) -> str:
    """The model file and the folder's config.json (how texts are fed to it), by size and
    modification time."""
    parts = []
    for name in ("model.onnx", "config.json"):
        path = Path(settings.model_dir) / name
        stat = path.stat() if path.is_file() else None
        parts.append(
            f"{path.resolve()}:{stat.st_size if stat else 0}:{stat.st_mtime_ns if stat else 0}"
        )
    return "|".join(parts)


def embed_texts(texts: Sequence[str], *, settings: Settings) -> FloatMatrix:
    """Unit vectors of ``texts``; a second run over the same texts and model reads the cache."""
    digest = hashlib.sha256()
    digest.update(_model_fingerprint(settings).encode())
    digest.update(str(settings.encoder_max_tokens).encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    cache = Path(settings.data_dir) / "eval-cache" / f"embeddings-{digest.hexdigest()[:24]}.npy"
    if cache.is_file():
        cached: FloatMatrix = np.load(cache)
        if cached.shape[0] == len(texts):
            return cached
    from recsys.encoder import get_encoder

    # Category-only catalogs repeat a few thousand texts over tens of thousands of products:
    # each distinct text is encoded once.
    distinct = list(dict.fromkeys(texts))
    row = {t: i for i, t in enumerate(distinct)}
    encoded = get_encoder(settings).encode(distinct).astype(np.float32)
    vectors = encoded[[row[t] for t in texts]] if len(texts) else encoded
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(cache)
    return vectors
