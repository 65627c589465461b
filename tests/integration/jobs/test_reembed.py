"""Changing the encoder of a populated store, with the two shipped models, on both backends.

The store is filled with MiniLM (a slice of the Online Retail catalog, shoppers' events and
their profiles); the process restarts with ``RECSYS_ENCODER_MODEL=multilingual`` and keeps
serving MiniLM's space; ``reembed`` moves it to the multilingual space while another thread
keeps asking for similar items, "for you" and search. Every reply comes from one space, the
old one until the switch and the new one after it, and no reply fails.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from retail_table import online_retail_catalog

from recsys.catalog.embed import DirectEmbedQueue, Embedder
from recsys.catalog.ingest import ingest_rows
from recsys.core.config import Settings
from recsys.events.models import validate_events
from recsys.jobs.reembed import ReembedProgress, reembed
from recsys.profiles.worker import ProfileWorker
from recsys.services import Services
from recsys.store.spaces import MODEL_FIELD, active_model, forget_model, physical_name

pytestmark = pytest.mark.integration

MINILM = "all-MiniLM-L6-v2-int8"
MULTI = "use-multilingual-v3-int8"
N_PRODUCTS = 240
N_USERS = 12
T0 = 1_700_000_000.0
#: No reply cache: each read goes to the store, so the test sees the space it came from.
NO_CACHE: dict[str, Any] = {
    "cache_ttl_recommend_s": 0,
    "cache_ttl_similar_s": 0,
    "cache_ttl_search_s": 0,
    "cache_ttl_trending_s": 0,
}


@cache
def catalog() -> list[dict[str, Any]]:
    return online_retail_catalog(N_PRODUCTS)


def settings_for(kind: str, root: Path, **extra: Any) -> Settings:
    backend: dict[str, Any] = (
        {} if kind == "edge" else {"vector_backend": "qdrant", "qdrant_url": str(root / "qd")}
    )
    # One encoder's vectors per space unless asked (the second encoder's: test_reembed_second.py).
    values: dict[str, Any] = {
        "data_dir": root,
        "second_encoder": "none",
        **backend,
        **NO_CACHE,
        **extra,
    }
    return Settings(**values)


def populate(services: Services) -> list[str]:
    """Catalog, events of N_USERS shoppers (views, purchases, a search) and their profiles."""
    settings, store = services.settings, services.store
    queue = DirectEmbedQueue(Embedder.from_services(services))
    assert ingest_rows(catalog(), store=store, queue=queue, settings=settings).accepted == len(
        catalog()
    )
    ids = [row["product_id"] for row in catalog()]
    raw = []
    for u in range(N_USERS):
        for j in range(6):
            pid = ids[(u * 17 + j * 5) % len(ids)]
            kind = "purchase" if j % 3 == 0 else "view"
            raw.append({"user_id": f"u{u}", "type": kind, "product_id": pid, "timestamp": T0 + j})
        raw.append({"user_id": f"u{u}", "type": "search", "query": "lantern", "timestamp": T0 + 9})
    good, rejects = validate_events(raw, now=T0 + 100)
    assert not rejects
    services.event_log.write(good)
    ProfileWorker(services).update(*{f"u#u{u}" for u in range(N_USERS)})
    assert store.count(settings.users_collection) == N_USERS
    return ids


@dataclass
class Reads:
    """What the reading thread saw: per reply, when, what, the models of its items, whether
    it was degraded and why."""

    replies: list[tuple[float, str, frozenset[str], bool, tuple[str, ...]]] = field(
        default_factory=list
    )
    errors: list[BaseException] = field(default_factory=list)


def read_continuously(
    services: Services, ids: list[str], stop: threading.Event, out: Reads, *, fresh: bool = True
) -> None:
    ranker = services.recommender.ranker
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("similar", lambda: ranker.similar(ids[3], limit=10)),
        ("search", lambda: ranker.search("christmas lights", user_id=None, limit=10)),
        ("for_you", lambda: ranker.for_user("u1", limit=10)),
    ]
    try:
        while not stop.is_set():
            for name, call in calls:
                # Each request in a context of its own, as the API's worker threads run them
                # (fresh), or all in one long-lived context, as a queue poller's thread.
                reply = contextvars.Context().run(call) if fresh else call()
                models = frozenset(str(i.payload.get(MODEL_FIELD)) for i in reply.items)
                out.replies.append(
                    (time.monotonic(), name, models, reply.degraded, tuple(reply.problems))
                )
    except BaseException as exc:  # pragma: no cover - reported by the test
        out.errors.append(exc)


@pytest.fixture(params=["edge", "qdrant"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _fresh_context() -> Iterator[None]:
    forget_model()
    yield
    forget_model()


def test_changing_the_encoder_reembeds_while_serving_and_never_mixes(
    kind: str, tmp_path: Path
) -> None:
    first = Services(settings_for(kind, tmp_path))
    ids = populate(first)
    before = first.recommender.ranker.similar(ids[3], limit=10)
    assert {i.payload[MODEL_FIELD] for i in before.items} == {MINILM}
    first.close()

    # Restarted with the other encoder chosen: the old space keeps serving, no downtime.
    settings = settings_for(kind, tmp_path, encoder_model="multilingual")
    services = Services(settings)
    assert active_model(services.store, settings) == MINILM
    assert services.encoder.model == MINILM  # type: ignore[attr-defined]
    served = services.recommender.ranker.search("christmas lights", user_id=None, limit=10)
    assert served.strategy.startswith("search") and not served.degraded
    assert {i.payload[MODEL_FIELD] for i in served.items} == {MINILM}

    reads, stop = Reads(), threading.Event()
    reader = threading.Thread(target=read_continuously, args=(services, ids, stop, reads))
    progress: list[ReembedProgress] = []
    reader.start()
    try:
        time.sleep(0.5)
        report = reembed(
            store=services.store,
            log=services.event_log,
            settings=settings,
            aggregates=services.aggregates,
            progress=progress.append,
            batch_size=64,
            every_s=0.0,
            grace_s=0.5,
        )
        switched_at = time.monotonic()
        time.sleep(1.0)
    finally:
        stop.set()
        reader.join(timeout=60)
    assert not reads.errors

    assert report.complete and report.switched and (report.source, report.target) == (MINILM, MULTI)
    assert report.products_embedded == N_PRODUCTS
    assert report.profiles_rebuilt == N_USERS
    assert report.products_per_s > 0
    # Progress: counts up to the total, a rate, an ETA while work was left.
    final = {p.phase: p for p in progress}
    assert final["products"].done == final["products"].total == N_PRODUCTS
    assert final["profiles"].done == final["profiles"].total == N_USERS
    assert any(p.eta_s and p.eta_s > 0 for p in progress if p.phase == "products")
    assert all(p.rate > 0 for p in final.values() if p.done)

    # Reads went on during the whole run, each reply from one space, never mixed, never failed.
    assert len(reads.replies) >= 9
    spaces = [models for _, _, models, _, _ in reads.replies if models]
    assert all(len(models) == 1 for models in spaces), [m for m in spaces if len(m) > 1]
    assert not [r for r in reads.replies if r[3]], [r for r in reads.replies if r[3]][:3]
    order = [next(iter(m)) for m in spaces]
    first_new = order.index(MULTI)
    assert first_new > 0 and set(order[:first_new]) == {MINILM}
    assert set(order[first_new:]) == {MULTI}  # once switched, never back
    late = [r for r in reads.replies if r[0] > switched_at and r[2]]
    assert {name for name, *_ in ((r[1],) for r in late)} >= {"similar", "search", "for_you"}

    # After the switch: the new space everywhere, the old one gone.
    assert services.encoder.model == MULTI  # type: ignore[attr-defined]
    ranker = services.recommender.ranker
    for reply in (
        ranker.similar(ids[3], limit=10),
        ranker.search("lumières de noël", user_id=None, limit=10),
        ranker.for_user("u1", limit=10),
    ):
        assert reply.items and not reply.degraded
        assert {i.payload[MODEL_FIELD] for i in reply.items} == {MULTI}
    profile = services.store.retrieve("users", ["u1"], with_vectors=True)[0]
    assert profile.payload[MODEL_FIELD] == MULTI and profile.vectors["long"].shape == (512,)
    assert sorted(services.store.collections()) == [
        physical_name("products", MULTI),
        physical_name("users", MULTI),
    ]
    services.close()


def test_a_busy_thread_reading_across_the_switch_fails_a_read_rather_than_mix(
    tmp_path: Path,
) -> None:
    first = Services(settings_for("edge", tmp_path))
    ids = populate(first)
    first.close()
    settings = settings_for("edge", tmp_path, encoder_model="multilingual")
    services = Services(settings)
    reads, stop = Reads(), threading.Event()
    args = (services, ids, stop, reads)
    reader = threading.Thread(target=read_continuously, args=args, kwargs={"fresh": False})
    reader.start()
    try:
        report = reembed(
            store=services.store, log=services.event_log, settings=settings, grace_s=0.0
        )
        time.sleep(1.0)
    finally:
        stop.set()
        reader.join(timeout=60)
    assert not reads.errors and report.switched
    spaces = [models for _, _, models, _, _ in reads.replies if models]
    assert all(len(models) == 1 for models in spaces)
    order = [next(iter(m)) for m in spaces]
    assert order[0] == MINILM and order[-1] == MULTI
    assert set(order[order.index(MULTI) :]) == {MULTI}
    # The one long-lived context keeps its space up to pin_s, then a read under way when its
    # view moves is refused (degraded, saying why), never answered from two spaces.
    degraded = [r for r in reads.replies if r[3]]
    assert len(degraded) <= 3, degraded
    assert all("spaces" in " ".join(r[4]) for r in degraded), degraded
    services.close()


def test_a_crashed_reembed_is_resumed_by_running_it_again(tmp_path: Path) -> None:
    first = Services(settings_for("edge", tmp_path))
    populate(first)
    first.close()
    settings = settings_for("edge", tmp_path, encoder_model="multilingual")
    services = Services(settings)

    def crash_after_two_batches(p: ReembedProgress) -> None:
        if p.phase == "products" and p.done >= 128:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reembed(
            store=services.store,
            log=services.event_log,
            settings=settings,
            progress=crash_after_two_batches,
            batch_size=64,
            every_s=0.0,
        )
    assert active_model(services.store, settings) == MINILM  # still serving the old space
    assert services.store.count(physical_name("products", MULTI)) == 128

    paused = reembed(
        store=services.store, log=services.event_log, settings=settings, max_seconds=0.0
    )
    assert not paused.complete and not paused.switched

    again = reembed(
        store=services.store,
        log=services.event_log,
        settings=settings,
        batch_size=64,
        grace_s=0.0,
    )
    assert again.complete and again.switched
    assert again.products_embedded == N_PRODUCTS - 128  # the first run's work was kept
    assert active_model(services.store, settings) == MULTI
    assert services.store.count("products") == N_PRODUCTS
    # Nothing left to do: a further run only confirms it.
    done = reembed(store=services.store, log=services.event_log, settings=settings)
    assert done.complete and not done.switched and done.products_embedded == 0
    services.close()
