"""Explanations: TreeSHAP contributions for any batch, and top-k factors with catalog names and reasons.

Contributions come from the booster itself (`booster.predict(X, pred_contrib=True)`, exact
TreeSHAP) on a float64 numpy matrix; measured on a 200-tree model the sklearn wrapper with a
DataFrame costs far more per call (see `benchmarks/bench_models.py`), so the booster path is the
only one. Everything is in the model's raw (log-odds) space: for every row
`base_value + contributions.sum() == raw_score` (to 1e-6; tested), and `score = sigmoid(raw_score)`.

Usage::

    ex = explain(model, X)            # model: TrainedModel (or a bare lightgbm.Booster)
    ex.reasons(k=3, lang="en")        # ["no activity by the new owner ...: +0.41; ...", ...]
    ex.records(k=5, lang="zh")        # JSON-ready dicts: score, raw_score, base_value, factors[...]

Each factor: feature (column name), display_name, value, unit, contribution, direction
("up" raises the score, "down" lowers it) and reason (one line, "<rendered template>: +0.41").
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from perfml import catalog
from perfml.modeling.model import PREDICT_THREADS, TrainedModel, sigmoid, to_matrix


@dataclass(frozen=True)
class Factor:
    """One feature's part in one prediction."""

    feature: str
    display_name: str
    value: float | None
    unit: str
    contribution: float
    direction: str
    reason: str

    def to_dict(self) -> dict:
        return {
            "feature": self.feature,
            "display_name": self.display_name,
            "value": self.value,
            "unit": self.unit,
            "contribution": self.contribution,
            "direction": self.direction,
            "reason": self.reason,
        }


@dataclass
class Explanations:
    """TreeSHAP for a batch: `contributions[i, j]` of feature j to row i, plus base value and raw score."""

    feature_names: list[str]
    values: np.ndarray
    contributions: np.ndarray
    base_value: np.ndarray
    model_name: str | None = None
    model_version: str | None = None

    @property
    def raw_score(self) -> np.ndarray:
        """Base value plus contributions: the model's raw (log-odds) score per row."""
        return self.base_value + self.contributions.sum(axis=1)

    @property
    def score(self) -> np.ndarray:
        """Scores in [0, 1] (sigmoid of the raw score)."""
        return sigmoid(self.raw_score)

    def __len__(self) -> int:
        return len(self.base_value)

    def top_indices(self, k: int = 3) -> np.ndarray:
        """(n, min(k, n_features)) feature indices per row by |contribution|, largest first."""
        k = min(k, self.contributions.shape[1])
        return np.argsort(-np.abs(self.contributions), axis=1, kind="stable")[:, :k]

    def factors(self, k: int = 3, lang: catalog.Lang = "en") -> list[list[Factor]]:
        """Top-k `Factor`s per row (zero contributions left out)."""
        top = self.top_indices(k)
        feats = [catalog.get(n) for n in self.feature_names]
        out: list[list[Factor]] = []
        for i, row in enumerate(top):
            items = []
            for j in row:
                c = float(self.contributions[i, j])
                if c == 0.0:
                    continue
                v = float(self.values[i, j])
                value = None if np.isnan(v) else v
                f = feats[j]
                items.append(
                    Factor(
                        f.name, f.display(lang), value, f.unit, c, "up" if c > 0 else "down", f.reason(value, c, lang)
                    )
                )
            out.append(items)
        return out

    def reasons(self, k: int = 3, lang: catalog.Lang = "en", sep: str = "; ") -> list[str]:
        """One string per row: the top-k reason lines joined by `sep` (for CSV output)."""
        return [sep.join(f.reason for f in row) for row in self.factors(k, lang)]

    def records(self, k: int = 5, lang: catalog.Lang = "en") -> list[dict]:
        """JSON-ready dict per row: model, version, score, raw_score, base_value, factors."""
        raw, score = self.raw_score, self.score
        return [
            {
                "model": self.model_name,
                "version": self.model_version,
                "score": float(score[i]),
                "raw_score": float(raw[i]),
                "base_value": float(self.base_value[i]),
                "factors": [f.to_dict() for f in row],
            }
            for i, row in enumerate(self.factors(k, lang))
        ]

    def global_importance(self) -> pd.Series:
        """Mean |contribution| per feature, largest first (the SHAP summary as numbers)."""
        return pd.Series(np.abs(self.contributions).mean(axis=0), index=self.feature_names).sort_values(ascending=False)


def contributions(booster: lgb.Booster, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(contributions (n, f), base value (n,)) for a float64 matrix via exact TreeSHAP."""
    out = np.asarray(booster.predict(X, pred_contrib=True, num_threads=PREDICT_THREADS))  # dense X: an array already
    return out[:, :-1], out[:, -1]


def explain(model: TrainedModel | lgb.Booster, X: pd.DataFrame | np.ndarray) -> Explanations:
    """TreeSHAP explanations for every row of `X` (DataFrame columns are matched by name)."""
    if isinstance(model, TrainedModel):
        booster, names, name, version = model.booster, list(model.features), model.name, model.version
    else:
        booster, names, name, version = model, list(model.feature_name()), None, None
    M = to_matrix(X, names) if isinstance(X, pd.DataFrame) else to_matrix(X)
    if M.ndim != 2 or M.shape[1] != len(names):
        raise ValueError(f"expected {len(names)} feature columns, got shape {M.shape}")
    if len(M) == 0:
        return Explanations(names, M, np.zeros((0, len(names))), np.zeros(0), name, version)
    contrib, base = contributions(booster, M)
    return Explanations(names, M, contrib, base, name, version)
