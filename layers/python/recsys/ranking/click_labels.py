"""Attributed clicks as labels for the learned ranker: the tuner's use of the feedback loop.

Once the log holds ``min_clicks`` attributed clicks (``RECSYS_TUNER_MIN_CLICKS``), every
served list of a replayed window (:class:`~recsys.feedback.labels.Label` s grouped by request
id) with at least one click becomes one more listwise example beside the customers' purchases:
its clicked items are the positives, its items shown but not clicked the negatives, each click
weighted by 1 / θ of its position (:mod:`recsys.feedback.propensity`, estimated on the lists
served before the check window opens), so the model learns what shoppers find attractive, not
which slot they look at first.

Features are what serving would have computed when the list was served (its first
impression): the item-level figures (aggregates, item statistics, other shoppers' profiles) as
of the window's start, which is before every list of the window, and the shopper's own
purchases and profile from their events strictly before that time — no event after the served
time reaches a list's features. The per-request scaling is taken over the whole candidate pool
of that moment, as serving takes it, and only the shown items' rows are kept.

The check window's lists are the held-out clicks: :func:`click_share` says how much of their
(inverse-propensity-weighted) clicks a scorer puts in the top ``k`` of each list's shown items.
The tuner's acceptance is unchanged: a candidate trained with clicks is kept only if it beats
the current configuration on the check window's purchases, as every candidate must.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.feedback.labels import Label
from recsys.feedback.propensity import Propensities, estimate_propensities
from recsys.profiles.maths import DEFAULT_WEIGHTS as EVENT_WEIGHTS
from recsys.profiles.maths import ProfileEvent, build_profile
from recsys.ranking.features import FEATURES, build_pool
from recsys.ranking.learned import LinearRanker, WeightedSum, fit_listwise, scale
from recsys.ranking.replay import Block, Window
from recsys.ranking.types import Budgets, Purchase, UserState

__all__ = ["ClickBlock", "ClickLog", "ClickStep", "click_block", "click_share", "fit_with_clicks"]

DAY = 86400.0
FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ClickLog:
    """The log's shown items (one label per list and product) and how the tuner uses them."""

    labels: Sequence[Label]
    min_clicks: int = 500
    #: clicked lists per window turned into examples (a fixed hash sample above that)
    max_lists: int = 1000
    #: fewer clicked lists than this in the fit window: no candidate is trained on clicks
    min_lists: int = 20
    positions: int = 10
    clip: float = 0.05
    #: the held-out click metric looks at the top ``k`` of each list's shown items
    k: int = 3
    #: the clicked lists together weigh this much of the customers' purchases in the loss
    #: (0.3: on the simulated shops of bench/click_labels.py most of the click-through gain
    #: of 1.0 at a small cost in purchase recall; docs/SELF_TUNING.md)
    weight: float = 0.3


@dataclass
class ClickBlock:
    """Shown items of clicked lists, one block per list, with serve-time features."""

    x: FloatArray
    scaled: FloatArray
    starts: IntArray
    positions: IntArray
    clicked: npt.NDArray[np.bool_]
    gains: npt.NDArray[np.float64]
    request_ids: list[str] = field(default_factory=list)

    @property
    def lists(self) -> int:
        return len(self.starts)

    @property
    def clicks(self) -> int:
        return int(self.clicked.sum())


class OwnerHistory:
    """Each owner's events in time order, read up to a moment."""

    def __init__(self, events: Sequence[ProfileEvent]) -> None:
        self._events: dict[str, list[ProfileEvent]] = defaultdict(list)
        for ev in sorted(events, key=lambda e: e.at):
            if ev.owner:
                self._events[ev.owner].append(ev)
        self._ats = {o: [e.at for e in evs] for o, evs in self._events.items()}

    def before(self, owner: str, at: float) -> list[ProfileEvent]:
        """The owner's events strictly before ``at``."""
        evs = self._events.get(owner, [])
        return evs[: bisect.bisect_left(self._ats.get(owner, []), at)]


def served_lists(labels: Sequence[Label], start: float, end: float) -> list[list[Label]]:
    """The lists first shown in [start, end), each ordered by position, in request-id order."""
    by_list: dict[str, list[Label]] = defaultdict(list)
    for lab in labels:
        by_list[lab.request_id].append(lab)
    out = []
    for rid in sorted(by_list):
        shown = sorted(by_list[rid], key=lambda lab: (lab.position, lab.product_id))
        if start <= min(lab.at for lab in shown) < end:
            out.append(shown)
    return out


def _sample(lists: list[list[Label]], n: int) -> list[list[Label]]:
    ranked = sorted(lists, key=lambda s: hashlib.sha256(s[0].request_id.encode()).hexdigest())
    return sorted(ranked[:n], key=lambda s: s[0].request_id)


def state_at(
    window: Window,
    history: OwnerHistory,
    owner: str,
    at: float,
    *,
    tau_days: float,
    vec_of: dict[str, Any] | None = None,
) -> UserState:
    """The shopper as serving saw them at ``at``: purchases and profile from events before it."""
    items = window.items
    evs = history.before(owner, at)
    if vec_of is None:
        vec_of = {p: items.vectors[i] for p, i in items.index.items()}
    purchases = [
        Purchase(e.product_id, e.at)
        for e in reversed(evs)
        if e.type == "purchase" and e.product_id in items.index
    ]
    dim = int(items.vectors.shape[1]) if items.vectors.ndim == 2 else 1
    long = build_profile(
        evs, vec_of, now=at, tau_seconds=tau_days * DAY, weights=EVENT_WEIGHTS, size=dim
    ).unit()
    return UserState(user_id=owner, long=long, purchases=purchases)


def click_block(
    window: Window,
    history: OwnerHistory,
    lists: Sequence[Sequence[Label]],
    *,
    mode: str,
    propensities: Propensities,
    budgets: Budgets,
    tau_days: float = 30.0,
) -> ClickBlock:
    """Serve-time features of the clicked lists' shown items (lists without a click, or with
    fewer than two items left, carry no listwise signal and are skipped). In mode "new" the
    items the shopper had bought before are left out, as that objective's pools leave them."""
    xs: list[FloatArray] = []
    sc: list[FloatArray] = []
    pos: list[int] = []
    clicked: list[bool] = []
    starts: list[int] = []
    rids: list[str] = []
    n = 0
    vec_of = {p: window.items.vectors[i] for p, i in window.items.index.items()}
    for shown in lists:
        if not any(lab.clicked for lab in shown):
            continue
        at = min(lab.at for lab in shown)
        user = state_at(window, history, shown[0].owner, at, tau_days=tau_days, vec_of=vec_of)
        pool = build_pool(
            user,
            now=at,
            items=window.items,
            users=window.users,
            aggregates=window.aggregates,
            stats=window.stats,
            budgets=budgets,
            buy_again=mode == "repeat",
            include=[lab.product_id for lab in shown],
        )
        row_of = {p: i for i, p in enumerate(pool.ids)}
        kept = [lab for lab in shown if lab.product_id in row_of]
        if len(kept) < 2 or not any(lab.clicked for lab in kept):
            continue
        rows = [row_of[lab.product_id] for lab in kept]
        scaled = scale(pool.x)
        xs.append(pool.x[rows])
        sc.append(scaled[rows])
        pos.extend(lab.position for lab in kept)
        clicked.extend(lab.clicked for lab in kept)
        starts.append(n)
        rids.append(shown[0].request_id)
        n += len(kept)
    width = len(FEATURES)
    x = np.concatenate(xs) if xs else np.zeros((0, width), dtype=np.float32)
    s = np.concatenate(sc) if sc else np.zeros((0, width), dtype=np.float32)
    positions = np.asarray(pos, dtype=np.int64)
    hit = np.asarray(clicked, dtype=bool)
    raw = np.where(hit, propensities.weights(positions.tolist()), 0.0) if n else np.zeros(0)
    st = np.asarray(starts, dtype=np.int64)
    # An average clicked list weighs as much as one customer's purchases in the listwise loss.
    mass = np.add.reduceat(raw, st) if n else np.zeros(0)
    gains = raw / mass.mean() if n and mass.mean() > 0 else raw
    return ClickBlock(x, s, st, positions, hit, gains, rids)


def fit_with_clicks(
    block: Block, clicks: ClickBlock, *, base: WeightedSum, weight: float = 1.0
) -> LinearRanker:
    """The listwise ranker on the customers' purchases (each customer weighing 1) and the
    clicked lists (inverse-propensity weighted), which together weigh ``weight`` × the
    customers (so a store with many more lists than sampled customers is not led by its
    clicks alone; the check window's purchases decide whether the mix is kept)."""
    y = block.labels.astype(np.float64)
    lengths = np.diff(np.append(block.starts, len(block.x)))
    n_pos = np.add.reduceat(y, block.starts) if len(y) else np.zeros(0)
    per_row = np.repeat(np.maximum(n_pos, 1.0), lengths)
    total = float(clicks.gains.sum())
    share = weight * float((n_pos > 0).sum()) / total if total > 0 else 0.0
    gains = np.concatenate([y / per_row, clicks.gains * share])
    x = np.concatenate([block.x, clicks.x])
    scaled = np.concatenate([block.scaled, clicks.scaled])
    starts = np.concatenate([block.starts, clicks.starts + len(block.x)])
    return fit_listwise(x, starts, gains > 0, base=base, scaled=scaled, gains=gains)


def click_share(block: ClickBlock, scores: npt.NDArray[np.floating[Any]], *, k: int) -> float:
    """Share of the lists' inverse-propensity-weighted clicks that ``scores`` put in the top
    ``k`` of each list's shown items (ties broken by the served position)."""
    total = float(block.gains.sum())
    if not block.lists or total <= 0:
        return 0.0
    ends = np.append(block.starts[1:], len(scores))
    got = 0.0
    for a, b in zip(block.starts.tolist(), ends.tolist(), strict=True):
        order = np.lexsort((block.positions[a:b], -np.asarray(scores[a:b], dtype=np.float64)))
        got += float(block.gains[a:b][order[:k]].sum())
    return round(got / total, 4)


class ClickStep:
    """What the tuner does with the click log in one run: decide whether labels are used (and
    say why not), estimate the propensities, build the windows' click blocks, train the
    candidate and measure the held-out clicks."""

    def __init__(
        self,
        log: ClickLog | None,
        events: Sequence[ProfileEvent],
        *,
        as_of: float,
        check_cut: float,
        tau_days: float,
    ) -> None:
        self.log = log
        self.tau_days = tau_days
        self.propensities: Propensities | None = None
        self.report: dict[str, Any] = {"used": False}
        labels = [lab for lab in log.labels if lab.at < as_of] if log else []
        n_clicks = sum(lab.clicked for lab in labels)
        self.report["clicks"] = n_clicks
        if log is None:
            self.report["reason"] = "no click log was read"
            return
        self.report["min_clicks"] = log.min_clicks
        if n_clicks < log.min_clicks:
            self.report["reason"] = (
                f"{n_clicks} attributed clicks, fewer than the {log.min_clicks} needed"
            )
            return
        # Propensities from what was served before the check window: nothing it holds out.
        self.propensities = estimate_propensities(
            [lab for lab in labels if lab.at < check_cut], positions=log.positions, clip=log.clip
        )
        self.report.update(propensity=self.propensities.to_json(), fit={}, check={})
        self.labels = labels
        self.history = OwnerHistory(events)

    @property
    def used(self) -> bool:
        """Enough clicks: candidates are trained on them (where a window has enough lists)."""
        return self.propensities is not None

    def finish(self, cold_reason: str | None = None) -> dict[str, Any]:
        """The report: whether labels were used, how many, the propensities, or why not."""
        if cold_reason is not None and self.used:
            self.report["reason"] = f"the store is cold ({cold_reason})"
        elif self.used:
            fit = self.report.get("fit", {})
            trained = [m for m, f in fit.items() if "reason" not in f]
            self.report["used"] = bool(trained)
            self.report["labels"] = sum(fit[m]["clicks"] for m in trained)
            if not trained:
                self.report["reason"] = "too few clicked lists in the fit window"
        return self.report

    def describe(self) -> str:
        """One line for the tuner's log."""
        r = self.report
        if not r.get("used"):
            return f"click labels not used: {r.get('reason')}"
        prop = r["propensity"]
        values = ", ".join(f"{v:.2f}" for v in prop["values"])
        lists = {m: f["lists"] for m, f in r["fit"].items()}
        return (
            f"click labels used: {r['labels']} clicks of {lists} fit-window lists "
            f"({r['clicks']} in the log); propensities by position ({prop['method']}): {values}"
        )

    def block(self, window: Window, mode: str, budgets: Budgets) -> ClickBlock:
        assert self.log is not None and self.propensities is not None
        lists = [
            s
            for s in served_lists(self.labels, window.cut, window.end)
            if any(lab.clicked for lab in s)
        ]
        return click_block(
            window,
            self.history,
            _sample(lists, self.log.max_lists),
            mode=mode,
            propensities=self.propensities,
            budgets=budgets,
            tau_days=self.tau_days,
        )

    def candidate(
        self, window: Window, block: Block, mode: str, *, base: WeightedSum, budgets: Budgets
    ) -> LinearRanker | None:
        """The listwise ranker trained on the fit window's purchases and clicks (None, with the
        reason in the report, when the window has too few clicked lists)."""
        if not self.used or self.log is None:
            return None
        clicks = self.block(window, mode, budgets)
        self.report["fit"][mode] = {"lists": clicks.lists, "clicks": clicks.clicks}
        if clicks.lists < self.log.min_lists:
            self.report["fit"][mode]["reason"] = (
                f"{clicks.lists} clicked lists in the fit window, fewer than {self.log.min_lists}"
            )
            return None
        return fit_with_clicks(block, clicks, base=base, weight=self.log.weight)

    def check(
        self, window: Window, mode: str, scorers: dict[str, Any], budgets: Budgets
    ) -> dict[str, Any]:
        """Held-out clicks: each scorer's :func:`click_share` on the check window's lists, and
        the share of the order as served."""
        if not self.used or self.log is None:
            return {}
        clicks = self.block(window, mode, budgets)
        k = self.log.k
        out: dict[str, Any] = {"lists": clicks.lists, "clicks": clicks.clicks, "k": k}
        if clicks.lists:
            out["served"] = click_share(clicks, -clicks.positions.astype(np.float64), k=k)
            for name, scorer in scorers.items():
                scores = scorer.score(clicks.x, clicks.starts, clicks.scaled)
                out[name] = click_share(clicks, scores, k=k)
        self.report["check"][mode] = out
        return out
