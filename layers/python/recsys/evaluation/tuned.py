"""The evaluation rows "self-tuned" and "learned ranker": the store's tuner, run before the split.

Both rows come from one run of :func:`recsys.ranking.tuner.tune` on the training events only,
as of the split — exactly what the nightly job would have fitted that night: its fit and check
windows lie inside the training period, so nothing at or after the split is seen. Each scored
customer is then served by :func:`recsys.ranking.fitted.rank_fitted` with the aggregates,
profiles and purchase histories computed at the split (the inputs of the "recsys" row) and item
statistics from the training events.

- *self-tuned*: the weighted sum the tuner fitted (weights, columns, category cap), when the
  tuner accepted it (it beat the fixed defaults over both folds); otherwise the defaults;
- *learned ranker*: the listwise ranker it fitted (as served: fitted again on the latest two
  windows; of its two input sets, the one kept, else the accepted one with the larger gain),
  when the tuner accepted it; otherwise the defaults.

The configuration the store would actually serve is the better of the two on the check window
(``report["modes"][mode]["chosen"]``); the report (:func:`tuned_report`) gives it per protocol.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from recsys.evaluation.harness import (
    Model,
    Prepared,
    Recommender,
    SystemRecommender,
    register,
)
from recsys.ranking.config import RankingConfig
from recsys.ranking.fitted import FittedRanking, ModeFit, candidate, rank_fitted
from recsys.ranking.item_stats import ItemStats, compute_item_stats
from recsys.ranking.tuner import Catalog, TuneOptions, tune
from recsys.ranking.types import Scored, UserState

#: row → the tuner's candidate it serves
ROWS = {"self_tuned": "weighted_sum", "learned": "learned"}
MODE_OF = {False: "repeat", True: "new"}


def fitted_on_train(prep: Prepared, options: TuneOptions | None = None) -> FittedRanking:
    """The tuner's result on ``prep``'s training events (computed once per prepared split)."""
    hit = prep.cache.get("tuned")
    if isinstance(hit, FittedRanking):
        return hit
    t0 = time.perf_counter()
    fitted = tune(
        prep.data.train,
        Catalog(prep.ids, prep.vectors, prep.payloads),
        as_of=prep.data.split,
        options=options,
    )
    prep.timings["tune_s"] = time.perf_counter() - t0
    prep.cache["tuned"] = fitted
    return fitted


def _stats(prep: Prepared) -> ItemStats:
    hit = prep.cache.get("item_stats")
    if isinstance(hit, ItemStats):
        return hit
    stats = compute_item_stats(prep.data.train, now=prep.data.split, payloads=prep.payloads)
    prep.cache["item_stats"] = stats
    return stats


class TunedRecommender(SystemRecommender):
    """Lists from one of the tuner's candidates per protocol (the defaults where it lost)."""

    def __init__(self, prep: Prepared, config: RankingConfig, *, row: str) -> None:
        super().__init__(prep, config)
        self.row = row
        self.fitted = fitted_on_train(prep)
        self.stats = _stats(prep)

    def fit_for(self, exclude_bought: bool) -> ModeFit | None:
        """The candidate this row serves under the protocol, None when it lost to the defaults."""
        mode = MODE_OF[exclude_bought]
        entry = self.fitted.report.get("modes", {}).get(mode, {})
        check = entry.get("check", {})
        name = ROWS[self.row]
        if name == "learned":
            name = learned_variant(entry)
        if name not in check or "current" not in check:
            return None
        # The tuner's own acceptance test: beat the current configuration by ``min_gain``
        # (over both folds where the report has them).
        if "accepted" in entry:
            if name not in entry["accepted"]:
                return None
        elif check[name]["recall"] <= check["current"]["recall"] * (1.0 + TuneOptions().min_gain):
            return None
        return candidate(self.fitted, mode, name)

    def recommend(
        self, users: Sequence[str], *, k: int, exclude_bought: bool
    ) -> dict[str, list[str]]:
        fit = self.fit_for(exclude_bought)
        if fit is None:
            return super().recommend(users, k=k, exclude_bought=exclude_bought)

        def rank(state: UserState, *, k: int, config: RankingConfig) -> list[Scored]:
            return rank_fitted(
                state,
                now=self.prep.data.split,
                limit=k,
                items=self.items,
                users=self.users,
                aggregates=self.prep.aggregates,
                fit=fit,
                stats=self.stats,
                buy_again=config.buy_again,
            )

        return self._recommend_with(users, k=k, exclude_bought=exclude_bought, rank=rank)


def learned_variant(entry: dict[str, Any]) -> str:
    """Which learned ranker the "learned ranker" row serves: the kept one, else the accepted
    one with the larger gain, else "learned" (the base input set)."""
    names = [n for n in entry.get("check", {}) if n.startswith("learned") and n != "learned_clicks"]
    if entry.get("chosen") in names:
        return str(entry["chosen"])
    gain = entry.get("gain", {})
    accepted = [n for n in names if n in entry.get("accepted", [])]
    return max(accepted, key=lambda n: gain.get(n, 0.0)) if accepted else "learned"


def _fit(row: str) -> Any:
    def fit(prep: Prepared, config: RankingConfig) -> Recommender:
        return TunedRecommender(prep, config, row=row)

    return fit


def tuned_report(prep: Prepared) -> dict[str, Any]:
    """What the tuner chose on this split and why (for the evaluation report)."""
    fitted = prep.cache.get("tuned")
    if not isinstance(fitted, FittedRanking):
        return {}
    return {"version": fitted.version, "status": fitted.status, **fitted.report}


register(Model("self_tuned", "self-tuned", _fit("self_tuned")))
register(Model("learned", "learned ranker", _fit("learned")))
