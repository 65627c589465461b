"""`recsys events FILE` and `recsys refresh` on the moto server and a real embedded store."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from recsys.aggregates.store import AggregatesStore
from recsys.cli import main
from recsys.core.config import Settings
from recsys.encoder import get_encoder
from recsys.store import PointIn, open_store_ready

pytestmark = pytest.mark.integration

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
ROWS = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,UK",
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,UK",
    "536366,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-02 08:28:00,2.55,17850,UK",
    "536366,71053,WHITE METAL LANTERN,6,2010-12-02 08:28:00,3.39,17850,UK",
    "536367,22423,REGENCY CAKESTAND 3 TIER,2,2010-12-03 09:00:00,12.75,13047,UK",
    "536368,22423,REGENCY CAKESTAND 3 TIER,1,2010-12-03 10:00:00,12.75,,UK",
]


@pytest.fixture
def env(stack_env: Callable[..., Settings]) -> Iterator[Settings]:
    current = stack_env()
    titles = {
        "85123A": "WHITE HANGING HEART T-LIGHT HOLDER",
        "71053": "WHITE METAL LANTERN",
        "22423": "REGENCY CAKESTAND 3 TIER",
    }
    vecs = get_encoder(current).encode(list(titles.values()))
    open_store_ready(current).upsert(
        current.products_collection,
        [
            PointIn(k, {"text": v}, {"product_id": k, "title": t, "category": "Home"})
            for (k, t), v in zip(titles.items(), vecs, strict=True)
        ],
    )
    yield current


def test_replay_online_retail_then_refresh(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an Online Retail slice (gzip, as shipped)
    path = tmp_path / "retail.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "\n".join(ROWS) + "\n").encode()))
    # WHEN replayed twice, then refreshed
    assert main(["events", str(path)]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["events", str(path)]) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["refresh"]) == 0
    refresh = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # THEN six events logged once, three profiles (two customers, one anonymous invoice)
    assert (first["accepted"], first["rejected"], first["profiles"]) == (6, 0, 3)
    assert (second["accepted"], second["duplicates"]) == (0, 6)
    store = open_store_ready(env)
    (p,) = store.retrieve(env.users_collection, ["17850"])
    assert p.payload["counts"] == {"purchase": 4}
    assert store.retrieve(env.users_collection, ["session:inv-536368"])
    # AND the refresh saw them all; lantern and heart were bought together twice
    assert refresh["events"] == 6
    agg = AggregatesStore(env).load(max_age_s=0)
    assert [p for p, _ in agg.bought_with("71053", limit=3)] == ["85123A"]


def test_jsonl_with_window_and_rejects(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a JSON Lines file with a bad line, a bad event and one outside the window
    lines = [
        json.dumps(
            {
                "user_id": "a",
                "type": "view",
                "product_id": "22423",
                "timestamp": "2011-01-02T00:00:00Z",
            }
        ),
        "{oops",
        json.dumps({"user_id": "a", "type": "view", "timestamp": "2011-01-03T00:00:00Z"}),
        json.dumps(
            {
                "user_id": "a",
                "type": "view",
                "product_id": "71053",
                "timestamp": "2012-01-01T00:00:00Z",
            }
        ),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    rejects = tmp_path / "rejects.jsonl"
    # WHEN
    code = main(["events", str(path), "--until", "2011-06-01", "--rejects", str(rejects)])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # THEN one accepted; the two bad rows are written with row number, field and reason
    assert code == 0 and out["accepted"] == 1 and out["rejected"] == 2
    rows = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(r["row"], r["field"]) for r in rows] == [(2, None), (3, "product_id")]
    assert "not JSON" in rows[0]["reason"]
