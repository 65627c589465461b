"""Category paths: the one place ``"A > B > C"`` is parsed.

A catalog row's category is normalised at ingest (:func:`normalise_category`) and stored with
every prefix of its path (``category_levels``), so a filter on any level is one keyword match.
Everything downstream — filters, aggregates, profiles, reasons — reads paths through here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

__all__ = [
    "SEPARATOR",
    "brand_key",
    "category_key",
    "category_keys",
    "category_levels",
    "category_selectors",
    "normalise_category",
    "top_category",
]

#: Between two levels of a normalised path.
SEPARATOR = " > "


def normalise_category(value: str | None) -> str:
    """``"Home>Candles >  Holders"`` → ``"Home > Candles > Holders"`` (empty levels dropped)."""
    return SEPARATOR.join(" ".join(p.split()) for p in (value or "").split(">") if p.strip())


def category_levels(category: str | None) -> list[str]:
    """Every prefix of a category path: ``"A > B"`` → ``["A", "A > B"]``."""
    parts = [p for p in normalise_category(category).split(SEPARATOR) if p]
    return [SEPARATOR.join(parts[: i + 1]) for i in range(len(parts))]


def category_selectors(levels: Iterable[str]) -> list[str]:
    """What selects a product with these levels: each prefix, then each bare level name
    ("B" for "A > B"), as a storefront may not know the whole path."""
    out = [str(level) for level in levels]
    return out + [level.rsplit(SEPARATOR, 1)[-1] for level in out]


@lru_cache(maxsize=1 << 16)
def top_category(category: str | None) -> str:
    """The first level of the path ("" when there is none). Memoised: ranking asks it of every
    candidate of every request, and a catalog has few distinct paths."""
    return normalise_category(category).split(SEPARATOR, 1)[0]


_WORD = re.compile(r"\w+")
#: Words of a level name too common to select by ("Kitchen & Dining": "kitchen", "dining").
_FILLER = frozenset({"and", "the", "of", "for"})


def category_key(value: str) -> str:
    """A category as typed, the way it is matched: normalised and case-folded
    (``"home>KITCHEN"`` → ``"home > kitchen"``)."""
    return normalise_category(value).casefold()


def category_keys(category: str | None) -> list[str]:
    """What a shopper may type to select a product of ``category``, case-folded: each prefix of
    the path, each level's name, and each word of a level's name — so "kitchen" selects both
    "Home > Kitchen" and "Kitchen & Dining > Baking". Stored as payload ``category_keys``."""
    levels = category_levels(category)
    keys = [k.casefold() for k in category_selectors(levels)]
    for level in levels:
        name = level.rsplit(SEPARATOR, 1)[-1].casefold()
        keys.extend(w for w in _WORD.findall(name) if len(w) > 1 and w not in _FILLER)
    return list(dict.fromkeys(keys))


def brand_key(brand: object) -> str | None:
    """A brand the way it is matched: whitespace-normalised and case-folded (None when empty)."""
    text = " ".join(str(brand or "").split()).casefold()
    return text or None
