"""A/B experiments: ``RECSYS_EXPERIMENT`` splits users and sessions between ranking variants.

The setting is JSON::

    {"name": "diversity-test",
     "variants": {"a": {"share": 0.5},
                  "b": {"share": 0.5, "ranking_diversity": 0.5, "ranking_w_popularity": 0.8}}}

Each variant's keys besides ``share`` are ranking settings by their ``RECSYS_`` names without
the prefix (case does not matter); an unknown key, a bad value or shares that do not add up to 1
are a :class:`ConfigError` when the process starts, not a surprise later. The first variant is
the control the others are compared with.

Assignment is a stable hash of the experiment's name and the subject (the user id, or
``session:<id>`` for an anonymous session): the same subject always gets the same variant, a new
experiment name reshuffles everyone, and no state is kept anywhere.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recsys.core.config import Settings, ranking_setting_names
from recsys.core.errors import ConfigError

__all__ = ["DEFAULT_VARIANT", "Experiment", "Variant", "ranking_setting_names", "subject_of"]

#: The variant of every list when no experiment runs (or the request names no subject).
DEFAULT_VARIANT = "default"
#: Variant and experiment names: they appear in cache keys and stats keys.
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")


def subject_of(user_id: str | None, session_id: str | None = None) -> str | None:
    """Who a list is for, as experiments split them: the user, else ``session:<id>``."""
    if user_id:
        return user_id
    if session_id:
        return f"session:{session_id}"
    return None


def bucket(name: str, subject: str) -> float:
    """A uniform number in [0, 1) fixed by (experiment, subject)."""
    digest = hashlib.sha256(f"{name}\x00{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@dataclass(frozen=True)
class Variant:
    """One arm: its traffic share and the ranking settings it changes."""

    name: str
    share: float
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """A named split of subjects between variants (the first is the control)."""

    name: str
    variants: tuple[Variant, ...]

    @property
    def control(self) -> str:
        return self.variants[0].name

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variants]

    def assign(self, subject: str | None) -> str:
        """The subject's variant; without a subject, the list is outside the experiment."""
        if subject is None:
            return DEFAULT_VARIANT
        u = bucket(self.name, subject)
        edge = 0.0
        for variant in self.variants:
            edge += variant.share
            if u < edge:
                return variant.name
        return self.variants[-1].name  # rounding of the shares' sum

    def settings_for(self, base: Settings, variant: str) -> Settings:
        """``base`` with the variant's overrides applied (validated like the environment)."""
        for v in self.variants:
            if v.name == variant:
                return _apply(base, v.overrides, where=f"variant {variant!r}")
        return base

    def describe(self) -> dict[str, Any]:
        """The experiment as /stats reports it."""
        return {
            "name": self.name,
            "control": self.control,
            "variants": {v.name: {"share": v.share, **dict(v.overrides)} for v in self.variants},
        }

    # --- parsing ----------------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings) -> Experiment | None:
        """The experiment ``settings.experiment`` describes, None when it is empty."""
        raw = getattr(settings, "experiment", None)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        exp = cls.parse(raw)
        for v in exp.variants:  # every override must make valid settings
            _apply(settings, v.overrides, where=f"variant {v.name!r}")
        return exp

    @classmethod
    def parse(cls, raw: str | Mapping[str, Any]) -> Experiment:
        """Read and check the JSON form; every problem is a ConfigError naming the key."""
        if isinstance(raw, str):
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"RECSYS_EXPERIMENT is not JSON: {exc.msg}") from None
        else:
            data = raw
        if not isinstance(data, Mapping):
            raise ConfigError('RECSYS_EXPERIMENT must be {"name": ..., "variants": {...}}')
        unknown = set(data) - {"name", "variants"}
        if unknown:
            raise ConfigError(f"RECSYS_EXPERIMENT: unknown key(s) {sorted(unknown)}")
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("RECSYS_EXPERIMENT: name must be a non-empty string")
        raw_variants = data.get("variants")
        if not isinstance(raw_variants, Mapping) or not raw_variants:
            raise ConfigError("RECSYS_EXPERIMENT: variants must be a non-empty object")
        variants = [_parse_variant(vname, spec) for vname, spec in raw_variants.items()]
        total = sum(v.share for v in variants)
        if abs(total - 1.0) > 1e-6:
            raise ConfigError(f"RECSYS_EXPERIMENT: shares add up to {total:g}, not 1")
        return cls(name=name.strip(), variants=tuple(variants))


def _parse_variant(vname: Any, spec: Any) -> Variant:
    if not isinstance(vname, str) or not _NAME.fullmatch(vname) or vname == DEFAULT_VARIANT:
        raise ConfigError(
            f"RECSYS_EXPERIMENT: bad variant name {vname!r} (letters, digits, _ . -; not default)"
        )
    if not isinstance(spec, Mapping):
        raise ConfigError(f"RECSYS_EXPERIMENT: variant {vname!r} must be an object")
    share = spec.get("share")
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise ConfigError(f"RECSYS_EXPERIMENT: variant {vname!r} needs a share in (0, 1]")
    allowed = set(ranking_setting_names())
    overrides: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "share":
            continue
        norm = str(key).lower()
        if norm not in allowed:
            raise ConfigError(
                f"RECSYS_EXPERIMENT: variant {vname!r}: unknown ranking setting {key!r} "
                f"(one of: {', '.join(sorted(allowed))})"
            )
        overrides[norm] = value
    return Variant(vname, float(share), overrides)


def _apply(base: Settings, overrides: Mapping[str, Any], *, where: str) -> Settings:
    if not overrides:
        return base
    try:
        return base.with_ranking(overrides)  # validated as the environment would be
    except ConfigError as exc:
        raise ConfigError(f"RECSYS_EXPERIMENT: {where}: {exc}") from None
