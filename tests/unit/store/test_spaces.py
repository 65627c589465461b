"""Naming, inference and the no-mixing check of encoder spaces (no engine needed)."""

from __future__ import annotations

import contextvars
from dataclasses import replace

import pytest

from recsys.catalog.encoding import settings_for_model
from recsys.core.config import Settings
from recsys.core.errors import EncoderError, SpaceMismatchError
from recsys.store.model import products_spec
from recsys.store.spaces import (
    check_model,
    infer_model,
    model_in_name,
    note_model,
    noted_model,
    physical_name,
    space_specs,
)

MINILM = "all-MiniLM-L6-v2-int8"
MULTI = "use-multilingual-v3-int8"


def test_a_space_collection_names_its_model_and_a_plain_one_none() -> None:
    name = physical_name("products", MULTI)
    assert name == "products__use-multilingual-v3-int8"
    assert model_in_name("products", name) == MULTI
    assert model_in_name("products", "products") is None
    assert model_in_name("products", "users__x") is None


def test_space_specs_keep_the_logical_ids_and_carry_model_and_size() -> None:
    specs = space_specs(Settings(second_encoder="none"), MULTI, 512)
    products, users = specs["products"], specs["users"]
    assert (products.name, products.id_space, products.model) == (
        physical_name("products", MULTI),
        "products",
        MULTI,
    )
    assert dict(products.vectors) == {"text": 512}
    assert dict(users.vectors) == {"long": 512, "short": 512}


def test_a_plain_collection_is_taken_for_the_encoder_of_its_size() -> None:
    assert infer_model(384, Settings()) == MINILM
    multilingual = Settings(encoder_model="multilingual")
    assert infer_model(512, multilingual) == MULTI
    assert infer_model(384, multilingual) == MINILM  # the one shipped encoder of that size
    assert infer_model(16, Settings()) == "unknown-16d"


def test_vectors_of_another_model_are_refused_and_unknown_ones_pass() -> None:
    spec = replace(products_spec("products__m", 384), model="m")
    check_model(spec, "m", action="search")
    check_model(spec, None, action="search")  # nothing known about the vector
    check_model(products_spec(), "x", action="search")  # a plain collection: no model
    with pytest.raises(SpaceMismatchError) as err:
        check_model(spec, "other", action="search")
    assert (err.value.expected, err.value.got) == ("m", "other")


def test_the_note_is_per_context() -> None:
    def inner() -> str | None:
        note_model("inside")
        return noted_model()

    before = noted_model()
    assert contextvars.copy_context().run(inner) == "inside"
    assert noted_model() == before


def test_the_encoder_of_a_space_the_deployment_lacks_is_a_clear_error() -> None:
    with pytest.raises(EncoderError, match="recsys reembed"):
        settings_for_model(Settings(), "unknown-16d")
    with pytest.raises(EncoderError, match="recsys reembed"):
        settings_for_model(Settings(), "no-such-model")
    chosen = settings_for_model(Settings(), "multilingual")
    assert chosen.model_dir.name == MULTI and chosen.vector_size == 512
