"""Decline early warning: wires the pure nodes of `nodes.py` into the shared `PipelineSpec` contract.

Train: `perfml.pipelines.run.train_pipeline("decline", dataset)`; score at any instant:
`score_pipeline("decline", dataset, as_of="2025-06-17T12:00")` reads records strictly before it
(month windows: the complete months before it, named in `months_from`/`months_to`).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from perfml import catalog
from perfml.dataset import Dataset
from perfml.metrics import activity_months, activity_period_metrics, month_start, period_index
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
    features: tuple[str, ...] = nodes.FEATURES
    test_metric: ClassVar[str] = "model_roc_auc"
    input_tables: ClassVar[tuple[str, ...]] = ("employees", "orders")
    baseline_features: ClassVar[tuple[str, ...]] = ("revenue_change_1m",)
    baseline_description: ClassVar[str] = "the size of last month's revenue fall is the score; alert at a 30% fall"
    scored_roles: ClassVar[tuple[str, ...]] = ("sales",)
    p: DeclineParams

    def __init__(self, params: DeclineParams | dict | None = None):
        self.p = params if isinstance(params, DeclineParams) else DeclineParams(**(params or {}))
        self.seed = self.p.seed
        self.alert_threshold = 1.0 - self.p.alert_share  # a fitted model carries its own (training scores' quantile)

    @property
    def horizon(self) -> pd.Timedelta:  # type: ignore[override]
        """Split gap: the label horizon of H months, at most 31 days each."""
        return pd.Timedelta(days=31 * self.p.horizon)

    def build_features(self, dataset: Dataset, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
        if as_of is None:
            record_start = month_start(activity_months(dataset)[0])
            return nodes.snapshot_features(
                activity_period_metrics(dataset),
                dataset.employees,
                self.p,
                nodes.event_streams(dataset),
                record_start,
                dataset.ownership_changes,
            )
        as_of = pd.Timestamp(as_of)
        past = dataset.before(as_of)
        # Month windows read the complete months only: records before the start of as_of's month.
        months = dataset.before(month_start(period_index(as_of)))
        return nodes.scoring_features(
            activity_period_metrics(months),
            dataset.employees,
            self.p,
            nodes.event_streams(past),
            month_start(activity_months(past)[0]),
            as_of,
            months.ownership_changes,
        )

    def build_labels(self, dataset: Dataset, features: pd.DataFrame) -> pd.Series:
        monthly = activity_period_metrics(dataset)
        return nodes.decline_labels(monthly, features, self.p)

    def baseline(self, features: pd.DataFrame) -> np.ndarray:
        return nodes.revenue_fell_baseline(features, self.p)

    def fit(self, X: pd.DataFrame, y: pd.Series) -> TrainedModel:
        mask = y.notna().to_numpy()
        booster = fit_lgbm(
            X[mask],
            y[mask].to_numpy(),
            params=self.p.lgb_params(int(mask.sum())),
            num_rounds=self.p.num_rounds,
            seed=self.seed,
        )
        model = TrainedModel(booster, list(X.columns), kind="supervised")
        # A watch list of a steady size: alert the top `alert_share` of training snapshots' scores. The
        # threshold travels with the model (serving) and is what lead time and alert metrics use.
        model.threshold = float(np.quantile(model.predict(X[mask]), 1.0 - self.p.alert_share))
        return model

    def output(
        self, features: pd.DataFrame, scores: np.ndarray, reasons: list[str], lang: catalog.Lang = "en"
    ) -> pd.DataFrame:
        """Key, probability, reasons, the complete months the month windows read (`months_from`..`months_to`)
        and `rule_alert`: the activity-fade rule's reason when it alerts (else empty)."""
        out = super().output(features, scores, reasons)
        for col in ("months_from", "months_to"):
            out[col] = features[col].to_numpy() if col in features else features["period"].to_numpy()
        out["rule_alert"] = pd.Series(self.rule_alerts(features)).fillna("").to_numpy()
        return out

    def rule_alerts(self, features: pd.DataFrame) -> np.ndarray:
        """Per row the activity-fade rule's reason when it alerts (an alert besides the threshold), else None."""
        return nodes.activity_fade_reasons(features.reset_index(drop=True), self.p)

    def alerted(self, features: pd.DataFrame, model_score: np.ndarray, threshold: float) -> np.ndarray:
        """Per row: alerted by the model's `threshold` or by the activity-fade rule (what serving alerts)."""
        return (np.asarray(model_score, dtype="float64") >= threshold) | nodes.activity_fade(
            features.reset_index(drop=True), self.p
        )

    def scoring_rows(self, features: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.DataFrame:
        """At `as_of`: its snapshot; without: each employee's latest snapshot."""
        if as_of is not None or features.empty:
            return features
        return features[features["as_of"] == features["as_of"].max()]

    def _frame(self, test: pd.DataFrame, y: np.ndarray, score: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "employee_id": test["employee_id"].to_numpy(),
                "p": test["p"].to_numpy(),
                "label": y,
                "score": np.asarray(score, dtype="float64"),
            }
        )

    def lead_times(
        self, test: pd.DataFrame, y: np.ndarray, model_score: np.ndarray, threshold: float
    ) -> np.ndarray | None:
        """Lead times (months) of the alerts serving raises: the model's threshold or the activity-fade rule."""
        alerted = self.alerted(test, model_score, threshold).astype("float64")
        lead = nodes.lead_times(self._frame(test, y, alerted), 0.5, self.p)["lead_time_months"]
        return lead.dropna().to_numpy(dtype="float64")

    def extra_metrics(
        self, test: pd.DataFrame, y: np.ndarray, model_score: np.ndarray, baseline_score: np.ndarray, threshold: float
    ) -> dict[str, float]:
        """Alert rate, precision and recall and lead time of the model's threshold alone (`model_`), with the
        activity-fade rule as served (`alerts_`), and of the baseline rule (`baseline_`)."""
        out: dict[str, float] = {}
        alerted = self.alerted(test, model_score, threshold).astype("float64")
        for who, score, at in (
            ("model", model_score, threshold),
            ("alerts", alerted, 0.5),
            ("baseline", baseline_score, self.p.fall_rule),
        ):
            summary = nodes.alert_summary(self._frame(test, y, score), at, self.p)
            out.update({f"{who}_{k}": v for k, v in summary.items()})
        return out
