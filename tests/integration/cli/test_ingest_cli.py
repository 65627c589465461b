"""``recsys ingest FILE``: local, queue-less ingest into the embedded store, with a rejects file."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from recsys.catalog.embed import DirectEmbedQueue, Embedder
from recsys.catalog.messages import EmbedItem
from recsys.cli import main
from recsys.core.config import Settings, get_settings
from recsys.core.errors import EncoderError
from recsys.encoder import get_encoder
from recsys.store import open_store, open_store_ready

pytestmark = pytest.mark.integration

CSV = (
    "product_id,title,category,price,in_stock,tags,colour\n"
    "c1,Scented soy candle,Home > Candles,4.50,yes,gift;home,white\n"
    "c2,Enamel coffee mug,Kitchen > Mugs,-1,no,,blue\n"
    "c3,Canvas tote shopping bag,Bags,6,maybe,,\n"
    "c4,Wooden jigsaw puzzle,Toys,9.99,1,kids,\n"
)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("RECSYS_EMBED_QUEUE_URL", raising=False)
    # main() exports --data-dir to the environment; monkeypatch restores it afterwards.
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tmp_path / "data"))
    yield tmp_path / "data"
    get_settings.cache_clear()


def test_csv_ingest_embeds_good_rows_and_writes_rejects(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a gzip CSV catalog with two bad rows
    path = tmp_path / "shop.csv.gz"
    path.write_bytes(gzip.compress(CSV.encode()))
    rejects = tmp_path / "rejects.jsonl"
    # WHEN it is ingested from the command line
    code = main(["--data-dir", str(data_dir), "ingest", str(path), "--rejects", str(rejects)])
    # THEN the summary counts them, the rejects file names line, field and reason
    out = capsys.readouterr().out
    assert code == 0
    assert "shop.csv.gz: 2 accepted" in out and "0 unchanged, 2 rejected" in out
    lines = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert [(r["row"], r["field"], r["product_id"]) for r in lines] == [
        (3, "price", "c2"),
        (4, "in_stock", "c3"),
    ]
    # AND the good rows are searchable in the embedded store once the command returns
    store = open_store_ready(Settings(data_dir=data_dir))
    assert store.count("products") == 2
    (vector,) = get_encoder().encode(["a candle that smells nice"])
    assert store.search("products", vector, using="text", limit=1)[0].key == "c1"
    # WHEN the same file is ingested again
    assert main(["--data-dir", str(data_dir), "ingest", str(path)]) == 0
    # THEN nothing is re-embedded and the rejects go to the default place
    out = capsys.readouterr().out
    assert "0 accepted" in out and "2 unchanged" in out
    assert (data_dir / "rejects" / "shop.csv.gz.rejects.jsonl").is_file()


def test_online_retail_format_loads_the_table_as_a_catalog(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a small excerpt of the Online Retail table
    table = (
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,UK\n"
        "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,UK\n"
        "536366,POST,POSTAGE,1,2010-12-01 08:28:00,18,17850,UK\n"
    )
    path = tmp_path / "retail.csv"
    path.write_text(table)
    # WHEN it is ingested with --format online-retail
    assert (
        main(["--data-dir", str(data_dir), "ingest", str(path), "--format", "online-retail"]) == 0
    )
    # THEN its two products are stored, postage is not
    assert "retail.csv: 2 accepted" in capsys.readouterr().out
    store = open_store_ready(Settings(data_dir=data_dir))
    assert sorted(r.key for r in store.retrieve("products", ["85123A", "71053", "POST"])) == [
        "71053",
        "85123A",
    ]


def test_unknown_format_and_missing_file_exit_with_a_message(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = tmp_path / "catalog.parquet"
    odd.write_bytes(b"PAR1")
    assert main(["--data-dir", str(data_dir), "ingest", str(odd)]) == 2
    assert "cannot tell the format of 'catalog.parquet'" in capsys.readouterr().err
    assert main(["--data-dir", str(data_dir), "ingest", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_background_encoding_failures_surface_on_flush(tmp_path: Path) -> None:
    # GIVEN an in-process queue encoding in the background with an encoder that fails
    class BrokenEncoder:
        def encode(self, texts: object) -> object:
            raise EncoderError("model file is corrupt")

    settings = Settings(data_dir=tmp_path / "d")
    store = open_store(settings)
    queue = DirectEmbedQueue(
        Embedder(encoder=BrokenEncoder(), store=store, settings=settings),  # type: ignore[arg-type]
        background=True,
    )
    # WHEN a chunk is sent (it returns at once) and the queue is closed
    queue.send([EmbedItem(product_id="a", payload={"title": "x"})])
    # THEN the failure reaches the caller instead of being lost on the worker thread
    with pytest.raises(EncoderError, match="model file is corrupt"):
        queue.close()
    store.close()


def test_background_encoding_writes_every_chunk_in_order(tmp_path: Path) -> None:
    # GIVEN a background queue and the same product sent in three successive chunks
    settings = Settings(data_dir=tmp_path / "d")
    store = open_store(settings)
    queue = DirectEmbedQueue(
        Embedder(encoder=get_encoder(), store=store, settings=settings), background=True
    )
    for i, title in enumerate(["Red mug", "Green mug", "Blue mug"]):
        others = [EmbedItem(product_id=f"o{i}{j}", payload={"title": f"x{j}"}) for j in range(3)]
        queue.send([EmbedItem(product_id="mug", payload={"title": title}), *others])
    # WHEN the queue is closed
    queue.close()
    # THEN every product was written and the last version won
    assert queue.embedded == 12
    assert store.count("products") == 10
    assert store.retrieve("products", ["mug"])[0].payload["title"] == "Blue mug"
    store.close()
