"""Unsupervised anomaly scoring from warning signs, for pipelines without labels.

`EvidenceScorer(signs)` adds up the weights of the warning signs a row shows (each sign a
domain rule on one feature: "the receiver logged no activity", "the order came within 14
days"), and breaks ties with a directional ECOD-like tail score learned on the training rows:
for every column a sign reads, how rare a value at least this far in the suspicious direction
is among the training rows (-log of its empirical tail probability, summed over the columns).

Why not an isolation forest on every feature: most of what is rare in a company is legitimate
(bulk hand-overs, long-dormant accounts), so generic outlier scores rank the look-alikes as high
as the abuse; the signs say which direction of which feature is suspicious, and the tail score
only grades rows the rules cannot tell apart. No labels are used.

sklearn-style: `fit(X)` returns self, `score_samples(X)` is higher for more abnormal rows, and
the learned state ends with `_`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Sign:
    """One warning sign: `column` > `above`, or `column` <= `at_most` (exactly one given); missing = absent."""

    column: str
    above: float | None = None
    at_most: float | None = None
    weight: float = 1.0

    def __post_init__(self) -> None:
        if (self.above is None) == (self.at_most is None):
            raise ValueError(f"sign on {self.column!r}: give exactly one of above= or at_most=")
        if not self.weight > 0:
            raise ValueError(f"sign on {self.column!r}: weight must be > 0, got {self.weight}")

    @property
    def direction(self) -> int:
        """+1 when high values are suspicious, -1 when low values are."""
        return 1 if self.above is not None else -1

    def present(self, values: np.ndarray) -> np.ndarray:
        """Whether each value shows the sign (NaN never does)."""
        with np.errstate(invalid="ignore"):
            hit = values > self.above if self.above is not None else values <= self.at_most
        return hit & ~np.isnan(values)


class EvidenceScorer:
    """Weighted count of warning signs plus `tie_weight` x the percentile of a directional tail score."""

    def __init__(self, signs: Sequence[Sign], tie_weight: float = 0.1):
        if not signs:
            raise ValueError("EvidenceScorer needs at least one sign")
        if not 0 <= tie_weight < min(s.weight for s in signs):
            raise ValueError("tie_weight must be >= 0 and below the smallest sign weight (it only breaks ties)")
        self.signs = tuple(signs)
        self.tie_weight = tie_weight

    def _directions(self) -> dict[str, int]:
        directions: dict[str, int] = {}
        for sign in self.signs:
            if directions.setdefault(sign.column, sign.direction) != sign.direction:
                raise ValueError(f"signs on {sign.column!r} point in both directions")
        return directions

    def fit(self, X: pd.DataFrame) -> EvidenceScorer:
        """Learn each sign column's training distribution (oriented so that high = suspicious)."""
        directions = self._directions()
        missing = [c for c in directions if c not in X.columns]
        if missing:
            raise KeyError(f"EvidenceScorer: columns {missing} are not in the frame")
        self.sorted_ = {c: np.sort(d * X[c].to_numpy(dtype="float64", na_value=np.nan)) for c, d in directions.items()}
        self.sorted_ = {c: v[~np.isnan(v)] for c, v in self.sorted_.items()}
        self.train_tail_ = np.sort(self.tail_score(X))
        return self

    def evidence(self, X: pd.DataFrame) -> np.ndarray:
        """Weighted count of the signs each row shows."""
        total = np.zeros(len(X))
        for sign in self.signs:
            total += sign.weight * sign.present(X[sign.column].to_numpy(dtype="float64", na_value=np.nan))
        return total

    def tail_score(self, X: pd.DataFrame) -> np.ndarray:
        """Sum over sign columns of -log P_train(value at least this suspicious); 0 for missing values."""
        total = np.zeros(len(X))
        for column, direction in self._directions().items():
            ref = self.sorted_[column]
            v = direction * X[column].to_numpy(dtype="float64", na_value=np.nan)
            p = (len(ref) - np.searchsorted(ref, v, side="left") + 1) / (len(ref) + 1)
            total -= np.log(np.where(np.isnan(v), 1.0, p))
        return total

    def score_samples(self, X: pd.DataFrame) -> np.ndarray:
        """Abnormality per row (higher = more abnormal): evidence + tie_weight x tail percentile in [0, 1]."""
        tail = np.searchsorted(self.train_tail_, self.tail_score(X), side="right") / max(len(self.train_tail_), 1)
        return self.evidence(X) + self.tie_weight * tail


def evidence_percentiles(signs: Sequence[Sign], X: pd.DataFrame) -> np.ndarray:
    """Soft target in [0, 1]: each row's percentile among `X` of its `EvidenceScorer(signs)` score (no labels)."""
    return pd.Series(EvidenceScorer(signs).fit(X).score_samples(X)).rank(pct=True).to_numpy()
