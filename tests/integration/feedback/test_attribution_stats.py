"""Attribution and /stats figures against counts computed independently from the raw events,
on the real event log and stats table (moto, built from template.yaml).

The independent count below is a plain loop over the raw events: the list each event names,
else — for a sale — the latest click by the same user or session on that product within the
window. It shares no code with recsys.feedback.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from recsys.core.config import Settings
from recsys.events.intake import log_events
from recsys.events.log import EventLog
from recsys.feedback.experiments import Experiment
from recsys.feedback.serving import Feedback
from recsys.feedback.store import StatsStore, open_stats_store
from recsys.local.provision import Provisioned

pytestmark = pytest.mark.integration

WINDOW_S = 3600.0
STRATEGIES = ("personalized", "similar", "trending")
EXPERIMENT = {"name": "t", "variants": {"a": {"share": 0.5}, "b": {"share": 0.5}}}


@pytest.fixture(params=["dynamodb", "sqlite"])
def feedback(
    request: pytest.FixtureRequest,
    aws_stack: tuple[Settings, Provisioned],
    tmp_path: Path,
) -> Iterator[tuple[Feedback, EventLog, Settings]]:
    """The stats kept by each backend: the template's table, or the embedded file."""
    base, prov = aws_stack
    settings = base.model_copy(
        update={
            "stats_table": prov.tables["StatsTable"],
            "stats_backend": request.param,
            "stats_sqlite_path": tmp_path / "stats" / "stats.sqlite3",
            "attribution_window_s": WINDOW_S,
            "stats_shards": 3,
        }
    )
    store = open_stats_store(settings)
    assert store is not None and store.backend == request.param
    if isinstance(store, StatsStore):
        # The emulator applies UpdateItem ADD as a read-modify-write, so concurrent ADDs to one
        # counter item can lose one (DynamoDB's ADD is atomic); this test is about the counts,
        # so its writes go through one thread.
        store.close()
        store = StatsStore(settings, threads=1)
    fb = Feedback(settings, experiment=Experiment.parse(EXPERIMENT), store=store)
    log = EventLog(settings)
    try:
        yield fb, log, settings
    finally:
        log.close()
        fb.close()


def _deliver(fb: Feedback, log: EventLog, settings: Settings, events: list[dict[str, Any]]) -> int:
    """POST /events as the route does it: log, then attribute only what the log wrote."""
    result = log_events(events, log=log, queue=None, settings=settings)
    fb.attribute(result.written)
    return result.accepted


def _traffic(
    fb: Feedback, rng: random.Random, now: float
) -> tuple[list[dict[str, Any]], dict[str, tuple[str, str, str, bool]]]:
    """Lists served to 30 shoppers and what they did with them (raw events, times given)."""
    lists: dict[str, tuple[str, str, str, bool]] = {}  # rid -> strategy, variant, subject, cold
    events: list[dict[str, Any]] = []
    products = [f"P{i}" for i in range(60)]
    for u in range(30):
        user = f"user{u}"
        session = f"sess{u}"
        t = now - 3 * 3600 + u * 60
        for _ in range(rng.randint(1, 4)):
            rid = uuid.uuid4().hex
            strategy = rng.choice(STRATEGIES)
            variant = fb.variant(user)
            cold = strategy == "trending" and rng.random() < 0.5
            fb.served(
                request_id=rid,
                endpoint="test",
                strategy=strategy,
                variant=variant,
                subject=user,
                items=5,
                cold=cold,
            )
            lists[rid] = (strategy, variant, user, cold)
            shown = rng.sample(products, 5)
            owner = {"user_id": user} if rng.random() < 0.7 else {"session_id": session}
            for pos, pid in enumerate(shown):
                t += 1
                ctx = {"request_id": rid, "position": pos}
                events.append(
                    {
                        "type": "impression",
                        "product_id": pid,
                        "timestamp": t,
                        "context": ctx,
                        **owner,
                    }
                )
                if rng.random() < 0.35:
                    t += 2
                    events.append(
                        {
                            "type": "click",
                            "product_id": pid,
                            "timestamp": t,
                            "context": ctx,
                            **owner,
                        }
                    )
                    r = rng.random()
                    later = t + (rng.choice([60, 600, 2 * WINDOW_S]))  # some outside the window
                    buyer = {"user_id": user, "session_id": session}  # after a login
                    sale = {
                        "product_id": pid,
                        "timestamp": later,
                        "price": rng.choice([0.85, 1.25, 2.55, 12.75]),
                        "quantity": rng.randint(1, 12),
                        **buyer,
                    }
                    if r < 0.3:
                        events.append({"type": "add_to_cart", **sale, "context": ctx})
                        events.append(
                            {"type": "purchase", **sale, "context": ctx, "order_id": f"o{u}-{pos}"}
                        )
                    elif r < 0.7:
                        events.append({"type": "purchase", **sale, "order_id": f"w{u}-{pos}"})
        # noise: a purchase never clicked, a click naming a list nobody served, a view
        events.append(
            {
                "type": "purchase",
                "user_id": user,
                "product_id": "P59",
                "timestamp": t + 5,
                "price": 3.0,
            }
        )
        events.append(
            {
                "type": "click",
                "user_id": user,
                "product_id": "P1",
                "timestamp": t + 6,
                "context": {"request_id": "no-such-list", "position": 0},
            }
        )
        events.append({"type": "view", "user_id": user, "product_id": "P2", "timestamp": t + 7})
    for i, ev in enumerate(events):
        ev["event_id"] = f"ev-{i}"
    # the lists are logged before the storefront reports on them (the emulator may be slow on a
    # busy machine: wait for the writes however long they take, this test is about the counts)
    fb.flush(timeout_s=120)
    return events, lists


def _expected(events: list[dict[str, Any]], lists: dict[str, tuple[str, str, str, bool]]) -> dict:
    """Counts per (strategy, variant) computed straight from the raw events."""
    out: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {
            "impressions": 0,
            "clicks": 0,
            "add_to_carts": 0,
            "conversions": 0,
            "revenue": Decimal(0),
            "shown": set(),
        }
    )
    unique = {ev["event_id"]: ev for ev in events}.values()
    clicks = [e for e in unique if e["type"] == "click"]

    def owners(e: dict[str, Any]) -> set[str]:
        return {f"u{e['user_id']}" for _ in [0] if e.get("user_id")} | {
            f"s{e['session_id']}" for _ in [0] if e.get("session_id")
        }

    for e in unique:
        if e["type"] not in ("impression", "click", "add_to_cart", "purchase"):
            continue
        rid = (e.get("context") or {}).get("request_id")
        if rid is None and e["type"] in ("add_to_cart", "purchase"):
            cands = [
                c
                for c in clicks
                if c["product_id"] == e["product_id"]
                and owners(c) & owners(e)
                and c["timestamp"] <= e["timestamp"] <= c["timestamp"] + WINDOW_S
            ]
            if cands:
                rid = max(cands, key=lambda c: c["timestamp"])["context"]["request_id"]
        if rid is None:
            continue
        strategy, variant = lists[rid][:2] if rid in lists else ("(unknown)", "(unknown)")
        row = out[(strategy, variant)]
        key = {
            "impression": "impressions",
            "click": "clicks",
            "add_to_cart": "add_to_carts",
            "purchase": "conversions",
        }[e["type"]]
        row[key] += 1
        if e["type"] == "purchase":
            row["revenue"] += Decimal(repr(e["price"])) * e.get("quantity", 1)
        if e["type"] == "impression" and rid in lists:
            row["shown"].add(e["product_id"])
    return out


def test_stats_equal_independent_counts_under_duplicate_deliveries(
    feedback: tuple[Feedback, EventLog, Settings],
) -> None:
    # GIVEN lists served to 30 shoppers and their events, each delivered once or more
    fb, log, settings = feedback
    rng = random.Random(14)
    now = time.time()
    events, lists = _traffic(fb, rng, now)
    # (the storefront sends events as they happen; a retry resends a batch later, and
    # redeliveries also come in the middle of other batches)
    events.sort(key=lambda e: e["timestamp"])
    deliveries = list(events)
    for ev in rng.sample(events, len(events) // 2):  # half come twice
        at = deliveries.index(ev)  # a retry comes after the first delivery
        deliveries.insert(rng.randint(at + 1, len(deliveries)), ev)
    # WHEN they arrive in batches of up to 50
    accepted = 0
    for i in range(0, len(deliveries), 50):
        accepted += _deliver(fb, log, settings, deliveries[i : i + 50])
    # ... and one whole batch is retried after a "timeout"
    accepted += _deliver(fb, log, settings, deliveries[:50])
    assert accepted == len(events)

    # THEN /stats says exactly what the raw events say
    report = fb.report(days=2, catalog_products=60, now=now)
    expected = _expected(events, lists)
    by_variant: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for (strategy, variant), row in expected.items():
        if strategy == "(unknown)":
            assert report["unattributed"]["clicks"] == row["clicks"] == 30
            continue
        got = report["strategies"][strategy]
        for name in ("impressions", "clicks", "add_to_carts", "conversions"):
            by_variant[variant][name] += row[name]
        by_variant[variant]["revenue"] += row["revenue"]
        by_variant[variant].setdefault("shown", set()).update(row["shown"])
    for strategy in STRATEGIES:
        rows = [r for (s, _v), r in expected.items() if s == strategy]
        got = report["strategies"][strategy]
        for name in ("impressions", "clicks", "add_to_carts", "conversions"):
            assert got[name] == sum(r[name] for r in rows), (strategy, name)
        assert got["revenue"] == float(round(sum(r["revenue"] for r in rows), 2))
        assert got["lists"] == sum(1 for s, *_ in lists.values() if s == strategy)
        assert got["ctr"] == pytest.approx(got["clicks"] / got["impressions"])
    for variant, row in by_variant.items():
        got = report["variants"][variant]
        for name in ("impressions", "clicks", "add_to_carts", "conversions"):
            assert got[name] == row[name], (variant, name)
        assert got["users"] == len({u for _s, v, u, _c in lists.values() if v == variant})
        assert got["shown_products"] == len(row["shown"])
    shown = set().union(*(r["shown"] for (s, _), r in expected.items() if s != "(unknown)"))
    assert report["coverage"]["shown_products"] == len(shown)
    assert report["coverage"]["coverage"] == pytest.approx(len(shown) / 60)
    cold = sum(1 for *_, c in lists.values() if c)
    assert report["cold_start"]["lists"] == cold
    assert report["totals"]["lists"] == len(lists)
    assert report["totals"]["conversions"] > 10  # the window rule is exercised, not vacuous
    assert set(report["experiment"]["comparisons"]) == {"b"}


def test_a_sale_without_request_id_counts_for_the_clicked_list_only_inside_the_window(
    feedback: tuple[Feedback, EventLog, Settings],
) -> None:
    fb, log, settings = feedback
    now = time.time()
    rid = uuid.uuid4().hex
    fb.served(
        request_id=rid, endpoint="test", strategy="similar", variant="a", subject="u1", items=3
    )
    fb.flush(timeout_s=120)
    click = {
        "type": "click",
        "session_id": "s1",
        "product_id": "X",
        "timestamp": now - 7200,
        "context": {"request_id": rid, "position": 2},
    }
    _deliver(fb, log, settings, [click])
    # bought by the same session once the shopper logged in: inside, then outside the window
    inside = {
        "type": "purchase",
        "user_id": "u1",
        "session_id": "s1",
        "product_id": "X",
        "timestamp": now - 7200 + 1800,
        "price": 2.5,
        "quantity": 4,
    }
    outside = {**inside, "timestamp": now - 7200 + WINDOW_S + 1, "order_id": "late"}
    other = {**inside, "user_id": "u2", "session_id": "s2", "order_id": "someone else"}
    _deliver(fb, log, settings, [inside, outside, other])
    _deliver(fb, log, settings, [inside])  # redelivered: still one sale
    # Two UTC days: the click (2 h ago) is in yesterday's bucket when this runs before 02:00.
    got = fb.report(days=2, catalog_products=None, now=now)["strategies"]["similar"]
    assert (got["clicks"], got["conversions"], got["revenue"]) == (1, 1, 10.0)
