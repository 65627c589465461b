"""Online Retail lines → events: users or invoice sessions, purchases, cancellations, exclusions."""

from __future__ import annotations

from pathlib import Path

from recsys.datasets.retail_events import read_retail_events
from recsys.events.models import validate_events

CSV = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536365,POST,POSTAGE,1,2010-12-01 08:26:00,18.00,17850,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,United Kingdom
C536379,71053,WHITE METAL LANTERN,-2,2010-12-01 09:41:00,3.39,17850,United Kingdom
536414,22139,,56,2010-12-01 11:52:00,0,,United Kingdom
536544,21773,DECORATIVE ROSE BATHROOM BOTTLE,1,2010-12-01 14:32:00,2.51,,United Kingdom
536544,23444,NEXT DAY CARRIAGE,1,2010-12-01 14:32:00,15.00,,United Kingdom
"""


def test_lines_map_to_events(tmp_path: Path) -> None:
    # GIVEN a slice of the table with postage, a cancellation, a stock note and an anonymous basket
    path = tmp_path / "retail.csv"
    path.write_text(CSV)
    # WHEN
    events = list(read_retail_events(path))
    # THEN postage, carriage and the zero-price stock note are gone; the rest map as documented
    assert [(e["type"], e["product_id"]) for e in events] == [
        ("purchase", "85123A"),
        ("purchase", "71053"),
        ("remove_from_cart", "71053"),
        ("purchase", "21773"),
    ]
    first, _, cancel, anon = events
    assert first["user_id"] == "17850" and first["order_id"] == "536365"
    assert first["event_id"] == "or-536365-85123A-0" and first["quantity"] == 6
    assert first["timestamp"] == 1291191960.0  # 2010-12-01 08:26 read as UTC
    assert cancel["quantity"] == 2 and cancel["order_id"] == "C536379"
    assert anon["session_id"] == "inv-536544" and "user_id" not in anon
    # AND every event validates, with stable ids (a replay logs nothing twice)
    good, rejects = validate_events(events)
    assert not rejects and len(good) == 4
    assert [e["event_id"] for e in read_retail_events(path)] == [e["event_id"] for e in events]
