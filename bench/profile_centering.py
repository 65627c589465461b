"""Does subtracting the catalog's mean item vector make long-term profiles better neighbours?

    .venv/bin/python -m bench.profile_centering

Pure and offline (no AWS, no store): Online Retail customers' long-term profiles from their
events before 2011-11-01, the 10 products nearest to each profile by cosine, and whether any of
them was bought after the split (repeats included). Writes the "profile-centering" section.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench._report import machine_line, write_section

RETAIL = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "online_retail"
    / ("online_retail.csv.gz")
)


def main() -> None:
    from recsys.catalog.text import product_text
    from recsys.core.config import Settings
    from recsys.datasets.online_retail import load_catalog
    from recsys.datasets.retail_events import read_retail_events
    from recsys.encoder import get_encoder
    from recsys.profiles.maths import ProfileEvent, build_profile

    started = time.perf_counter()
    catalog = load_catalog(RETAIL)
    ids = [p["product_id"] for p in catalog]
    index = {p: i for i, p in enumerate(ids)}
    titles = {p["product_id"]: p["title"] for p in catalog}
    items = get_encoder(Settings()).encode([product_text(p) for p in catalog])
    split = datetime(2011, 11, 1, tzinfo=UTC).timestamp()
    train: dict[str, list[ProfileEvent]] = defaultdict(list)
    test: dict[str, set[str]] = defaultdict(set)
    for ev in read_retail_events(RETAIL):
        user = ev.get("user_id")
        if not user or ev["product_id"] not in index:
            continue
        if ev["timestamp"] < split:
            train[user].append(ProfileEvent(ev["type"], ev["timestamp"], ev["product_id"]))
        elif ev["type"] == "purchase":
            test[user].add(ev["product_id"])
    users = sorted(u for u in test if u in train)
    rows = []
    for name, basis in (
        ("raw item vectors", items),
        ("catalog mean subtracted", items - items.mean(0)),
    ):
        vectors = {p: basis[i] for i, p in enumerate(ids)}
        hits, n, hub = 0, 0, Counter[str]()
        for user in users:
            acc = build_profile(
                train[user], vectors, now=max(e.at for e in train[user]), tau_seconds=30 * 86400.0
            )
            unit = acc.unit()
            if unit is None:
                continue
            top = np.argsort(-(items @ unit))[:10]
            n += 1
            hits += bool({ids[i] for i in top} & test[user])
            hub.update(ids[i] for i in top[:5])
        ((pid, count),) = hub.most_common(1)
        rows.append(f"| {name} | {n:,} | {hits / n:.3f} | {titles[pid]} ({count / n:.0%}) |")
    write_section(
        "profile-centering",
        f"""## Profiles: subtracting the catalog mean vector

{machine_line()} · `python -m bench.profile_centering` · {time.perf_counter() - started:.0f} s

Long-term profiles (τ 30 days) of Online Retail customers from their events before
2011-11-01; the 10 products nearest to the profile (cosine against the raw product vectors);
hit = any of them bought after the split (repeat purchases count). The last column is the
product found most often among customers' nearest five.

| profile built from | customers | hit@10 | most frequent nearest item |
|---|---|---|---|
{chr(10).join(rows)}

A sum of many item vectors drifts towards what all items share, so generic "hub" products end
up nearest to everyone; subtracting the catalog mean before summing removes that. It is off by
default (`RECSYS_PROFILE_CENTER_ITEMS=true` turns it on; the nightly job stores the mean in
the aggregates) so that the ranking weights, tuned on raw profiles, are re-tuned with it.
""",
    )


if __name__ == "__main__":
    main()
