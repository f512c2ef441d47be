"""Transfer-anomaly pipeline: wires the pure nodes into the shared `PipelineSpec` contract.

Supervised when the training side has at least `min_positives` audited positives and
`min_negatives` negatives: an L2 logistic regression on rank-transformed features (C by
stratified cross-validation on the training side) learns from the audit labels, and a lean
LightGBM booster is distilled from its probabilities over every training transfer, audited or
not. Why the detour: with tens of audited positives, boosted trees fitted on the labels
directly overfit a few thresholds, while the linear teacher adds up many weak signs: on
simulator seeds 1-6 the distilled booster's held-out PR-AUC (audit labels) averaged 0.88
(0.77-0.97) against 0.81 (0.71-0.93) for trees fitted on the labels. `teacher="none"` fits the booster on the labels
directly (for a company with thousands of audited transfers). Serving and TreeSHAP explanations
see only the booster either way.

The teacher and the distillation live in `perfml.modeling.distill`.

Otherwise unsupervised: the warning-sign score of `perfml.modeling.unsupervised.EvidenceScorer`
over `nodes.WARNING_SIGNS` (domain rules, ties broken by how rare each sign's value is among the
training transfers; no labels), turned into percentiles and distilled the same way - same
output columns, scores in [0, 1], same explanations. Supervised scores are probabilities; unsupervised
scores estimate the percentile of abnormality among training transfers, and the alert threshold is set so that
`unsupervised_alert_share` of the training transfers would have been alerted.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from perfml import catalog
from perfml.catalog.transfer_anomaly import flow_reason
from perfml.config import Settings
from perfml.dataset import Dataset
from perfml.modeling.distill import TEACHER_CS, distil_logistic
from perfml.modeling.model import TrainedModel
from perfml.modeling.spec import PipelineSpec
from perfml.modeling.train import fit_lgbm, fit_soft
from perfml.modeling.unsupervised import evidence_percentiles
from perfml.pipelines.transfer_anomaly import nodes
from perfml.pipelines.transfer_anomaly.flows import HandoverPolicy, default_policy, load_policy
from perfml.pipelines.transfer_anomaly.reasons import (
    Keywords,
    default_reason_keywords,
    keywords_hash,
    load_reason_keywords,
)


class TransferAnomalyParams(BaseModel):
    """Parameters of the transfer-anomaly pipeline (validated; defaults are the tested ones)."""

    max_window_days: float = Field(
        90, gt=0, description="Longest wait for the next order before scoring anyway (days); also the split gap."
    )
    min_positives: int = Field(
        30, ge=1, description="Audited anomalies needed on the train side for the supervised model."
    )
    min_negatives: int = Field(30, ge=1, description="Audited normal transfers needed on the train side.")
    only_to_assistants: bool = Field(False, description="Score only changes whose receiver is an assistant.")
    num_rounds: int = Field(150, ge=10, le=200)
    num_leaves: int = Field(15, ge=2, le=31)
    learning_rate: float = Field(0.05, gt=0, le=0.5)
    supervised_threshold: float = Field(0.5, gt=0, lt=1, description="Alert threshold on the supervised probability.")
    unsupervised_alert_share: float = Field(
        0.05, gt=0, lt=1, description="Share of transfers alerted by the unsupervised score."
    )
    teacher: Literal["logistic", "none"] = Field(
        "logistic",
        description="Supervised: distil the booster from a logistic regression on the labels, "
        "or fit it on the labels directly.",
    )
    teacher_cs: tuple[float, ...] = Field(
        TEACHER_CS, min_length=1, description="Inverse L2 strengths the teacher's cross-validation tries."
    )
    seed: int = 0


class TransferAnomaly(PipelineSpec):
    """Scores each ownership change for "a ripe deal handed over to inflate someone's target"."""

    name: ClassVar[str] = "transfer-anomaly"
    key: ClassVar[tuple[str, ...]] = ("change_id",)
    time_column: ClassVar[str] = "changed_at"
    known_column: ClassVar[str] = "scored_at"
    subject_column: ClassVar[str] = "to_employee_id"
    features: tuple[str, ...] = nodes.FEATURES
    test_metric: ClassVar[str] = "model_pr_auc"
    # the tables a transfer needs at all; the others (activities, leads, targets...) may be empty or untracked
    input_tables: ClassVar[tuple[str, ...]] = ("ownership_changes", "customers", "orders", "employees")
    requires_labels: ClassVar[bool] = False  # without audit labels it learns from the warning signs
    baseline_features: ClassVar[tuple[str, ...]] = ("receiver_acts_after",)
    baseline_description: ClassVar[str] = (
        "1 when the new owner logged no activity on the customer between the change and the cut-off"
    )
    p: TransferAnomalyParams

    def __init__(
        self,
        params: TransferAnomalyParams | dict | None = None,
        reason_keywords: Keywords | None = None,
        handover_policy: HandoverPolicy | None = None,
    ):
        """`reason_keywords`: what a reason text claims, per category (`reasons.load_reason_keywords`;
        None = the shipped en/zh defaults). `handover_policy`: the company's designed hand-over flows
        (`flows.load_policy`; None = none declared, the features and numbers of a plain company)."""
        self.p = params if isinstance(params, TransferAnomalyParams) else TransferAnomalyParams(**(params or {}))
        self.reason_keywords = default_reason_keywords() if reason_keywords is None else dict(reason_keywords)
        self.policy = default_policy() if handover_policy is None else handover_policy
        self.features = nodes.feature_names(self.policy)
        self.seed = self.p.seed
        self.alert_threshold = self.p.supervised_threshold

    @property
    def horizon(self) -> pd.Timedelta:  # type: ignore[override]
        return pd.Timedelta(days=self.p.max_window_days)

    def build_features(
        self, dataset: Dataset, as_of: pd.Timestamp | None = None, change_ids: list[str] | None = None
    ) -> pd.DataFrame:
        """The feature frame of every transfer, or of those in `change_ids` (the same rows)."""
        frame = nodes.build_features(
            dataset,
            as_of,
            max_window_days=self.p.max_window_days,
            change_ids=change_ids,
            reason_keywords=self.reason_keywords,
            policy=self.policy,
        )
        if self.p.only_to_assistants:
            frame = frame[frame["receiver_is_assistant"] > 0].reset_index(drop=True)
        return frame

    def output(
        self, features: pd.DataFrame, scores: np.ndarray, reasons: list[str], lang: catalog.Lang = "en"
    ) -> pd.DataFrame:
        """Key, score and reasons; a hand-over along a declared flow leads its reasons with the flow
        and how it compares with the flow's usual hand-over, in `lang` (en | zh, as the reasons)."""
        out = super().output(features, scores, reasons)
        if "flow" in features:
            flows = features.reset_index(drop=True)
            lead = []
            for _, row in flows.iterrows():
                flow = self.policy.flow(row["flow"])  # None for UNDECLARED
                lead.append("" if flow is None else flow_reason(flow.label, row, lang))
            out["reasons"] = [f"{a}; {b}" if a and b else a or b for a, b in zip(lead, out["reasons"], strict=True)]
        return out

    def build_labels(self, dataset: Dataset, features: pd.DataFrame) -> pd.Series:
        return nodes.build_labels(dataset, features)

    def label_known_at(self, dataset: Dataset, features: pd.DataFrame) -> pd.Series:
        return nodes.label_reviewed_at(dataset, features)

    def baseline(self, features: pd.DataFrame) -> np.ndarray:
        return nodes.seed_rule(features)

    def supervised_possible(self, y: pd.Series) -> bool:
        """Whether the labels carry enough positives and negatives for the supervised model."""
        return int((y == 1).sum()) >= self.p.min_positives and int((y == 0).sum()) >= self.p.min_negatives

    def _lgb_params(self) -> dict:
        return {"num_leaves": self.p.num_leaves, "learning_rate": self.p.learning_rate}

    def fit(self, X: pd.DataFrame, y: pd.Series) -> TrainedModel:
        if self.supervised_possible(y):
            if self.p.teacher == "none":
                mask = y.notna().to_numpy()
                booster = fit_lgbm(
                    X[mask], y[mask].to_numpy(), params=self._lgb_params(), num_rounds=self.p.num_rounds, seed=self.seed
                )
                extra: dict[str, str | float] = {"teacher": "none"}
            else:
                booster, c = distil_logistic(
                    X, y, cs=self.p.teacher_cs, params=self._lgb_params(), num_rounds=self.p.num_rounds, seed=self.seed
                )
                extra = {"teacher": "logistic", "teacher_c": c}
            return TrainedModel(
                booster, list(X.columns), kind="supervised", threshold=self.p.supervised_threshold, extra=extra
            )
        # the signs of the columns the model has (flow signs only with declared flows)
        target = evidence_percentiles([s for s in nodes.WARNING_SIGNS if s.column in X.columns], X)
        booster = fit_soft(X, target, params=self._lgb_params(), num_rounds=self.p.num_rounds, seed=self.seed)
        model = TrainedModel(booster, list(X.columns), kind="unsupervised")
        # the student squeezes the extremes of its [0, 1] target: alert on its own top share instead
        model.threshold = float(np.quantile(model.predict(X), 1.0 - self.p.unsupervised_alert_share))
        return model

    def params(self) -> dict:
        return {
            **super().params(),
            "reason_keywords_sha256": keywords_hash(self.reason_keywords),
            "handover_policy_sha256": self.policy.digest(),
        }


def from_settings(settings: Settings) -> TransferAnomaly:
    """The pipeline as a company configured it: its reason keywords (`Settings.reason_keywords`) and
    its hand-over policy (`Settings.handover_policy`)."""
    return TransferAnomaly(
        reason_keywords=load_reason_keywords(settings.reason_keywords),
        handover_policy=load_policy(settings.handover_policy),
    )
