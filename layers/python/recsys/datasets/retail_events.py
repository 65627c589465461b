"""The UCI Online Retail history as storefront events (for replays, demos and benchmarks).

Mapping, one event per invoice line:
- CustomerID → ``user_id``; lines without one → ``session_id`` "inv-<InvoiceNo>" (one
  anonymous basket is one session);
- StockCode → ``product_id``; lines that are not products are skipped with exactly the catalog
  loader's rules (``is_product_code`` and ``NON_PRODUCT_TITLES`` from
  :mod:`recsys.datasets.online_retail`), so every event refers to a catalog product;
- InvoiceDate (the shop's wall clock, read as UTC — the source gives no zone) → ``timestamp``;
  InvoiceNo → ``order_id``; Quantity, UnitPrice → ``quantity``, ``price``;
- normal invoices → ``purchase`` (only real sales: positive quantity and price — stock notes
  such as "damaged" at price 0 are not customer events); "C" invoices (cancellations) →
  ``remove_from_cart`` with the absolute quantity, which subtracts from the profile;
- ``event_id`` = "or-<InvoiceNo>-<StockCode>-<line index within the invoice>", so replaying the
  file (or part of it again) logs nothing twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from recsys.datasets.online_retail import (
    NON_PRODUCT_TITLES,
    is_product_code,
    is_sale,
    iter_rows,
    parse_invoice_date,
    tidy,
)


def _customer(raw: str) -> str | None:
    raw = raw.strip()
    if not raw:
        return None
    # Some exports write the id as a float ("17850.0").
    return raw[:-2] if raw.endswith(".0") else raw


def row_to_event(row: dict[str, str], line_index: int) -> dict[str, Any] | None:
    """The event of one invoice line, or None for lines that are not customer product events."""
    code = row["StockCode"].strip()
    invoice = row["InvoiceNo"].strip()
    title = tidy(row.get("Description") or "").upper()
    if not is_product_code(code) or any(m in title for m in NON_PRODUCT_TITLES):
        return None
    cancelled = invoice.upper().startswith("C")
    if not cancelled and not is_sale(row):
        return None
    try:
        quantity = abs(int(float(row["Quantity"])))
        price = float(row["UnitPrice"])
    except ValueError:
        return None
    event: dict[str, Any] = {
        "event_id": f"or-{invoice}-{code}-{line_index}",
        "type": "remove_from_cart" if cancelled else "purchase",
        "product_id": code,
        "order_id": invoice,
        "quantity": quantity,
        "timestamp": parse_invoice_date(row["InvoiceDate"]).timestamp(),
    }
    if price >= 0:
        event["price"] = price
    customer = _customer(row.get("CustomerID") or "")
    if customer:
        event["user_id"] = customer
    else:
        event["session_id"] = f"inv-{invoice}"
    return event


def read_retail_events(path: Path) -> Iterator[dict[str, Any]]:
    """Events (raw dicts, ready for ``validate_events``) of the table at ``path``, file order."""
    lines: dict[str, int] = defaultdict(int)
    for row in iter_rows(path):
        invoice = row["InvoiceNo"].strip()
        index = lines[invoice]
        lines[invoice] += 1
        event = row_to_event(row, index)
        if event is not None:
            yield event
