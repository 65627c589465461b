"""The shipped int8 encoder: fidelity to sentence-transformers fp32, shape, edge cases, errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from recsys.core.config import Settings
from recsys.core.errors import EncoderError
from recsys.encoder import LazyEncoder, TextEncoder, get_encoder

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "models_onnx" / "all-MiniLM-L6-v2-int8"
FIXTURES = ROOT / "tests" / "fixtures" / "encoder"


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(MODEL_DIR, threads=1, max_tokens=256, batch_size=16)


@pytest.fixture(scope="module")
def fidelity_texts() -> list[str]:
    rows = json.loads((FIXTURES / "texts.json").read_text(encoding="utf-8"))
    return [row["text"] for row in rows]


def _top10(vectors: np.ndarray) -> np.ndarray:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1, kind="stable")[:, :10]


def test_int8_embeddings_match_the_fp32_reference(
    encoder: TextEncoder, fidelity_texts: list[str]
) -> None:
    # GIVEN the fp32 sentence-transformers embeddings computed at export time
    reference = np.load(FIXTURES / "reference_fp32.npy")
    assert reference.shape == (len(fidelity_texts), 384)
    assert len(fidelity_texts) >= 300

    # WHEN the int8 model embeds the same texts
    got = encoder.encode(fidelity_texts)

    # THEN vectors and neighbour lists agree closely
    cosines = np.sum(got * reference, axis=1)
    recall = np.mean(
        [len(set(a) & set(b)) / 10 for a, b in zip(_top10(reference), _top10(got), strict=True)]
    )
    assert cosines.mean() >= 0.995, f"mean cosine {cosines.mean():.4f}"
    assert cosines.min() >= 0.98, f"min cosine {cosines.min():.4f} at {int(cosines.argmin())}"
    assert recall >= 0.92, f"recall@10 {recall:.3f}"


def test_vectors_are_unit_length_float32_of_the_model_dimension(encoder: TextEncoder) -> None:
    # GIVEN a few product texts
    texts = ["WHITE HANGING HEART T-LIGHT HOLDER", "Regency cakestand 3 tier", "jumbo bag"]

    # WHEN encoded
    vectors = encoder.encode(texts)

    # THEN one 384-d unit float32 row per text
    assert encoder.dim == 384
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_order_is_preserved_under_length_sorting(encoder: TextEncoder) -> None:
    # GIVEN texts of very different lengths, longest first, spread over several batches
    texts = [("vintage paisley shopper bag " * n).strip() for n in range(40, 0, -1)]

    # WHEN encoded together and one by one
    together = encoder.encode(texts)
    alone = np.vstack([encoder.encode([t]) for t in texts])

    # THEN row i is text i's vector whatever the internal batch order
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_same_vectors_for_batch_sizes_1_and_64(fidelity_texts: list[str]) -> None:
    # GIVEN the same model with very different batch sizes
    small = TextEncoder(MODEL_DIR, threads=1, max_tokens=256, batch_size=1)
    large = TextEncoder(MODEL_DIR, threads=1, max_tokens=256, batch_size=64)
    texts = fidelity_texts[::3]

    # WHEN both encode the same texts
    # THEN a text's vector does not depend on what shares its batch
    np.testing.assert_allclose(small.encode(texts), large.encode(texts), atol=1e-5)


def test_empty_whitespace_long_and_non_latin_texts_encode(encoder: TextEncoder) -> None:
    # GIVEN awkward but valid inputs
    texts = ["", "   \t\n", "lantern " * 3000, "白色悬挂爱心茶烛灯座", "Подсвечник", "حامل شموع"]

    # WHEN encoded
    vectors = encoder.encode(texts)

    # THEN every row is a finite unit vector, and blank texts all embed alike
    assert vectors.shape == (6, 384)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)


def test_truncation_follows_max_tokens() -> None:
    # GIVEN an encoder truncating at 16 tokens
    short = TextEncoder(MODEL_DIR, max_tokens=16)
    head = "red retrospot cake cases, pack of 72, for baking at birthday parties and summer fetes"

    # WHEN a text differs from another only after the 16th token
    a, b = short.encode([head + " and party bunting", head + " with matching napkins, set of 20"])

    # THEN both embed the same
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_empty_list_gives_empty_matrix(encoder: TextEncoder) -> None:
    # WHEN nothing is encoded
    vectors = encoder.encode([])

    # THEN the result still has the model's width
    assert vectors.shape == (0, 384)


def test_non_string_input_names_index_and_type(encoder: TextEncoder) -> None:
    # WHEN the third text is not a string
    with pytest.raises(EncoderError, match=r"texts\[2\] is int"):
        encoder.encode(["a", "b", 3])  # type: ignore[list-item]

    # WHEN a bare string is passed instead of a list
    with pytest.raises(EncoderError, match="single str"):
        encoder.encode("lantern")


def test_missing_model_dir_says_where_and_how_to_fix(tmp_path: Path) -> None:
    # WHEN the model directory holds no model
    with pytest.raises(EncoderError) as info:
        TextEncoder(tmp_path / "nowhere")

    # THEN the message names the place and the setting to change
    assert str(tmp_path / "nowhere") in str(info.value)
    assert "RECSYS_MODEL_DIR" in str(info.value)


def test_get_encoder_builds_one_session_per_settings() -> None:
    # GIVEN settings pointing at the shipped model
    settings = Settings(model_dir=MODEL_DIR, encoder_threads=1, encoder_batch_size=8)

    # WHEN asked twice
    first, second = get_encoder(settings), get_encoder(settings)

    # THEN the same encoder (and ONNX session) is returned, configured from the settings
    assert first is second
    assert first.batch_size == 8
    assert first.max_tokens == settings.encoder_max_tokens


def test_lazy_encoder_loads_the_model_only_when_it_first_encodes(tmp_path: Path) -> None:
    # GIVEN a lazy encoder whose settings point where no model is yet
    model_dir = tmp_path / "model"
    lazy = LazyEncoder(Settings(model_dir=model_dir, encoder_threads=1, encoder_batch_size=4))

    # THEN building it loaded nothing (a model-less directory would have raised) ...
    with pytest.raises(EncoderError, match="encoder model not found"):
        lazy.encode(["red mug"])

    # ... and once the model is there, the first encode loads it and gives its vectors
    model_dir.mkdir()
    for name in ("model.onnx", "tokenizer.json"):
        (model_dir / name).symlink_to(MODEL_DIR / name)
    vectors = lazy.encode(["red mug", "blue mug"])
    direct = get_encoder(Settings(model_dir=MODEL_DIR, encoder_threads=1, encoder_batch_size=4))
    np.testing.assert_allclose(vectors, direct.encode(["red mug", "blue mug"]), atol=1e-6)


def test_model_files_match_the_manifest() -> None:
    # GIVEN the manifest written at export time
    manifest = json.loads((MODEL_DIR / "MANIFEST.json").read_text(encoding="utf-8"))

    # THEN every shipped file is the one it describes
    assert set(manifest["files"]) >= {"model.onnx", "tokenizer.json"}
    for name, entry in manifest["files"].items():
        digest = hashlib.sha256((MODEL_DIR / name).read_bytes()).hexdigest()
        assert digest == entry["sha256"], name
    assert manifest["licence"] == "Apache-2.0"
