"""Experiments: parsing RECSYS_EXPERIMENT, stable assignment, shares, per-variant settings."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import pytest

from recsys.core.config import Settings
from recsys.core.errors import ConfigError
from recsys.feedback.experiments import DEFAULT_VARIANT, Experiment, subject_of
from recsys.feedback.serving import Feedback

THREE_WAY = {
    "name": "blend-2026-12",
    "variants": {
        "a": {"share": 0.5},
        "b": {"share": 0.3, "ranking_diversity": 0.5},
        "c": {"share": 0.2, "RANKING_W_POPULARITY": 1.5, "ranking_buy_again": False},
    },
}


def test_split_is_within_five_percent_of_the_shares_over_10000_ids() -> None:
    # GIVEN a three-way experiment
    exp = Experiment.parse(json.dumps(THREE_WAY))
    # WHEN 10,000 users and sessions are assigned
    ids = [f"{i}" for i in range(5000)] + [f"session:{i:08x}" for i in range(5000)]
    counts = Counter(exp.assign(s) for s in ids)
    # THEN each variant's share is within ±5 % (relative) of the configured one
    for variant in exp.variants:
        seen = counts[variant.name] / len(ids)
        assert abs(seen - variant.share) <= 0.05 * variant.share, (variant.name, seen)


def test_the_same_user_always_gets_the_same_variant_and_a_new_name_reshuffles() -> None:
    exp = Experiment.parse(THREE_WAY)
    again = Experiment.parse(json.dumps(THREE_WAY))
    first = {u: exp.assign(u) for u in map(str, range(2000))}
    assert all(again.assign(u) == v for u, v in first.items())
    assert all(exp.assign(u) == v for u, v in first.items())
    renamed = Experiment.parse({**THREE_WAY, "name": "blend-2027-01"})
    moved = sum(renamed.assign(u) != v for u, v in first.items())
    assert moved > 500  # independent hashes: about 62 % of users change variant


def test_sessions_and_users_are_subjects_and_no_subject_is_outside_the_experiment() -> None:
    exp = Experiment.parse(THREE_WAY)
    assert subject_of("42", "abc") == "42"
    assert subject_of(None, "abc") == "session:abc"
    assert exp.assign(None) == DEFAULT_VARIANT
    assert exp.assign("session:abc") == exp.assign(subject_of(None, "abc"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "x", "variants": {"a": {"share": 1.0, "ranking_divrsity": 0.5}}}, "divrsity"),
        ({"name": "x", "variants": {"a": {"share": 1.0, "cache_ttl_search_s": 5}}}, "cache_ttl"),
        ({"name": "x", "variants": {"a": {"share": 0.5}, "b": {"share": 0.4}}}, "add up"),
        ({"name": "x", "variants": {"a": {"share": 0}}}, "share"),
        ({"name": "x", "variants": {}}, "variants"),
        ({"name": "", "variants": {"a": {"share": 1}}}, "name"),
        ({"name": "x", "variants": {"default": {"share": 1}}}, "variant name"),
        ({"name": "x", "variants": {"a#b": {"share": 1}}}, "variant name"),
        ({"name": "x", "variant": {"a": {"share": 1}}}, "unknown key"),
    ],
)
def test_a_bad_experiment_is_an_error_that_names_the_problem(
    spec: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Experiment.parse(spec)


def test_a_bad_value_is_an_error_at_start(make_settings: Callable[..., Settings]) -> None:
    # GIVEN an override outside the setting's range (ranking_diversity is in [0, 1])
    raw = json.dumps({"name": "x", "variants": {"a": {"share": 1, "ranking_diversity": 3}}})
    # WHEN the process builds its feedback loop from the settings THEN it refuses to start
    with pytest.raises(ConfigError, match="ranking_diversity"):
        Feedback.from_settings(make_settings(experiment=raw))
    with pytest.raises(ConfigError, match="not JSON"):
        Feedback.from_settings(make_settings(experiment="{nope"))


def test_each_variant_ranks_with_its_overrides_and_keeps_the_rest(
    make_settings: Callable[..., Settings],
) -> None:
    base = make_settings(experiment=json.dumps(THREE_WAY), ranking_w_content=0.9)
    fb = Feedback.from_settings(base)
    b, c = fb.settings_for("b").ranking, fb.settings_for("c").ranking
    assert (b.diversity, b.w_content) == (0.5, 0.9)
    assert (c.w_popularity, c.buy_again, c.diversity) == (1.5, False, 0.0)
    assert fb.settings_for("a") is base
    assert fb.settings_for(DEFAULT_VARIANT) is base
    # caches are per variant: no two variants share a cache tag
    tags = {fb.cache_tag(v) for v in fb.variants}
    assert len(tags) == len(fb.variants) == 4


def test_without_an_experiment_every_list_is_default(
    make_settings: Callable[..., Settings],
) -> None:
    fb = Feedback.from_settings(make_settings())
    assert fb.variant("42") == fb.variant(None, "s1") == DEFAULT_VARIANT
    assert fb.variants == [DEFAULT_VARIANT]
