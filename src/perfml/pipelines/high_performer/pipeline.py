"""High-performer profile: wires the pure nodes of `nodes.py` into the shared `PipelineSpec` contract.

Training: `perfml.pipelines.run.train_pipeline("high-performer", dataset)`. The held-out side is the
latest hires (a cohort split by hire date): a company has a few hundred such employees, not
thousands of dated events, and the behaviour windows of people hired before the data overlap
in calendar time, so a time split would leave nothing to test. Match scores:
`score_pipeline("high-performer", dataset, as_of=...)` (behaviour strictly before the instant
`as_of`, window dates in the output; under `min_weeks` of it is `insufficient_history`); the
global profile: `HighPerformer().profile(dataset, model)`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from perfml import catalog
from perfml.dataset import Dataset
from perfml.explain import explain
from perfml.metrics import activity_months, activity_period_metrics
from perfml.modeling.model import TrainedModel
from perfml.modeling.spec import PipelineSpec
from perfml.modeling.split import TimeSplit, time_split
from perfml.modeling.train import fit_lgbm
from perfml.pipelines.high_performer import nodes
from perfml.pipelines.high_performer.nodes import HighPerformerParams


class HighPerformer(PipelineSpec):
    """Employee -> how closely months 1-6 of behaviour match the top quartile of months 7-12."""

    name: ClassVar[str] = "high-performer"
    key: ClassVar[tuple[str, ...]] = ("employee_id",)
    time_column: ClassVar[str] = "cutoff"
    known_column: ClassVar[str | None] = "label_known_at"
    subject_column: ClassVar[str] = "employee_id"
    score_column: ClassVar[str] = "score"
    features: tuple[str, ...] = (*nodes.BEHAVIOURS, *nodes.EARLY_RESULTS, *nodes.CONTEXT)
    test_metric: ClassVar[str] = "model_roc_auc"
    input_tables: ClassVar[tuple[str, ...]] = ("employees", "orders")  # the label is attainment in months 7-12
    baseline_features: ClassVar[tuple[str, ...]] = ("visits_per_week",)
    baseline_description: ClassVar[str] = "percentile of visits per week within the role"
    p: HighPerformerParams

    def __init__(self, params: HighPerformerParams | dict | None = None):
        self.p = params if isinstance(params, HighPerformerParams) else HighPerformerParams(**(params or {}))
        self.seed = self.p.seed
        self.alert_threshold = self.p.alert_threshold
        self.test_size = self.p.test_size

    @property
    def horizon(self) -> pd.Timedelta:  # type: ignore[override]
        """Label window length (months N+1..N+L, at most 31 days each)."""
        return pd.Timedelta(days=31 * self.p.label_months)

    def build_features(self, dataset: Dataset, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
        first, last = activity_months(dataset)
        past = dataset if as_of is None else dataset.before(as_of)
        units = nodes.profile_units(dataset.employees, first, last, self.p, as_of=as_of)
        frame = nodes.unit_features(
            units, activity_period_metrics(past), past.activities, past.leads, dataset.employees, self.p
        )
        if as_of is not None:
            frame["state"], frame["state_reason"] = nodes.unit_states(
                units, frame["weeks_observed"], past.activities, past.orders, past.leads, self.p
            )
        return frame

    def build_labels(self, dataset: Dataset, features: pd.DataFrame) -> pd.Series:
        return self.labels_from(self.attainment(dataset, features), features)

    def labels_from(self, attainment: pd.Series, features: pd.DataFrame) -> pd.Series:
        """The labels of every unit of the company from their attainment: its top share within the role."""
        return nodes.top_share_labels(attainment, features["role"], self.p.top_share)

    def attainment(self, dataset: Dataset, features: pd.DataFrame) -> pd.Series:
        """Attainment over months N+1..N+L per unit (the quantity the label ranks)."""
        _, last = activity_months(dataset)
        return nodes.label_attainment(features, activity_period_metrics(dataset), self.p, last)

    def baseline(self, features: pd.DataFrame) -> np.ndarray:
        """Naive profile: the percentile of visits per week within role (\"busy people do best\")."""
        rank = features.groupby("role")["visits_per_week"].rank(pct=True)
        return rank.fillna(0.5).to_numpy(dtype="float64")

    def output(
        self, features: pd.DataFrame, scores: np.ndarray, reasons: list[str], lang: catalog.Lang = "en"
    ) -> pd.DataFrame:
        """Key, score, reasons and the behaviour window read: records from `window_start` to before `cutoff`."""
        out = super().output(features, scores, reasons)
        out["window_start"] = features["window_start"].to_numpy()
        out["cutoff"] = features["cutoff"].to_numpy()
        return out

    def feature_columns(self, features: pd.DataFrame) -> list[str]:
        return nodes.feature_columns(features, self.p.early_results)

    def split(self, features: pd.DataFrame, labels: pd.Series, label_known_at: pd.Series | None = None) -> TimeSplit:
        """Cohort split: the latest `test_size` of labelled units by hire date are held out (`label_known_at`:
        unused, this pipeline does not define `label_known_at`, so the runner never passes it)."""
        return time_split(
            features["hire_date"], gap=pd.Timedelta(0), test_size=self.p.test_size, labelled=labels.notna().to_numpy()
        )

    def fit(self, X: pd.DataFrame, y: pd.Series) -> TrainedModel:
        mask = y.notna().to_numpy()
        booster = fit_lgbm(
            X[mask], y[mask].to_numpy(), params=self.p.lgb_params(), num_rounds=self.p.num_rounds, seed=self.seed
        )
        return TrainedModel(booster, list(X.columns), kind="supervised", threshold=self.alert_threshold)

    def profile(self, dataset: Dataset, model: TrainedModel, lang: catalog.Lang = "en") -> pd.DataFrame:
        """Global profile: per feature SHAP importance, direction and the top-vs-rest contrast, most important first."""
        features = self.build_features(dataset)
        labels = self.build_labels(dataset, features)
        ex = explain(model, features)
        contrast = nodes.contrasts(features, labels, list(model.features))
        profile = nodes.global_profile(ex.contributions, ex.values, list(model.features), contrast)
        return nodes.describe_profile(profile, self.p.top_share, lang)
