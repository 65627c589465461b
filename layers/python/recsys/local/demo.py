"""``recsys up --demo``: load the UCI Online Retail shop into the running local stack.

Everything goes the way a storefront's data would: the catalog through ``POST /products``
(ingest → embed queue → embed), the history through ``POST /events`` (event log → profile
queue → update-profile), then the nightly job, then a few real customers' recommendations read
back over HTTP. By default only the last ``demo_history_days`` (7: about 21,600 events from 546
customers, a few minutes) are replayed — the whole year (516,000 events) with ``--full-history``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx

from recsys.core.config import Settings
from recsys.core.errors import DemoError


class DemoStack(Protocol):
    """What the demo needs of a running stack (:class:`recsys.local.runtime.LocalRuntime`)."""

    @property
    def url(self) -> str: ...
    @property
    def data_dir(self) -> Path: ...
    @property
    def settings(self) -> Settings: ...
    def wait_idle(self, timeout_s: float) -> bool: ...
    def queue_depths(self) -> dict[str, dict[str, int]]: ...
    def processed(self) -> dict[str, int]: ...


class _Progress:
    """A one-line progress display (tqdm when installed, plain prints otherwise)."""

    def __init__(self, total: int, desc: str) -> None:
        try:
            from tqdm import tqdm

            self._bar: Any = tqdm(total=total, desc=desc, unit=" rows", leave=True)
        except ImportError:  # pragma: no cover - tqdm is in the local extra
            self._bar = None
            print(f"{desc}: {total} rows ...")

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _chunks(rows: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _post_all(
    http: httpx.Client,
    path: str,
    key: str,
    rows: Sequence[dict[str, Any]],
    *,
    chunk: int,
    desc: str,
    stop: threading.Event,
) -> Counter[str]:
    totals: Counter[str] = Counter()
    bar = _Progress(len(rows), desc)
    try:
        for part in _chunks(rows, chunk):
            if stop.is_set():
                break
            reply = http.post(path, json={key: list(part)})
            if reply.status_code != 202:
                raise DemoError(f"POST {path} answered {reply.status_code}: {reply.text[:300]}")
            body = reply.json()
            for field in ("accepted", "unchanged", "duplicates"):
                totals[field] += int(body.get(field, 0))
            totals["rejected"] += len(body.get("rejected", []))
            bar.update(len(part))
    finally:
        bar.close()
    return totals


def _drain(stack: DemoStack, what: str, stop: threading.Event, timeout_s: float = 3600) -> None:
    """Wait for the queues to empty, showing what the pollers have done."""
    start = time.monotonic()
    last = ""
    while not stop.is_set() and time.monotonic() - start < timeout_s:
        if stack.wait_idle(2.0):
            print(f"  {what}: queues drained in {time.monotonic() - start:.0f} s")
            return
        done = ", ".join(f"{name} {n}" for name, n in stack.processed().items())
        depth = sum(q["visible"] + q["in_flight"] for q in stack.queue_depths().values())
        line = f"  {what}: {depth} messages queued; processed so far: {done}"
        if line != last:
            print(line, flush=True)
            last = line
    if not stop.is_set():
        print(f"  {what}: queues still busy after {timeout_s:.0f} s; going on")


def _show(http: httpx.Client, path: str, params: dict[str, Any] | None = None) -> list[str]:
    reply = http.get(path, params=params)
    if reply.status_code != 200:
        return [f"    GET {path} → {reply.status_code} {reply.text[:200]}"]
    body = reply.json()
    lines = [f"  GET {reply.request.url.raw_path.decode()}  (strategy: {body.get('strategy')})"]
    for item in body.get("items", [])[:5]:
        price = item.get("price")
        lines.append(
            f"    {item.get('product_id'):>8}  {str(item.get('title'))[:44]:<44} "
            f"{'' if price is None else f'£{price:.2f}':>8}  {item.get('reason', '')}"
        )
    return lines


def _events(path: Path, *, full_history: bool, days: float) -> list[dict[str, Any]]:
    from recsys.datasets.retail_events import read_retail_events

    events = list(read_retail_events(path))
    if not full_history and events:
        cutoff = max(e["timestamp"] for e in events) - days * 86_400
        events = [e for e in events if e["timestamp"] >= cutoff]
    return events


def _load(
    stack: DemoStack,
    http: httpx.Client,
    path: Path,
    events: list[dict[str, Any]],
    *,
    stop: threading.Event,
) -> None:
    """Catalog, history and the nightly job, all through the API and the queues."""
    from recsys.datasets.online_retail import load_catalog

    settings = stack.settings
    print(f"reading the catalog from {path} ...")
    totals = _post_all(
        http,
        "/products",
        "products",
        load_catalog(path),
        chunk=settings.max_post_products,
        desc="POST /products",
        stop=stop,
    )
    print(f"  catalog: {dict(totals)}")
    _drain(stack, "embedding", stop)
    print(f"replaying {len(events)} events of the purchase history (--full-history: all) ...")
    totals = _post_all(
        http,
        "/events",
        "events",
        events,
        chunk=settings.events_max_batch,
        desc="POST /events",
        stop=stop,
    )
    print(f"  events: {dict(totals)}")
    _drain(stack, "profiles", stop)
    if stop.is_set():
        return
    print("running the nightly job (POST /_local/refresh) ...")
    reply = http.post("/_local/refresh", json={})
    print(f"  {reply.status_code}: {reply.text[:300]}")
    # Not drained: the job queues rebuilds of every profile it finds stale (with 2011 data,
    # all of them), and they take minutes; the profiles are already current from the replay.
    queued = stack.queue_depths().get("ProfileQueue", {}).get("visible", 0)
    if queued:
        print(f"  {queued} profile rebuilds queued by the job continue in the background")


def run_demo(stack: DemoStack, *, full_history: bool, stop: threading.Event) -> None:
    """Load the Online Retail catalog and history through the API, refresh, show results."""
    settings = stack.settings
    path = settings.demo_data
    if not path.is_file():
        raise DemoError(
            f"demo data {path} not found; set RECSYS_DEMO_DATA to the Online Retail csv(.gz)"
        )
    http = httpx.Client(base_url=stack.url, timeout=600)
    t0 = time.monotonic()
    scope = "all" if full_history else f"{settings.demo_history_days:g}d"
    marker = stack.data_dir / "demo-loaded.json"
    loaded = json.loads(marker.read_text()) if marker.is_file() else {}
    events = _events(path, full_history=full_history, days=settings.demo_history_days)
    if loaded.get("scope") == scope:
        print(
            f"demo data already loaded into {stack.data_dir} ({loaded.get('events')} events); "
            f"delete {marker.name} there to load it again"
        )
    else:
        _load(stack, http, path, events, stop=stop)
        if stop.is_set():
            return
        marker.write_text(json.dumps({"scope": scope, "events": len(events)}))

    buyers = Counter(e["user_id"] for e in events if "user_id" in e)
    customers = [u for u, _ in buyers.most_common(3)]
    top_product = Counter(e["product_id"] for e in events).most_common(1)
    lines = ["", f"demo loaded in {time.monotonic() - t0:.0f} s. Some answers:"]
    for user in customers:
        lines += _show(http, f"/users/{user}/recommendations", {"limit": 5})
    if customers:
        lines += _show(http, f"/users/{customers[0]}/buy-again", {"limit": 5})
    if top_product:
        pid = top_product[0][0]
        lines += _show(http, f"/products/{pid}/similar", {"limit": 5})
        lines += _show(http, f"/products/{pid}/bought-together", {"limit": 5})
    lines += _show(http, "/trending", {"limit": 5})
    lines += _show(http, "/search", {"q": "christmas lights", "limit": 5})
    user = customers[0] if customers else "12347"
    pid = top_product[0][0] if top_product else "85123A"
    lines += [
        "",
        "Try:",
        f"  {stack.url}/docs                                  (OpenAPI, every route)",
        f"  {stack.url}/users/{user}/recommendations?limit=10",
        f"  {stack.url}/users/{user}/buy-again?limit=10",
        f"  {stack.url}/products/{pid}/similar?limit=10",
        f"  {stack.url}/search?q=red+retrospot+bag&user_id={user}",
        f"  {stack.url}/trending?category=Home",
        f"  {stack.url}/_local/status                         (queues, pollers, DLQs)",
    ]
    print("\n".join(lines))
