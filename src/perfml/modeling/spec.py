"""`PipelineSpec`: the contract every model pipeline implements; `perfml.pipelines.run` does the rest.

A pipeline (kedro style, `src/perfml/pipelines/<name>/`) has pure nodes in `nodes.py` (no I/O)
and a `pipeline.py` that wires them into a `PipelineSpec` subclass, registered by name in
`perfml.pipelines`. A spec holds parameters, never fitted state: `fit` returns the `TrainedModel`.
The shared runner (`train_pipeline`, `score_pipeline`, `explain_pipeline`), the CLI, the bias
audit and the HTTP service only talk to this interface.

Feature frame contract (what `build_features` returns): one row per unit, with
- the key columns `key` (e.g. `("change_id",)` or `("employee_id", "as_of")`),
- `time_column`: the unit's cut-off; every feature uses only records strictly before it,
- `subject_column`: the employee the decision is about (bias audit joins demographics on it),
- optionally `known_column`: when the row's label is settled (train rows need it < split cutoff),
- the numeric feature columns `feature_columns(frame)` (names in `perfml.catalog`),
- any other meta columns the pipeline wants (ignored by the runner).
`as_of=None` means "the training frame" (every unit at its own cut-off(s));
`as_of=t` means "what can be scored at t" (cut-offs capped at t, records strictly before t).

Unit states (scoring frames, `as_of` given): a frame may carry `state` (one of `UNIT_STATES`)
and `state_reason` (plain words, e.g. "2 data months before 2017-09-15; 3 needed"). Only rows
in state `scored` get a score; the runner and the service report the state of the others
instead of a number ("no history" is not "declining"). A frame without `state` is all `scored`.
Every output row also says where its score came from: `source` = "model" or "baseline".

Labels: `build_labels(dataset, features)` -> float Series aligned to the frame's index,
1.0/0.0, NaN where unknown (unaudited, horizon beyond the data).
Baseline: `baseline(features)` -> scores in [0, 1] from the naive rule the model must beat. It
also serves when the pipeline has no champion: `baseline_features` names the features the rule
reads and `baseline_description` says the rule in words; `baseline_reasons` renders both per row.
Inputs: `input_tables` are the contract tables training cannot do without (the runner checks
they are tracked and have rows before building anything, and says which one is missing).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel

from perfml import catalog
from perfml.dataset import Dataset
from perfml.modeling.model import TrainedModel
from perfml.modeling.split import TimeSplit, time_split
from perfml.modeling.train import fit_lgbm

SCORED = "scored"
INSUFFICIENT_HISTORY = "insufficient_history"
NO_ACTIVITY = "no_activity"
NOT_TRACKED = "not_tracked"  # the score would read a table the company does not track
UNIT_STATES = (SCORED, INSUFFICIENT_HISTORY, NO_ACTIVITY, NOT_TRACKED)
SOURCES = ("model", "baseline")


class PipelineSpec:
    """Base class of the model pipelines: override the three nodes, tune the class attributes."""

    name: ClassVar[str]  # CLI + registered-model name, e.g. "transfer-anomaly"
    key: ClassVar[tuple[str, ...]]
    time_column: ClassVar[str]
    horizon: ClassVar[pd.Timedelta]  # label horizon; the split gap is at least this
    known_column: ClassVar[str | None] = None
    subject_column: ClassVar[str] = "employee_id"
    score_column: ClassVar[str] = "score"  # output name of the score ("probability" for decline)
    # instance attributes with class defaults: a pipeline may set them from its parameters in __init__
    features: tuple[str, ...] = ()  # ordered model inputs (catalog names)
    test_metric: ClassVar[str] = "model_pr_auc"  # champion rule: higher is better
    test_size: float = 0.3
    alert_threshold: float = 0.5  # score at/above which a unit is alerted (bias audit)
    input_tables: ClassVar[tuple[str, ...]] = ()  # tables training needs rows in
    baseline_features: ClassVar[tuple[str, ...]] = ()  # features the baseline rule reads
    baseline_description: ClassVar[str] = ""  # the baseline rule in words, e.g. "revenue fell last month"
    p: BaseModel | None = None  # the pipeline's validated parameters (logged by `params`)
    requires_labels: ClassVar[bool] = True  # False: `fit` can learn without labels (unsupervised)
    scored_roles: ClassVar[tuple[str, ...]] = ()  # employee roles the model scores (empty: not role-based)
    seed: int = 0

    @property
    def model_name(self) -> str:
        """Registered model name in MLflow (`models:/<model_name>@champion`)."""
        return self.name

    # -- nodes to implement ----------------------------------------------------------------------
    def build_features(self, dataset: Dataset, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
        """Feature frame (see module doc); pure, vectorised, as-of."""
        raise NotImplementedError

    def build_labels(self, dataset: Dataset, features: pd.DataFrame) -> pd.Series:
        """0/1 float labels aligned to `features.index`; NaN where unknown."""
        raise NotImplementedError

    def baseline(self, features: pd.DataFrame) -> np.ndarray:
        """The naive rule's scores in [0, 1] for every row of `features`."""
        raise NotImplementedError

    # -- defaults you may override -------------------------------------------------------------
    def baseline_reasons(self, features: pd.DataFrame, lang: catalog.Lang = "en") -> list[str]:
        """One line per row: the baseline rule in words and the values of the features it reads."""
        rule = self.baseline_description or "naive rule"
        head = f"baseline rule ({rule})" if lang == "en" else f"基线规则（{rule}）"
        cols = [c for c in self.baseline_features if c in features.columns]
        if not cols:
            return [head] * len(features)
        feats = [catalog.get(c) for c in cols]
        values = features[cols].to_numpy(dtype="float64", na_value=np.nan)
        return [
            head
            + ": "
            + "; ".join(
                f.describe_value(None if np.isnan(v) else float(v), lang) for f, v in zip(feats, row, strict=True)
            )
            for row in values
        ]

    def untracked_baseline(self, dataset: Dataset) -> str | None:
        """Why the baseline rule cannot answer on `dataset` (it reads a table the company does not track),
        in plain words; None when it can. A rule on untracked data would read "none" where the truth is
        "unknown", and score everyone alike."""
        blind = [(c, t) for c in self.baseline_features for t in catalog.get(c).tables if t in dataset.untracked]
        if not blind:
            return None
        what = ", ".join(dict.fromkeys(f"{catalog.get(c).display()} (from {t})" for c, t in blind))
        return f"no trusted {self.name} model, and its baseline rule reads {what}, which this dataset does not track"

    def unscoreable_reason(self, dataset: Dataset, unit_id: str, as_of: pd.Timestamp | None = None) -> str | None:
        """Why a known unit has no row in the scoring frame, in plain words; None when the id is unknown.

        Default: for pipelines keyed by employee, the employee's departure, role (`scored_roles`) or hire
        date, else "no records"; pipelines keyed otherwise: None."""
        if tuple(self.key[:1]) != (self.subject_column,) or self.subject_column != "employee_id":
            return None
        emp = dataset.employees
        hit = emp[emp["employee_id"].astype("string") == unit_id]
        if hit.empty:
            return None
        row = hit.iloc[0]
        term = row.get("termination_date")
        if pd.notna(term) and (as_of is None or pd.Timestamp(term) < pd.Timestamp(as_of)):
            return f"{unit_id} left on {pd.Timestamp(term).date()}; the {self.name} model scores current employees"
        role = str(row.get("role"))
        if self.scored_roles and role not in self.scored_roles:
            return (
                f"{unit_id} is {'an' if role[:1] in 'aeiou' else 'a'} {role}; the {self.name} model scores "
                f"{' and '.join(self.scored_roles)} employees"
            )
        hired = row.get("hire_date")
        if as_of is not None and pd.notna(hired) and pd.Timestamp(hired) >= pd.Timestamp(as_of):
            return f"{unit_id} was hired on {pd.Timestamp(hired).date()}, not before {pd.Timestamp(as_of).date()}"
        _, end = dataset.date_range()
        when = f" as of {pd.Timestamp(as_of).date()}" if as_of is not None else ""
        ends = f" (the data ends on {end.date()})" if as_of is not None and pd.notna(end) and as_of > end else ""
        return f"the {self.name} model has no unit for {unit_id}{when}: no records to score it from{ends}"

    def feature_columns(self, features: pd.DataFrame) -> list[str]:
        """Model input columns for this frame (default: `features`, class attribute)."""
        return list(self.features)

    def label_known_at(self, dataset: Dataset, features: pd.DataFrame) -> pd.Series | None:
        """When each row's label became known (e.g. an audit's `reviewed_at`), or None if it is
        settled by the row's own time/`known_column`. Train rows need it before the split cutoff."""
        return None

    def split(self, features: pd.DataFrame, labels: pd.Series, label_known_at: pd.Series | None = None) -> TimeSplit:
        """Time split on `time_column` with gap = `horizon`, test side ~`test_size` of labelled rows.

        A training row must be settled before the cutoff: its `known_column` and `label_known_at`
        (when given) are both earlier than the cutoff."""
        known = features[self.known_column] if self.known_column else None
        if label_known_at is not None:
            # NaT (no label) adds no constraint beyond the row's own time
            lk = pd.to_datetime(pd.Series(label_known_at).reset_index(drop=True))
            lk = lk.fillna(features[self.time_column].reset_index(drop=True))
            known = lk if known is None else pd.concat([known.reset_index(drop=True), lk], axis=1).max(axis=1)
        return time_split(
            features[self.time_column],
            gap=self.horizon,
            test_size=self.test_size,
            known_at=known,
            labelled=labels.notna().to_numpy(),
        )

    def fit(self, X: pd.DataFrame, y: pd.Series) -> TrainedModel:
        """Fit on the training rows (`y` NaN = unlabelled; default: supervised on labelled rows)."""
        mask = y.notna().to_numpy()
        booster = fit_lgbm(X[mask], y[mask].to_numpy(), seed=self.seed)
        return TrainedModel(booster, list(X.columns), kind="supervised", threshold=self.alert_threshold)

    def params(self) -> dict:
        """Parameters to log with every run (a pipeline's validated parameters `p` as `p_<name>`)."""
        base = {
            "pipeline": self.name,
            "horizon_days": self.horizon.days,
            "test_size": self.test_size,
            "seed": self.seed,
            "alert_threshold": self.alert_threshold,
        }
        return base if self.p is None else {**base, **{f"p_{k}": v for k, v in self.p.model_dump().items()}}

    def extra_metrics(
        self, test: pd.DataFrame, y: np.ndarray, model_score: np.ndarray, baseline_score: np.ndarray, threshold: float
    ) -> dict[str, float]:
        """More test-side metrics (e.g. lead time); `test` is the labelled test frame, `threshold` the
        fitted model's alert threshold."""
        return {}

    def lead_times(
        self, test: pd.DataFrame, y: np.ndarray, model_score: np.ndarray, threshold: float
    ) -> np.ndarray | None:
        """Months from first alert to the event, per caught event (for the lead-time histogram)."""
        return None

    def scoring_rows(self, features: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.DataFrame:
        """Which rows of a scoring frame to return (default: all)."""
        return features

    def output(
        self, features: pd.DataFrame, scores: np.ndarray, reasons: list[str], lang: catalog.Lang = "en"
    ) -> pd.DataFrame:
        """The scoring output: key columns, `score_column`, `reasons` (text a pipeline adds is in `lang`)."""
        out = features[list(self.key)].reset_index(drop=True).copy()
        out[self.score_column] = np.asarray(scores, dtype=np.float64)
        out["reasons"] = reasons
        return out

    def rule_alerts(self, features: pd.DataFrame) -> np.ndarray:
        """Per row the reason of a documented rule alert besides the model's threshold, else None (default: none)."""
        return np.full(len(features), None, dtype=object)

    def profile(self, dataset: Dataset, model: TrainedModel, lang: catalog.Lang = "en") -> pd.DataFrame:
        """A global profile of the model (high-performer: traits, direction, contrasts)."""
        raise NotImplementedError(f"pipeline {self.name!r} has no profile")
