"""The second encoder's vector of a products collection: which model, its name, its check."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from recsys.core.config import Settings
from recsys.core.errors import SpaceMismatchError
from recsys.store import spaces
from recsys.store.model import products_spec
from recsys.store.space_ids import (
    second_in_name,
    second_space,
    second_vector_name,
    space_model,
    space_text,
    vector_model,
)
from recsys.store.spaces import (
    check_model,
    model_in_name,
    physical_name,
    second_model_for,
    second_vectors,
    space_specs,
)

MINILM = "all-MiniLM-L6-v2-int8"
MULTI = "use-multilingual-v3-int8"


def test_auto_pairs_each_shipped_encoder_with_the_other() -> None:
    # GIVEN a checkout with both shipped encoders installed
    # THEN "auto" gives MiniLM the multilingual encoder and the multilingual one MiniLM
    assert second_model_for(Settings()) == MULTI
    assert second_model_for(Settings(encoder_model="multilingual")) == MINILM
    assert second_model_for(Settings(), MULTI) == MINILM
    # AND "none" turns it off; a named one is taken (alias or folder), never the space's own
    assert second_model_for(Settings(second_encoder="none")) is None
    assert second_model_for(Settings(second_encoder="multilingual")) == MULTI
    assert second_model_for(Settings(second_encoder=MINILM)) is None
    assert second_model_for(Settings(), "unknown-16d") is None


def test_a_second_encoder_not_installed_is_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a deployment that ships only MiniLM (the Lambda layer: one encoder fits)
    real = Settings().model_dir
    (tmp_path / MINILM).symlink_to(real, target_is_directory=True)
    monkeypatch.setattr(spaces, "models_root", lambda: tmp_path)
    # THEN no second encoder, whether asked for by "auto" or by name
    assert second_model_for(Settings()) is None
    assert second_model_for(Settings(second_encoder="multilingual")) is None
    assert dict(space_specs(Settings())["products"].vectors) == {"text": 384}


def test_the_products_spec_declares_the_second_vector_and_its_name_says_so() -> None:
    specs = space_specs(Settings())
    products, users = specs["products"], specs["users"]
    # THEN products carry both encoders' vectors, each its own size; users only their own.
    # The multilingual one embeds the titles alone, and its space id says so.
    titles = f"{MULTI}~title"
    assert second_space(MULTI) == titles and second_space(MINILM) == MINILM
    assert (space_model(titles), space_text(titles)) == (MULTI, "title")
    assert (space_model(MULTI), space_text(MULTI)) == (MULTI, None)
    assert dict(products.vectors) == {"text": 384, second_vector_name(titles): 512}
    assert dict(users.vectors) == {"long": 384, "short": 384}
    assert second_vectors(products) == {f"text__{titles}": titles}
    # AND the collection's name records both spaces; the store's space is MiniLM's
    assert products.name == physical_name("products", MINILM, titles)
    assert products.name == f"products__{MINILM}+{titles}"
    assert model_in_name("products", products.name) == MINILM == products.model
    assert second_in_name("products", products.name) == titles
    assert second_in_name("products", physical_name("products", MINILM)) is None
    assert users.name == physical_name("users", MINILM)
    # AND with the multilingual encoder as the store's, MiniLM's second vector is of the full
    # text, as its "text" would be
    swapped = space_specs(Settings(encoder_model="multilingual"), MULTI, 512)["products"]
    assert dict(swapped.vectors) == {"text": 512, second_vector_name(MINILM): 384}


def test_vectors_of_one_model_over_another_text_are_another_space() -> None:
    # GIVEN products holding USE's vectors of the full text, and a query for its titles' space
    spec = replace(
        products_spec("products__m+u", 4), model="m", vectors={"text": 4, f"text__{MULTI}": 8}
    )
    titles = second_space(MULTI)
    assert vector_model(spec, f"text__{MULTI}") == MULTI
    # THEN the store refuses to compare them
    with pytest.raises(SpaceMismatchError):
        check_model(spec, titles, action="search", using=f"text__{MULTI}")
    check_model(spec, MULTI, action="search", using=f"text__{MULTI}")


def test_a_second_vector_is_checked_against_its_own_encoder() -> None:
    spec = replace(products_spec("products__m+s", 4), model="m", vectors={"text": 4, "text__s": 8})
    assert vector_model(spec, "text") == "m" and vector_model(spec, "text__s") == "s"
    check_model(spec, "s", action="search", using="text__s")
    check_model(spec, "m", action="search", using="text")
    with pytest.raises(SpaceMismatchError):
        check_model(spec, "m", action="search", using="text__s")
    with pytest.raises(SpaceMismatchError):
        check_model(spec, "s", action="search")
