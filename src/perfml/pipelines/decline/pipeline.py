"""Decline early warning: wires the pure nodes of `nodes.py` into the shared `PipelineSpec` contract.

Train: `perfml.modeling.train_pipeline("decline", dataset)`; score at a month end:
`score_pipeline("decline", dataset, as_of="2025-06-01")` (any date scores the latest month-end
snapshot at or before it: records strictly before that month start).
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from perfml.dataset import Dataset
from perfml.modeling.model import TrainedModel
from perfml.modeling.spec import PipelineSpec
from perfml.modeling.train import fit_lgbm
from perfml.pipelines.decline import nodes
from perfml.pipelines.decline.nodes import DeclineParams


class DeclinePipeline(PipelineSpec):
    """Sales employee x month end -> probability of a revenue decline in the next H months."""

    name: ClassVar[str] = "decline"
    key: ClassVar[tuple[str, ...]] = ("employee_id", "as_of")
    time_column: ClassVar[str] = "as_of"
    known_column: ClassVar[str | None] = None
    subject_column: ClassVar[str] = "employee_id"
    score_column: ClassVar[str] = "probability"
    features: ClassVar[tuple[str, ...]] = nodes.FEATURES
    test_metric: ClassVar[str] = "model_roc_auc"
    input_tables: ClassVar[tuple[str, ...]] = ("orders",)
    baseline_features: ClassVar[tuple[str, ...]] = ("revenue_change_1m",)
    baseline_description: ClassVar[str] = "the size of last month's revenue fall is the probability"
    scored_roles: ClassVar[tuple[str, ...]] = ("sales",)

    def __init__(self, params: DeclineParams | dict | None = None):
        self.p = params if isinstance(params, DeclineParams) else DeclineParams(**(params or {}))
        self.seed = self.p.seed
        self.alert_threshold = 1.0 - self.p.alert_share  # until fitted: then the training scores' quantile

    @property
    def horizon(self) -> pd.Timedelta:  # type: ignore[override]
        """Split gap: the label horizon of H months, at most 31 days each."""
        return pd.Timedelta(days=31 * self.p.horizon)

    def build_features(self, dataset: Dataset, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
        if as_of is None:
            return nodes.snapshot_features(nodes.monthly_metrics(dataset), dataset.employees, self.p,
                                           changes=dataset.ownership_changes)
        snap = nodes.snapshot_of(as_of)
        past = dataset.before(snap)
        return nodes.snapshot_features(nodes.monthly_metrics(past), dataset.employees, self.p, snapshot=snap,
                                       changes=past.ownership_changes)

    def build_labels(self, dataset: Dataset, features: pd.DataFrame) -> pd.Series:
        monthly = nodes.monthly_metrics(dataset)
        return nodes.decline_labels(monthly, features, self.p)

    def baseline(self, features: pd.DataFrame) -> np.ndarray:
        return nodes.revenue_fell_baseline(features, self.p)

    def fit(self, X: pd.DataFrame, y: pd.Series) -> TrainedModel:
        mask = y.notna().to_numpy()
        booster = fit_lgbm(X[mask], y[mask].to_numpy(), params=self.p.lgb_params(int(mask.sum())),
                           num_rounds=self.p.num_rounds, seed=self.seed)
        model = TrainedModel(booster, list(X.columns), kind="supervised")
        # A watch list of a steady size: alert the top `alert_share` of training snapshots' scores. The
        # threshold travels with the model (serving) and is what lead time and alert metrics use.
        model.threshold = float(np.quantile(model.predict(X[mask]), 1.0 - self.p.alert_share))
        self.alert_threshold = model.threshold
        return model

    def scoring_rows(self, features: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.DataFrame:
        """At `as_of`: its snapshot; without: each employee's latest snapshot."""
        if as_of is not None or features.empty:
            return features
        return features[features["as_of"] == features["as_of"].max()]

    def params(self) -> dict:
        return {**super().params(), **{f"p_{k}": v for k, v in self.p.model_dump().items()}}

    def _frame(self, test: pd.DataFrame, y: np.ndarray, score: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"employee_id": test["employee_id"].to_numpy(), "p": test["p"].to_numpy(),
                             "label": y, "score": np.asarray(score, dtype="float64")})

    def lead_times(self, test: pd.DataFrame, y: np.ndarray, model_score: np.ndarray) -> np.ndarray | None:
        lead = nodes.lead_times(self._frame(test, y, model_score), self.alert_threshold, self.p)["lead_time_months"]
        return lead.dropna().to_numpy(dtype="float64")

    def extra_metrics(self, test: pd.DataFrame, y: np.ndarray, model_score: np.ndarray,
                      baseline_score: np.ndarray) -> dict[str, float]:
        """Alert rate, precision and recall at the alert threshold, and lead time - model and baseline rule."""
        out: dict[str, float] = {}
        for who, score, threshold in (("model", model_score, self.alert_threshold),
                                      ("baseline", baseline_score, self.p.fall_rule)):
            summary = nodes.alert_summary(self._frame(test, y, score), threshold, self.p)
            out.update({f"{who}_{k}": v for k, v in summary.items()})
        return out


PIPELINE = DeclinePipeline()
