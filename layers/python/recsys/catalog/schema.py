"""Catalog rows: schema, validation and payload building.

A row is validated into a :class:`Product` (its store payload and embedding text) or turned into
a :class:`Rejection` naming the row, the field and the reason; a bad row never stops the good
ones. The streaming readers that feed rows in are in :mod:`recsys.catalog.readers`.

Payload conventions the store and the recommender rely on:

- ``category`` is normalised to ``"A > B > C"`` and ``category_levels`` holds every prefix
  (``["A", "A > B", "A > B > C"]``) so a filter on any level is one keyword match
  (:mod:`recsys.catalog.categories`);
- ``content_hash`` is the sha256 of :func:`recsys.catalog.text.product_text` — exactly the text
  that is embedded — so a changed hash means "re-embed" and an equal one means "payload only";
- times are UTC ISO 8601 strings ending in ``Z``; ``created_at`` is left out when the row has
  none, so an update keeps the stored value (the embed step sets it on first insert).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from recsys.catalog.categories import (
    brand_key,
    category_keys,
    category_levels,
    normalise_category,
)
from recsys.catalog.text import EMBEDDED_FIELDS, product_text
from recsys.core.ids import ID_MAX_LENGTH, ID_PATTERN, ID_RULE
from recsys.core.storable import QDRANT_PAYLOAD, Problem, check_value

__all__ = [
    "KNOWN_FIELDS",
    "MAX_ROW_BYTES",
    "RESERVED_FIELDS",
    "NumberedRow",
    "Product",
    "ProductIn",
    "Rejection",
    "build_product",
    "content_hash",
    "iso_utc",
    "iter_validated",
    "validate_rows",
]

_TRUE = frozenset({"true", "1", "yes", "y", "t", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "f", "off"})

#: Largest product (payload + embedding text, as JSON): it must fit one embed-queue message
#: (SQS: 256 KB) with room to spare; the setting ``product_max_row_bytes`` can lower it.
MAX_ROW_BYTES = 100_000

#: Payload keys computed here; a row's column of the same name is ignored.
RESERVED_FIELDS = frozenset(
    {"category_levels", "category_keys", "brand_key", "content_hash", "updated_at"}
)


def _parse_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        token = value.strip().lower()
        if token in _TRUE:
            return True
        if token in _FALSE:
            return False
    raise ValueError(f"expected a boolean (true/false, 1/0, yes/no), got {value!r}")


def _parse_price(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        if value < 0:
            raise ValueError(f"must be ≥ 0, got {value!r}")
        return float(value)
    raise ValueError(f"expected a number, got {type(value).__name__}")


def _parse_tags(value: Any) -> Any:
    if isinstance(value, str):
        value = value.split(";")
    if isinstance(value, list | tuple):
        return [" ".join(str(t).split()) for t in value if str(t).strip()]
    raise ValueError(f"expected a list or a ';'-separated string, got {type(value).__name__}")


def _parse_id(value: Any) -> Any:
    # JSON catalogs often carry numeric ids; they are the same product as their string form.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def iso_utc(value: datetime) -> str:
    """A datetime as UTC ISO 8601 with a ``Z`` (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(UTC).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z")


Bool = Annotated[bool, BeforeValidator(_parse_bool)]


class ProductIn(BaseModel):
    """One catalog row. Unknown columns are kept (``extra="allow"``) and end up in the payload."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    product_id: Annotated[
        str,
        BeforeValidator(_parse_id),
        Field(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN),
    ]
    title: str = Field(min_length=1, max_length=2000)
    description: str | None = None
    category: str | None = None
    brand: str | None = None
    price: Annotated[float | None, BeforeValidator(_parse_price)] = None
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
    # A catalog that does not track stock sells what it lists: absent means in stock.
    in_stock: Bool = True
    is_active: Bool = True
    created_at: datetime | None = None
    tags: Annotated[list[str] | None, BeforeValidator(_parse_tags)] = None
    image_url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_empty(cls, data: Any) -> Any:
        # CSV has no null: an empty cell means "not given", for known and unknown columns alike.
        if isinstance(data, Mapping):
            return {
                k: v
                for k, v in data.items()
                if v is not None and not (isinstance(v, str) and not v.strip())
            }
        return data

    @field_validator("category")
    @classmethod
    def _category(cls, value: str | None) -> str | None:
        return normalise_category(value) or None if value is not None else None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return value.upper() if value else value


#: Fields of the schema; everything else in a row is an "unknown column" kept as is.
KNOWN_FIELDS = tuple(ProductIn.model_fields)


def content_hash(text: str) -> str:
    """sha256 (hex) of the embedding text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Product:
    """A validated product: its key, the text to embed and the payload to store."""

    product_id: str
    text: str
    payload: dict[str, Any]

    @property
    def content_hash(self) -> str:
        """The hash of :attr:`text`, also stored in the payload."""
        return str(self.payload["content_hash"])


@dataclass(frozen=True)
class Rejection:
    """A row that was not accepted: where it was, which field, why."""

    row: int
    field: str
    reason: str
    product_id: str | None = None

    def as_dict(self, *, position: str = "index") -> dict[str, Any]:
        """``{position: row, "field", "reason"}`` (+ ``product_id`` when known)."""
        out: dict[str, Any] = {position: self.row, "field": self.field, "reason": self.reason}
        if self.product_id is not None:
            out["product_id"] = self.product_id
        return out


def build_product(item: ProductIn, *, now: datetime) -> Product:
    """The payload and embedding text of a validated row, stamped ``updated_at=now``."""
    data = item.model_dump(exclude_none=False)
    extras = {k: v for k, v in (item.model_extra or {}).items() if k not in RESERVED_FIELDS}
    text = product_text({k: data.get(k) for k in EMBEDDED_FIELDS})
    payload: dict[str, Any] = dict(extras)
    # Known optional fields are written even when None so a payload-only update clears them.
    for name in KNOWN_FIELDS:
        if name != "created_at":
            payload[name] = data[name]
    if item.created_at is not None:
        payload["created_at"] = iso_utc(item.created_at)
    payload["category_levels"] = category_levels(item.category)
    # Case-folded selectors, so filters match what shoppers type (see catalog/categories.py).
    payload["category_keys"] = category_keys(item.category)
    payload["brand_key"] = brand_key(item.brand)
    payload["updated_at"] = iso_utc(now)
    payload["content_hash"] = content_hash(text)
    return Product(product_id=item.product_id, text=text, payload=payload)


def _rejection(row: int, data: Mapping[str, Any], exc: PydanticValidationError) -> Rejection:
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        name = ".".join(str(p) for p in err["loc"]) or "row"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "required field is missing or empty"
        elif err["type"] == "string_pattern_mismatch" and name == "product_id":
            msg = ID_RULE
        problems.append((name, msg))
    pid = data.get("product_id")
    product_id = str(pid).strip() or None if pid is not None else None
    if len(problems) == 1:
        name, msg = problems[0]
        return Rejection(row=row, field=name, reason=msg, product_id=product_id)
    return Rejection(
        row=row,
        field=",".join(n for n, _ in problems),
        reason="; ".join(f"{n}: {m}" for n, m in problems),
        product_id=product_id,
    )


#: A source row: its position (list index, or line number in a file) and its data — or the
#: reason it could not even be parsed.
NumberedRow = tuple[int, Mapping[str, Any] | Rejection]


def _storable(row: int, product: Product, max_row_bytes: int) -> Rejection | None:
    """Why the store or the embed queue could not take ``product`` (None when they can)."""
    try:
        check_value(product.payload, QDRANT_PAYLOAD)
    except Problem as exc:
        return Rejection(row, exc.path or "row", exc.reason, product.product_id)
    size = len(json.dumps([product.text, product.payload], default=str).encode("utf-8"))
    if size > max_row_bytes:
        return Rejection(
            row,
            "row",
            f"product is {size} bytes as stored; at most {max_row_bytes} (shorten the "
            "description or the extra columns)",
            product.product_id,
        )
    return None


def iter_validated(
    rows: Iterable[NumberedRow], *, now: datetime | None = None, max_row_bytes: int = MAX_ROW_BYTES
) -> Iterator[Product | Rejection]:
    """Validate numbered rows lazily, yielding a Product or a Rejection for each, in order.

    Beyond the schema, a product must be one the store and the embed queue can hold (Qdrant
    payload values, at most ``max_row_bytes``): otherwise it is rejected here, alone.
    """
    stamp = now or datetime.now(UTC)
    for row, data in rows:
        if isinstance(data, Rejection):
            yield data
            continue
        if not isinstance(data, Mapping):
            yield Rejection(row=row, field="row", reason=f"expected an object, got {data!r:.60}")
            continue
        try:
            item = ProductIn.model_validate(data)
        except PydanticValidationError as exc:
            yield _rejection(row, data, exc)
            continue
        product = build_product(item, now=stamp)
        yield _storable(row, product, max_row_bytes) or product


def validate_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    now: datetime | None = None,
    max_row_bytes: int = MAX_ROW_BYTES,
) -> tuple[list[Product], list[Rejection]]:
    """Validate a list of rows; rejections carry the row's 0-based index."""
    valid: list[Product] = []
    rejected: list[Rejection] = []
    for out in iter_validated(enumerate(rows), now=now, max_row_bytes=max_row_bytes):
        if isinstance(out, Rejection):
            rejected.append(out)
        else:
            valid.append(out)
    return valid, rejected
