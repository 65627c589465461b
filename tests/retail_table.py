"""The Online Retail table (shared/data/online_retail) as a catalog, parsed once per test process.

Parsing the 541,909-line table takes seconds, and several modules take the catalog or its first
products: they share one parse. Each call returns fresh copies of the rows, so a test that
changes its rows changes no other test's.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ONLINE_RETAIL = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"


@cache
def _parsed() -> tuple[dict[str, Any], ...]:
    from recsys.datasets.online_retail import load_catalog

    return tuple(load_catalog(ONLINE_RETAIL))


def online_retail_catalog(limit: int | None = None) -> list[dict[str, Any]]:
    """``load_catalog`` of the table, or its first ``limit`` products (in its order)."""
    return copy.deepcopy(list(_parsed()[:limit]))
