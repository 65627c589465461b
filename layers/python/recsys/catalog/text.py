"""The one place product text for embedding is built, so ingest, search and profiles agree.

The encoder truncates at ``encoder_max_tokens`` (256 by default); product text is budgeted in
characters well below that so the fields that identify a product (title, category, brand)
always survive and a long description cannot crowd them out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from recsys.catalog.categories import normalise_category

#: Character budgets per field (≈ 4 characters per token for English product text).
TITLE_BUDGET = 200
DESCRIPTION_BUDGET = 600
TAGS_BUDGET = 160
TOTAL_BUDGET = 1000

#: Fields whose change requires a new embedding (the content hash covers exactly these).
EMBEDDED_FIELDS = ("title", "category", "brand", "description", "tags")


def _clip(text: str, budget: int) -> str:
    text = " ".join(text.split())
    if len(text) <= budget:
        return text
    cut = text[:budget].rsplit(" ", 1)[0]
    return cut or text[:budget]


def _tags(tags: Any) -> str:
    if isinstance(tags, str):
        items: Iterable[str] = tags.split(";")
    elif isinstance(tags, Iterable):
        items = (str(t) for t in tags)
    else:
        return ""
    return ", ".join(t.strip() for t in items if t and t.strip())


def product_text(product: Mapping[str, Any]) -> str:
    """Embedding text of a product: ``title. category path. brand. description. tags``.

    Missing fields are skipped; the result is whitespace-normalised and at most
    ``TOTAL_BUDGET`` characters.
    """
    parts = [
        _clip(str(product.get("title") or ""), TITLE_BUDGET),
        normalise_category(str(product.get("category") or "")),
        str(product.get("brand") or "").strip(),
        _clip(str(product.get("description") or ""), DESCRIPTION_BUDGET),
        _clip(_tags(product.get("tags")), TAGS_BUDGET),
    ]
    return _clip(". ".join(p for p in parts if p), TOTAL_BUDGET)


def title_text(product: Mapping[str, Any]) -> str:
    """The title alone, whitespace-normalised and clipped: the text of a second vector whose
    space id says ``~title`` (:data:`recsys.store.space_ids.SECOND_TEXTS`); a product without
    a title gets its full text."""
    return _clip(str(product.get("title") or ""), TITLE_BUDGET) or product_text(product)


#: The product texts a vector may embed, by the name its space id gives (None: the full one).
VECTOR_TEXTS = {"title": title_text}


def vector_text(text: str | None, product: Mapping[str, Any]) -> str:
    """The text named ``text`` of ``product`` (None: :func:`product_text`)."""
    if text is None:
        return product_text(product)
    try:
        return VECTOR_TEXTS[text](product)
    except KeyError:
        raise ValueError(
            f"no product text named {text!r} (known: {sorted(VECTOR_TEXTS)})"
        ) from None
