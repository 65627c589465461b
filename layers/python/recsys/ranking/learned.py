"""Scorers over :data:`recsys.ranking.features.FEATURES`: a weighted sum and a learned ranker.

- :class:`WeightedSum` is the hybrid blend: one column per signal (e.g. co-purchase with 5, 10
  or 20 partners per seed), scaled to [0, 1] over the request's candidates, times a weight.
  The tuner picks the columns and weights.
- :class:`LinearRanker` is a listwise model (softmax over each user's candidate pool, ListNet
  with a linear scorer) over the inputs of :mod:`recsys.ranking.inputs` (raw features, their
  per-request scaled values, products of them, ranks within the pool) and the tuned weighted
  sum, trained in numpy (:func:`fit_listwise`) on the store's own history: the products each
  user bought in the label window against the rest of the same pool. (A pairwise logistic
  model over the same inputs ranked worse than the weighted sum even on its own training
  window: it learns the order of the whole pool, not its top.)

Both score one request's pool (``x`` of one user) or many at once (``starts`` marks each
user's first row), so the tuner evaluates them on exactly what serving computes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.ranking.features import INDEX
from recsys.ranking.inputs import DESIGN_NAMES as DESIGN_NAMES
from recsys.ranking.inputs import DESIGNS as DESIGNS
from recsys.ranking.inputs import NAMES_OF as NAMES_OF
from recsys.ranking.inputs import design

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

#: Signal → the feature columns that can express it (the first is the fixed blend's).
SIGNAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "repeat": ("repeat_long", "repeat_recent", "repeat_count", "repeat_basket"),
    "due": ("due",),
    "collaborative": ("collab10", "collab5", "collab20", "collab10_recent"),
    "content": ("content",),
    "similar_users": ("similar_users",),
    "popularity": ("popularity", "pop_rank", "adopters"),
    "trending": ("trending",),
    "category": ("cat_leaf", "cat_top", "cat_recent"),
    "category_popular": ("cat_pop",),
    "freshness": ("new_item",),
}
#: The signal a feature's contribution is explained as (:func:`recsys.ranking.reasons.explain`).
REASON_OF: dict[str, str] = {
    "repeat": "repeat",
    "due": "repeat",
    "collaborative": "collaborative",
    "content": "content",
    "similar_users": "similar_users",
    "popularity": "popularity",
    "trending": "trending",
    "category": "popularity",
    "category_popular": "popularity",
    "freshness": "freshness",
}
#: The fixed blend's weights (``recsys.ranking.config.Weights``) in this vocabulary.
DEFAULT_WEIGHTS: dict[str, float] = {
    "repeat": 3.0,
    "collaborative": 0.7,
    "content": 0.5,
    "similar_users": 0.5,
    "popularity": 0.4,
    "trending": 0.05,
}


def scale(x: FloatArray, starts: IntArray | None = None) -> FloatArray:
    """Each column ÷ its maximum over the request (per user block when ``starts`` is given);
    the content cosine is min–max scaled (similarities never reach 0)."""
    if len(x) == 0:
        return x
    if starts is None:
        starts = np.zeros(1, dtype=np.int64)
    counts = np.diff(np.append(starts, len(x)))
    hi = np.repeat(np.maximum.reduceat(x, starts, axis=0), counts, axis=0)
    out = x / np.maximum(hi, 1e-9)
    c = INDEX["content"]
    lo = np.repeat(np.minimum.reduceat(x[:, c], starts), counts)
    span = hi[:, c] - lo
    out[:, c] = np.where(span > 1e-9, (x[:, c] - lo) / np.maximum(span, 1e-9), 1.0)
    scaled: FloatArray = out.astype(np.float32)
    return scaled


@dataclass
class WeightedSum:
    """Σ weight × scaled column, one column per signal."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    columns: dict[str, str] = field(default_factory=dict)

    kind = "weighted_sum"

    def column(self, signal: str) -> str:
        return self.columns.get(signal, SIGNAL_COLUMNS[signal][0])

    def contributions(
        self, x: FloatArray, starts: IntArray | None = None, scaled: FloatArray | None = None
    ) -> dict[str, FloatArray]:
        s = scale(x, starts) if scaled is None else scaled
        return {
            sig: np.float32(w) * s[:, INDEX[self.column(sig)]]
            for sig, w in self.weights.items()
            if w > 0
        }

    def score(
        self, x: FloatArray, starts: IntArray | None = None, scaled: FloatArray | None = None
    ) -> FloatArray:
        return self.score_parts(x, starts, scaled)[0]

    def score_parts(
        self, x: FloatArray, starts: IntArray | None = None, scaled: FloatArray | None = None
    ) -> tuple[FloatArray, dict[str, FloatArray]]:
        """The score and each signal's weighted contribution (what explains an item)."""
        contrib = self.contributions(x, starts, scaled)
        total = (
            np.sum(list(contrib.values()), axis=0)
            if contrib
            else np.zeros(len(x), dtype=np.float32)
        )
        merged: dict[str, FloatArray] = {}
        for sig, v in contrib.items():
            r = REASON_OF[sig]
            merged[r] = merged[r] + v if r in merged else v
        return total, merged

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "weights": self.weights, "columns": self.columns}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WeightedSum:
        weights = {str(k): float(v) for k, v in data.get("weights", {}).items()}
        columns = {str(k): str(v) for k, v in data.get("columns", {}).items()}
        for sig, col in columns.items():
            if sig not in SIGNAL_COLUMNS or col not in SIGNAL_COLUMNS[sig]:
                raise ValueError(f"unknown signal column {sig}={col}")
        unknown = set(weights) - set(SIGNAL_COLUMNS)
        if unknown:
            raise ValueError(f"unknown signals {sorted(unknown)}")
        return cls(weights=weights, columns=columns)


@dataclass
class LinearRanker:
    """score = base_coef × base(x) + ((design(x) − mean) / std) · coef.

    ``base`` is the tuned weighted sum: the model learns what to add to it (and how far to
    trust it), so it starts from the blend rather than from nothing.
    """

    mean: FloatArray
    std: FloatArray
    coef: FloatArray
    base: WeightedSum | None = None
    base_coef: float = 0.0
    #: the input set (:data:`DESIGNS`)
    inputs: str = "base"

    kind = "learned"

    def _z(self, x: FloatArray, scaled: FloatArray) -> FloatArray:
        z: FloatArray = (design(x, scaled, self.inputs) - self.mean) / self.std
        return z

    def _base(self, x: FloatArray, starts: IntArray | None, scaled: FloatArray) -> FloatArray:
        if self.base is None or self.base_coef == 0.0:
            return np.zeros(len(x), dtype=np.float32)
        return np.float32(self.base_coef) * self.base.score(x, starts, scaled)

    def score(
        self, x: FloatArray, starts: IntArray | None = None, scaled: FloatArray | None = None
    ) -> FloatArray:
        return self.score_parts(x, starts, scaled)[0]

    def score_parts(
        self, x: FloatArray, starts: IntArray | None = None, scaled: FloatArray | None = None
    ) -> tuple[FloatArray, dict[str, FloatArray]]:
        """The score and each reason signal's share of it, relative to the pool's average."""
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32), {}
        s = scale(x, starts) if scaled is None else scaled
        z = self._z(x, s)
        total: FloatArray = (z @ self.coef + self._base(x, starts, s)).astype(np.float32)
        parts = (z - z.mean(axis=0, keepdims=True)) * self.coef
        out = {r: parts[:, cols].sum(axis=1) for r, cols in _reason_groups(self.inputs).items()}
        if self.base is not None and self.base_coef > 0:
            for r, v in self.base.score_parts(x, starts, s)[1].items():
                out[r] = out.get(r, np.zeros(len(x), dtype=np.float32)) + self.base_coef * v
        return total, out

    def importance(self) -> dict[str, float]:
        """|coef| per design column (inputs are standardised, so they compare)."""
        names = NAMES_OF[self.inputs]
        out = {n: round(float(abs(c)), 4) for n, c in zip(names, self.coef, strict=True)}
        if self.base is not None:
            out["weighted_sum"] = round(abs(self.base_coef), 4)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "inputs": self.inputs,
            "features": list(NAMES_OF[self.inputs]),
            "mean": [round(float(v), 6) for v in self.mean],
            "std": [round(float(v), 6) for v in self.std],
            "coef": [round(float(v), 6) for v in self.coef],
            "base": self.base.to_json() if self.base is not None else None,
            "base_coef": round(self.base_coef, 6),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinearRanker:
        inputs = str(data.get("inputs", "base"))
        if inputs not in NAMES_OF or list(data.get("features", [])) != list(NAMES_OF[inputs]):
            raise ValueError("learned ranker was fitted on other features")
        base = data.get("base")
        return cls(
            mean=np.asarray(data["mean"], dtype=np.float32),
            std=np.asarray(data["std"], dtype=np.float32),
            coef=np.asarray(data["coef"], dtype=np.float32),
            base=WeightedSum.from_json(base) if base else None,
            base_coef=float(data.get("base_coef", 0.0)),
            inputs=inputs,
        )


def _reason_groups(inputs: str = "base") -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for j, name in enumerate(NAMES_OF[inputs]):
        plain = name.removeprefix("bought:").removeprefix("log:").removeprefix("rank:")
        plain = plain.split("/")[0].split("*")[0]
        groups.setdefault(_reason_of_feature(plain), []).append(j)
    return groups


def _reason_of_feature(name: str) -> str:
    for sig, cols in SIGNAL_COLUMNS.items():
        if name in cols:
            return REASON_OF[sig]
    if name in ("bought", "repeat_count", "days_since", "repeat_rate"):
        return "repeat"
    if name.startswith("collab"):
        return "collaborative"
    if name in ("ann_rank",):
        return "content"
    if name in ("age",):
        return "freshness"
    return "popularity"


Scorer = WeightedSum | LinearRanker


def scorer_from_json(data: Mapping[str, Any]) -> Scorer:
    if data.get("kind") == "learned":
        return LinearRanker.from_json(data)
    return WeightedSum.from_json(data)


def fit_listwise(
    x: FloatArray,
    starts: IntArray,
    labels: npt.NDArray[np.bool_],
    *,
    base: WeightedSum | None = None,
    l2: float = 0.01,
    iterations: int = 200,
    rate: float = 0.05,
    scaled: FloatArray | None = None,
    gains: npt.NDArray[np.float64] | None = None,
    inputs: str = "base",
) -> LinearRanker:
    """Listwise softmax ranking (ListNet with a linear scorer) by Adam, every user weighing
    the same: for each user, −mean over bought products of log softmax(score) over the pool.
    The softmax puts the loss on the top of each list, where Recall@10 is decided.

    With ``base`` the weighted sum's score enters as one more input, starting at weight 1:
    the model begins as the blend and moves only where the history says so.

    ``gains`` (≥ 0 per row) replace ``labels`` / positives per block as the target: a block
    weighs Σ gains and the loss is −Σ gain × log softmax (click labels weighted by inverse
    propensity, :mod:`recsys.ranking.click_labels`). ``scaled`` gives rows whose per-request
    scaling was taken over a larger pool than their block (a logged list's shown items).
    """
    scaled = scale(x, starts) if scaled is None else scaled
    z_raw = design(x, scaled, inputs)
    mean = z_raw.mean(axis=0)
    std = z_raw.std(axis=0)
    std = np.where(std > 1e-6, std, 1.0).astype(np.float32)
    z = ((z_raw - mean) / std).astype(np.float64)
    b = base.score(x, starts, scaled).astype(np.float64) if base is not None else None
    lengths = np.diff(np.append(starts, len(x)))
    y = labels.astype(np.float64) if gains is None else np.asarray(gains, dtype=np.float64)
    n_pos = np.add.reduceat(y, starts) if len(x) else np.zeros(0)
    users = n_pos > 0
    rows = np.repeat(users, lengths)
    z, y = z[rows], y[rows]
    b = b[rows] if b is not None else None
    lengths = lengths[users]
    n_pos = n_pos[users]
    dim = z.shape[1]
    if not len(lengths):
        return LinearRanker(mean, std, np.zeros(dim, dtype=np.float32), base, 1.0, inputs)
    st = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    target = y / np.repeat(n_pos, lengths) if gains is None else y
    mass = np.ones(len(y)) if gains is None else np.repeat(n_pos, lengths)
    theta = np.zeros(dim + 1)
    theta[dim] = 1.0 if b is not None else 0.0
    # The products run in float32 (half the time; Adam's state stays float64).
    feats = np.concatenate([z, (b if b is not None else np.zeros(len(z)))[:, None]], axis=1).astype(
        np.float32
    )
    owner = np.repeat(np.arange(len(lengths)), lengths)
    m1 = np.zeros_like(theta)
    m2 = np.zeros_like(theta)
    n_users = len(lengths)
    for t in range(1, iterations + 1):
        s = feats @ theta.astype(np.float32)
        s -= np.maximum.reduceat(s, st)[owner]
        e = np.exp(s)
        p = e / np.add.reduceat(e, st)[owner]
        grad = (feats.T @ (p * mass - target).astype(np.float32)).astype(np.float64) / n_users
        grad[:dim] += l2 * theta[:dim]
        m1 = 0.9 * m1 + 0.1 * grad
        m2 = 0.999 * m2 + 0.001 * grad * grad
        step = rate * (m1 / (1 - 0.9**t)) / (np.sqrt(m2 / (1 - 0.999**t)) + 1e-8)
        theta -= step
    return LinearRanker(
        mean.astype(np.float32),
        std,
        theta[:dim].astype(np.float32),
        base,
        float(theta[dim]) if b is not None else 0.0,
        inputs,
    )


def top_k_blocks(
    scores: FloatArray, starts: IntArray, *, k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Row indices of each block's ``k`` best scores (padded; mask says which are real)."""
    n_users = len(starts)
    lengths = np.diff(np.append(starts, len(scores)))
    width = int(lengths.max()) if n_users else 0
    pad = np.full((n_users, max(width, 1)), -np.inf, dtype=np.float64)
    idx = np.full((n_users, max(width, 1)), -1, dtype=np.int64)
    rows = np.repeat(np.arange(n_users), lengths)
    cols = np.arange(len(scores)) - np.repeat(starts, lengths)
    pad[rows, cols] = scores
    idx[rows, cols] = np.arange(len(scores))
    kk = min(k, pad.shape[1])
    part = np.argpartition(-pad, kk - 1, axis=1)[:, :kk]
    order = np.argsort(-np.take_along_axis(pad, part, axis=1), axis=1, kind="stable")
    best = np.take_along_axis(part, order, axis=1)
    chosen = np.take_along_axis(idx, best, axis=1)
    mask = np.take_along_axis(pad, best, axis=1) > -np.inf
    return chosen, mask


def as_sequence(values: Sequence[float]) -> FloatArray:
    return np.asarray(values, dtype=np.float32)
