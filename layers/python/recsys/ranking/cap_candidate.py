"""The candidate "learned_cap": the purchase-neighbour ranker with a cap on bestsellers
(:mod:`recsys.ranking.bestseller_cap`), the cap fitted on the ranker's own training windows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from recsys.ranking.bestseller_cap import cap_bestsellers
from recsys.ranking.features import INDEX
from recsys.ranking.fitted import ModeFit
from recsys.ranking.learned import LinearRanker
from recsys.ranking.replay import Block, measure

__all__ = ["CAP", "CAP_MODES", "GRID", "capped_candidate", "fit_cap"]

#: The candidate's name, the ranker it caps, and the objectives it is formed for: none by
#: default. Measured in *new* (docs/SELF_TUNING.md): kept on Instacart (+0.6 % on the test) and
#: on the grocery-like variant, where it lost 1.8 % on the test; not kept on Ta-Feng.
CAP = "learned_cap"
SOURCE = "learned_knn"
CAP_MODES: tuple[str, ...] = ()
#: (top_n, cap) pairs tried on the training windows.
GRID: tuple[tuple[int, int], ...] = tuple((n, c) for n in (20, 50, 100) for c in (3, 5, 7))
#: A cap is kept only when it raises the training windows' Recall@10 by this share.
MIN_GAIN = 0.005


def fit_cap(scorer: LinearRanker, block: Block, *, k: int = 10) -> tuple[int, int]:
    """The (top_n, cap) of :data:`GRID` with the best Recall@k on ``block`` (the windows the
    ranker was fitted on), or (0, 0) when none beats no cap by :data:`MIN_GAIN`."""
    raw = scorer.score(block.x, block.starts, block.scaled)
    pop = block.x[:, INDEX["pop_rank"]]
    best, best_v = (0, 0), measure(block, raw, k=k)["recall"] * (1.0 + MIN_GAIN)
    for top_n, cap in GRID:
        v = measure(block, cap_bestsellers(raw, pop, block.starts, top_n, cap), k=k)["recall"]
        if v > best_v + 1e-9:
            best, best_v = (top_n, cap), v
    return best


def capped_candidate(
    fits: Mapping[str, ModeFit], block: Block, mode: str, *, refit: bool = False
) -> dict[str, ModeFit]:
    """{CAP: the :data:`SOURCE` ranker with the cap fitted on ``block``} in :data:`CAP_MODES`.
    Nothing when the source is missing or, unless ``refit`` (the served version of a
    candidate already judged: then the plain ranker), no cap helps on ``block``."""
    fit = fits.get(SOURCE)
    if mode not in CAP_MODES or fit is None or not isinstance(fit.scorer, LinearRanker):
        return {}
    plain = replace(fit.scorer, top_n=0, cap=0)
    top_n, cap = fit_cap(plain, block)
    if top_n == 0 and not refit:
        return {}
    return {CAP: replace(fit, scorer=replace(plain, top_n=top_n, cap=cap), chosen=CAP)}
