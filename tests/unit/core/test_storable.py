"""What the stores can hold: DynamoDB numbers, keys, nesting; Qdrant payload integers; ids."""

from __future__ import annotations

from typing import Any

import pytest

from recsys.core.ids import ID_RULE, check_id, is_safe_id
from recsys.core.storable import DYNAMODB, QDRANT_PAYLOAD, Problem, check_value, problem_of


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    ("value", "path", "reason"),
    [
        (1e200, "x", "too large"),
        (-1e200, "x", "too large"),
        (1e-200, "x", "too small"),
        (10**126, "x", "too large"),
        (123456789012345678901234567890123456789, "x", "significant digits"),
        (float("nan"), "x", "not a number"),
        (float("inf"), "x", "not a number"),
        ({"": 1}, "x", "key is empty"),
        ({"a": [{"": 1}]}, "x.a[0]", "key is empty"),
        ({"a": "\ud800"}, "x.a", "lone surrogate"),
        (_nested(33), "x" + ".k" * 32, "deeper than 32"),
        ({1, 2}, "x", "cannot be stored"),
    ],
)
def test_dynamodb_refuses_what_it_cannot_hold(value: Any, path: str, reason: str) -> None:
    problem = problem_of(value, DYNAMODB, path="x")
    assert isinstance(problem, Problem)
    assert problem.path == path
    assert reason in problem.reason


@pytest.mark.parametrize(
    "value",
    [
        0,
        0.0,
        1e-130,
        9.999e125,
        10**40,  # one significant digit: DynamoDB keeps it
        12345678901234567890123456789012345678,  # 38 digits
        -2.5,
        "",
        "text ✓",
        None,
        True,
        _nested(32),
        {"list": [1, "a", None, {"b": False}]},
    ],
)
def test_dynamodb_keeps_what_it_can_hold(value: Any) -> None:
    check_value(value, DYNAMODB)


def test_qdrant_payload_integers_are_64_bit() -> None:
    assert problem_of(2**63 - 1, QDRANT_PAYLOAD) is None
    problem = problem_of({"n": 2**63}, QDRANT_PAYLOAD)
    assert problem is not None and problem.path == "n" and "64-bit" in problem.reason
    # Qdrant stores doubles: 1e200 is fine there, NaN is not
    assert problem_of(1e200, QDRANT_PAYLOAD) is None
    assert problem_of(float("nan"), QDRANT_PAYLOAD) is not None


@pytest.mark.parametrize(
    "good", ["85123A", "u-1", "a.b", "sku:12", "me@shop.example", "x~1", "A" * 128]
)
def test_safe_ids(good: str) -> None:
    assert is_safe_id(good) and check_id(good) == good


@pytest.mark.parametrize(
    "bad",
    ["", "a/b", ".", "..", ".hidden", "a b", "a?b", "a#b", "a%2Fb", "a+b", "x\n", "A" * 129, "é"],
)
def test_unsafe_ids_are_refused_with_the_rule(bad: str) -> None:
    assert not is_safe_id(bad)
    with pytest.raises(ValueError, match="1-128 characters"):
        check_id(bad)
    assert "A-Z a-z 0-9" in ID_RULE
