"""`TrainedModel`: a fitted LightGBM booster plus what scoring needs (feature order, kind, threshold).

Scoring goes through the raw booster on a float64 numpy matrix: one row through the sklearn
wrapper and a DataFrame costs about 25x more (`benchmarks/bench_models.py`). Scores are `sigmoid(raw score)`,
in [0, 1]; explanations (`perfml.explain`) work in the raw (log-odds) space.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

KINDS = ("supervised", "unsupervised")
PREDICT_THREADS = 1
"""Threads per predict call. One: OpenMP's default spin-waits on busy cores and made a one-row
call ~100x slower under load (measured); a service parallelises across requests instead."""


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, numerically stable for large |x|."""
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


def to_matrix(X: pd.DataFrame | np.ndarray, features: list[str] | None = None) -> np.ndarray:
    """A C-contiguous float64 matrix in `features` order (missing columns become NaN)."""
    if isinstance(X, pd.DataFrame):
        if features is not None:
            X = X.reindex(columns=features)
        return np.ascontiguousarray(X.to_numpy(dtype=np.float64, na_value=np.nan))
    return np.ascontiguousarray(np.asarray(X, dtype=np.float64))


@dataclass
class TrainedModel:
    """A booster and its serving metadata; `predict` returns scores in [0, 1] (higher = more of the event)."""

    booster: lgb.Booster
    features: list[str]
    kind: str = "supervised"
    threshold: float = 0.5
    name: str | None = None
    version: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if list(self.booster.feature_name()) != list(self.features):
            raise ValueError("booster feature names differ from `features`")

    def matrix(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The float64 matrix the booster expects (DataFrames are reordered by name)."""
        return to_matrix(X, self.features)

    def raw_score(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Raw (log-odds) scores, one per row."""
        return np.asarray(self.booster.predict(self.matrix(X), raw_score=True, num_threads=PREDICT_THREADS))

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Scores in [0, 1], one per row."""
        return sigmoid(self.raw_score(X))

    def metadata(self) -> dict[str, str]:
        """String tags that travel with the registered version (read back by the registry)."""
        return {
            "perfml.kind": self.kind,
            "perfml.threshold": repr(float(self.threshold)),
            **{f"perfml.{k}": str(v) for k, v in self.extra.items()},
        }
