"""The backend-independent rules of the vector store: flags, vector checks, recommend maths."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.core.config import Settings
from recsys.core.errors import ConfigError, ValidationError
from recsys.store import PointIn, open_store, point_id, products_spec
from recsys.store._common import (
    average_query,
    check_filters,
    check_point,
    decode_payload,
    encode_payload,
    unique,
)
from recsys.store.base import Filters

SPEC = products_spec(size=4)


def test_flags_are_stored_as_integers_and_read_back_as_bools() -> None:
    # GIVEN a payload with both flags, one missing-as-None field and other data
    payload = {"in_stock": True, "is_active": False, "price": 3.5}

    # WHEN encoded for storage and decoded again
    stored = encode_payload(payload)
    back = decode_payload(stored)

    # THEN storage holds 0/1 and the caller gets bools and the rest unchanged
    assert stored == {"in_stock": 1, "is_active": 0, "price": 3.5}
    assert back == payload
    assert back["in_stock"] is True
    assert back["is_active"] is False
    assert payload["in_stock"] is True  # the caller's dict is not modified


@pytest.mark.parametrize("value", ["yes", 2, 0.5])
def test_a_flag_that_is_not_boolean_is_refused(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        encode_payload({"in_stock": value})
    assert info.value.field == "in_stock"


def test_check_point_fills_the_key_field_and_refuses_a_conflicting_one() -> None:
    vec = {"text": np.array([1, 0, 0, 0], dtype=np.float64)}

    vectors, payload = check_point(SPEC, PointIn("p1", vec, {"in_stock": False}))
    assert payload == {"in_stock": 0, "product_id": "p1"}
    assert vectors["text"].dtype == np.float32

    with pytest.raises(ValidationError, match="differs") as info:
        check_point(SPEC, PointIn("p1", vec, {"product_id": "p2"}))
    assert info.value.field == "product_id"


def test_average_query_is_qdrants_average_vector_formula() -> None:
    # GIVEN two positive examples and a negative one
    pos = [np.array([1, 0], dtype=np.float32), np.array([0, 1], dtype=np.float32)]
    neg = [np.array([1, 0], dtype=np.float32)]

    # WHEN / THEN: mean(pos) alone, else 2·mean(pos) − mean(neg)
    np.testing.assert_allclose(average_query(pos, []), [0.5, 0.5])
    np.testing.assert_allclose(average_query(pos, neg), [0.0, 1.0])
    np.testing.assert_allclose(average_query(pos[:1], [np.ones(2, np.float32)]), [1.0, -1.0])


def test_average_query_refuses_examples_that_cancel_out() -> None:
    pos = [np.array([1, 1], dtype=np.float32)]
    with pytest.raises(ValidationError, match="cancel"):
        average_query(pos, [np.array([2, 2], dtype=np.float32)])


def test_inverted_price_range_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        check_filters(Filters(price_min=10, price_max=1))
    assert info.value.field == "price_min"


def test_unique_keeps_first_occurrence_order() -> None:
    assert unique(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


def test_point_ids_are_deterministic_per_collection() -> None:
    assert point_id("products", "42") == point_id("products", "42")
    assert point_id("products", "42") != point_id("users", "42")


def test_qdrant_backend_without_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="RECSYS_QDRANT_URL"):
        open_store(Settings(vector_backend="qdrant", qdrant_url=None))
