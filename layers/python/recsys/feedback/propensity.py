"""Position bias of a store's attributed clicks: how much more often a shopper looks at (and so
can click) the first slot of a list than the k-th, estimated from the log itself.

Position-based click model: P(click | item i shown to u at position k) = θ_k · r(u, i), where
θ_k is the chance the slot is examined and r the item's attractiveness to the shopper. A
learner that weighs each click by 1 / θ_k (inverse propensity) sees, in expectation, r alone.
Only ratios matter, so θ is reported relative to the top slot (θ_0 = 1).

Two estimates, the first the data allows:

- **harvested** (intervention harvesting, Agarwal et al. 2019): the same item shown to the same
  shopper at different positions in different lists (lists are re-served as the shopper
  returns and the ranking, the catalog or an experiment moves items) is a natural experiment
  — its attractiveness is the same, only the slot changed. For every two positions, the
  pairs shown at both give the ratio of their θ; the ratios are combined by weighted least
  squares (:func:`_harvest`). Assumption: r(u, i) does not change between the lists that
  showed it.
- **click_rate**: the click rate at each position over every list, relative to the top one.
  Assumption: the served order is independent of attractiveness — true for randomised lists,
  and otherwise an over-statement of the bias (a working ranking puts what gets clicked on
  top), which the clip bounds.

Estimates are clipped to [``clip``, 1]: the largest weight a click can get is 1 / ``clip``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.feedback.labels import Label, position_propensity

__all__ = ["ASSUMPTIONS", "Propensities", "estimate_propensities"]

ASSUMPTIONS = {
    "harvested": "an item's attractiveness to a shopper is the same in every list that showed it",
    "click_rate": "the served order is independent of what gets clicked (exact for randomised "
    "lists; otherwise the bias is over-stated and the clip bounds it)",
}


@dataclass(frozen=True)
class Propensities:
    """θ_k relative to the top slot, and what they were estimated from."""

    values: tuple[float, ...]
    method: str
    impressions: int
    clicks: int
    pairs: int = 0
    clip: float = 0.05

    def at(self, position: int) -> float:
        """θ of a position (the last estimated one past the end; 1.0 without any)."""
        if not self.values:
            return 1.0
        return self.values[min(max(position, 0), len(self.values) - 1)]

    def weights(self, positions: Sequence[int]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """1 / θ of each position."""
        return np.asarray([1.0 / self.at(p) for p in positions], dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "assumption": ASSUMPTIONS[self.method],
            "values": [round(v, 4) for v in self.values],
            "impressions": self.impressions,
            "clicks": self.clicks,
            "pairs": self.pairs,
            "clip": self.clip,
        }


def _clipped(values: Iterable[float], clip: float) -> tuple[float, ...]:
    return tuple(round(min(1.0, max(clip, float(v))), 6) for v in values)


def estimate_propensities(
    labels: Sequence[Label],
    *,
    positions: int = 10,
    clip: float = 0.05,
    min_pairs: int = 200,
) -> Propensities:
    """θ_0..θ_{positions−1} from shown items with their positions (module doc).

    Harvested when at least ``min_pairs`` (shopper, item) pairs were shown at two or more
    positions and clicked at least once; the click rate by position otherwise."""
    shown = [lab for lab in labels if 0 <= lab.position < positions]
    clicks = sum(lab.clicked for lab in shown)
    seen: dict[tuple[str, str], set[int]] = defaultdict(set)
    clicked_pairs: set[tuple[str, str]] = set()
    for lab in shown:
        seen[(lab.owner, lab.product_id)].add(lab.position)
        if lab.clicked:
            clicked_pairs.add((lab.owner, lab.product_id))
    # Pairs are chosen by where they were shown, never by whether they were clicked (that
    # would select the attractive ones at the low positions).
    moved = {k for k, ps in seen.items() if len(ps) > 1}
    if len(moved & clicked_pairs) >= min_pairs:
        theta = _harvest([lab for lab in shown if (lab.owner, lab.product_id) in moved], positions)
        return Propensities(
            _clipped(theta, clip), "harvested", len(shown), clicks, pairs=len(moved), clip=clip
        )
    rates = position_propensity(shown, positions=positions)
    return Propensities(_clipped(rates, clip), "click_rate", len(shown), clicks, clip=clip)


def _harvest(labels: Sequence[Label], positions: int) -> list[float]:
    """θ relative to position 0 from every two positions' common pairs (AllPairs-style).

    For positions a, b and the (shopper, item) pairs shown at both, the sum over those pairs of
    the click rate at b over the sum at a estimates θ_b / θ_a (the same attractiveness enters
    both sums). The log ratios of all position pairs are combined by least squares, each
    weighted by the inverse of its variance (≈ 1 / clicks at a + 1 / clicks at b). Positions
    no pair connects carry the estimate of the one above."""
    index: dict[tuple[str, str], int] = {}
    pair = np.asarray([index.setdefault((lab.owner, lab.product_id), len(index)) for lab in labels])
    pos = np.asarray([lab.position for lab in labels])
    n = np.zeros((len(index), positions))
    c = np.zeros((len(index), positions))
    np.add.at(n, (pair, pos), 1.0)
    np.add.at(c, (pair, pos), np.asarray([lab.clicked for lab in labels], dtype=np.float64))
    rate = np.divide(c, n, out=np.zeros_like(c), where=n > 0)
    rows: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    rhs: list[float] = []
    weight: list[float] = []
    for a in range(positions):
        for b in range(a + 1, positions):
            both = (n[:, a] > 0) & (n[:, b] > 0)
            ca, cb = c[both, a].sum(), c[both, b].sum()
            if ca <= 0 or cb <= 0:
                continue
            row = np.zeros(positions)
            row[a], row[b] = -1.0, 1.0
            rows.append(row)
            rhs.append(float(np.log(rate[both, b].sum() / rate[both, a].sum())))
            weight.append(1.0 / (1.0 / ca + 1.0 / cb))
    if not rows:
        return [1.0] * positions
    design = np.stack(rows)
    w = np.sqrt(np.asarray(weight))
    connected = np.abs(design).sum(axis=0) > 0
    connected[0] = True
    cols = np.flatnonzero(connected[1:]) + 1  # log θ_0 = 0
    sol, *_ = np.linalg.lstsq(design[:, cols] * w[:, None], np.asarray(rhs) * w, rcond=None)
    log_theta = dict(zip(cols.tolist(), sol.tolist(), strict=True))
    out = [1.0]
    for k in range(1, positions):
        out.append(float(np.exp(log_theta[k])) if k in log_theta else out[-1])
    return out
