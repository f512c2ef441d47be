"""The shared runner: train, score and explain any registered pipeline the same way.

- `train_pipeline(name, dataset, *, home=None, force=False, register=True, progress=None)` -> `TrainResult`:
  input tables checked -> features -> labels -> time split -> fit on train (without the features
  of tables the dataset does not track) -> model AND baseline metrics on the labelled test rows
  -> evidence gate (`perfml.modeling.gate`) -> report PNGs -> MLflow run + registered version
  in the registry of `home` (+ champion only if the gate passed and it beats the current champion,
  or `force`); the gate's thresholds are the home's settings.
- `score_pipeline(name, dataset, *, model, as_of=None, top_k=3, lang="en")` -> DataFrame with the
  pipeline's output columns (key, score column, `reasons`) plus `source` ("model" | "baseline"),
  `state` and `state_reason`: the model's scores, or the baseline rule's when `model` is None.
- `explain_pipeline(name, dataset, *, model, as_of=None)` -> (feature frame, `Explanations`).

`engine`: where training builds features and boosts, and where scoring runs; None = pandas in this
process, or an `Engine` (`perfml.scale.DaskEngine`: the same nodes on a Dask cluster). Everything
else (labels, split, baseline, gate, registry) is this module's, whatever the engine.

The caller resolves the champion (`perfml.modeling.registry.champion_or_none(name, home=...)`):
nothing here reads a home it was not given.

`name` is a pipeline name ("transfer-anomaly", "decline", "high-performer") or a `PipelineSpec`.
`progress(stage, fraction)` is an optional callback (the CLI passes a progress bar).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Protocol

import lightgbm as lgb
import numpy as np
import pandas as pd

from perfml import catalog
from perfml.config import DEFAULTS, Settings
from perfml.dataset import Dataset
from perfml.errors import PerfmlError
from perfml.explain import explain
from perfml.home import Home
from perfml.metrics import period_index
from perfml.modeling.evaluate import side_by_side, write_report
from perfml.modeling.gate import GateOutcome, evidence_gate, inputs_summary
from perfml.modeling.model import TrainedModel
from perfml.modeling.registry import log_and_register
from perfml.modeling.spec import NOT_TRACKED, SCORED, PipelineSpec
from perfml.pipelines import get_pipeline

Progress = Callable[[str, float], None]
SHAP_SAMPLE = 2000


class Engine(Protocol):
    """Where features are built, boosters fit and frames scored (see the module doc)."""

    def training_frame(self, spec: PipelineSpec, dataset: Dataset) -> tuple[pd.DataFrame, pd.Series, pd.Series | None]:
        """(features, labels, `label_known_at`) of the training frame, computed by the engine."""
        ...

    def fitting(self) -> AbstractContextManager[None]:
        """A block within which `spec.fit` boosts on the engine."""
        ...

    def score(
        self,
        spec: PipelineSpec,
        dataset: Dataset,
        *,
        model: TrainedModel | None,
        as_of: pd.Timestamp | None,
        top_k: int,
        lang: catalog.Lang,
    ) -> pd.DataFrame:
        """`score_pipeline` computed by the engine."""
        ...


def _spec(name: str | PipelineSpec) -> PipelineSpec:
    return name if isinstance(name, PipelineSpec) else get_pipeline(name)


@dataclass
class TrainResult:
    """What one training run produced: test-side metrics for model and baseline, and where it went."""

    pipeline: str
    model_name: str
    kind: str
    metrics: dict[str, float]
    split: dict
    features: list[str]
    seconds: dict[str, float]
    model: TrainedModel = field(repr=False)
    test: pd.DataFrame = field(repr=False)  # key, time, label, score, baseline for every test row
    gate: GateOutcome | None = None
    dropped_features: list[str] = field(default_factory=list)  # inputs of untracked tables, left out
    forced: bool = False
    run_id: str | None = None
    version: str | None = None
    promoted: bool = False
    previous_champion: str | None = None
    not_promoted: str | None = None  # why not, in plain words (gate or champion comparison)

    def to_dict(self) -> dict:
        """JSON-ready summary (no model, no frames)."""
        return {
            "pipeline": self.pipeline,
            "model_name": self.model_name,
            "kind": self.kind,
            "metrics": self.metrics,
            "split": self.split,
            "n_features": len(self.features),
            "seconds": self.seconds,
            "run_id": self.run_id,
            "version": self.version,
            "promoted": self.promoted,
            "previous_champion": self.previous_champion,
            "gate": None
            if self.gate is None
            else {"passed": self.gate.passed, "reasons": list(self.gate.reasons), **self.gate.evidence},
            "dropped_features": self.dropped_features,
            "forced": self.forced,
            "not_promoted": self.not_promoted,
        }


def train_pipeline(
    name: str | PipelineSpec,
    dataset: Dataset,
    *,
    home: Home | None = None,
    force: bool = False,
    register: bool = True,
    report: bool = True,
    progress: Progress | None = None,
    settings: Settings | None = None,
    engine: Engine | None = None,
) -> TrainResult:
    """Build, fit, evaluate (test side only), gate and (if `register`) log + register one pipeline's
    model in the registry of `home`. The gate's thresholds: `settings`, else the home's, else the defaults.

    Raises `PerfmlError` naming the missing input (table and row counts) when nothing can be trained."""
    if register and home is None:
        raise TypeError("train_pipeline(register=True) needs the home to register the model in")
    spec = _spec(name)
    settings = settings or (home.settings if home is not None else DEFAULTS)
    say = progress or (lambda stage, fraction: None)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = round(now - clock, 3)
        clock = now

    check_inputs(spec, dataset)
    say("features", 0.02)
    if engine is None:
        features = spec.build_features(dataset).reset_index(drop=True)
        lap("features")
        say("labels", 0.35)
        labels = spec.build_labels(dataset, features)
        label_known = spec.label_known_at(dataset, features)
    else:  # the engine builds labels with the features, where the records are
        features, labels, label_known = engine.training_frame(spec, dataset)
        features = features.reset_index(drop=True)
        lap("features")
    labels = labels.reset_index(drop=True).astype("float64")
    try:
        split = (
            spec.split(features, labels)
            if label_known is None
            else spec.split(features, labels, label_known_at=label_known.reset_index(drop=True))
        )
    except PerfmlError as exc:  # a symptom of thin input: say what the input was
        raise PerfmlError(
            f"{spec.name} cannot train: the data gives {len(features):,} units, "
            f"{int(labels.notna().sum()):,} labelled{_inputs(spec, dataset)}; the data covers "
            f"{_months(dataset)} ({exc})"
        ) from None
    cols, dropped = usable_columns(spec, features, dataset)
    X = features[cols].astype("float64")
    lap("labels_split")
    say("fit", 0.45)
    train_y = labels[split.train].reset_index(drop=True)
    thin = (
        f"{spec.name} cannot train: the training side has {len(train_y):,} units, "
        f"{int(train_y.notna().sum()):,} labelled ({int((train_y == 1).sum()):,} positive)"
        f"{_inputs(spec, dataset)}; the data covers {_months(dataset)}"
    )
    if spec.requires_labels and train_y.nunique() < 2:
        raise PerfmlError(f"{thin}: a model needs labelled units of both outcomes to learn from")
    try:
        with nullcontext() if engine is None else engine.fitting():
            model = spec.fit(X[split.train].reset_index(drop=True), train_y)
    except (ValueError, lgb.basic.LightGBMError) as exc:
        raise PerfmlError(f"{thin} ({str(exc).strip()})") from None
    lap("fit")
    say("evaluate", 0.7)
    test = features.loc[split.test, [*spec.key, spec.time_column]].reset_index(drop=True)
    Xt = X[split.test].reset_index(drop=True)
    test["label"] = labels[split.test].to_numpy()
    test["score"] = model.predict(Xt)
    test["baseline"] = np.clip(np.asarray(spec.baseline(features[split.test].reset_index(drop=True)), float), 0, 1)
    lab = test["label"].notna().to_numpy()
    if lab.sum() and test.loc[lab, "label"].nunique() == 2:
        y = test.loc[lab, "label"].to_numpy()
        metrics = side_by_side(y, test.loc[lab, "score"], test.loc[lab, "baseline"])
        metrics.update(
            spec.extra_metrics(
                features[split.test].reset_index(drop=True)[lab],
                y,
                test.loc[lab, "score"].to_numpy(),
                test.loc[lab, "baseline"].to_numpy(),
                model.threshold,
            )
        )
    else:
        metrics = {
            "model_n": float(lab.sum()),  # one class or none: nothing honest to report
            "model_positives": float(np.nansum(test.loc[lab, "label"].to_numpy())),
        }
    metrics.update(
        {"n_train": float(split.train.sum()), "n_test": float(split.test.sum()), "n_test_labelled": float(lab.sum())}
    )
    subjects = features.loc[split.test, spec.subject_column].reset_index(drop=True)[lab]
    gate = evidence_gate(
        test_metric=spec.test_metric,
        metrics=metrics,
        test_scores=test["score"],
        test_subjects=subjects,
        dataset=dataset,
        settings=settings,
        input_tables=spec.input_tables,
    )
    lap("evaluate")
    result = TrainResult(
        spec.name,
        spec.model_name,
        model.kind,
        metrics,
        split.summary(),
        cols,
        seconds,
        model,
        test,
        gate=gate,
        dropped_features=dropped,
        forced=force,
    )
    if not register or home is None:  # home is None only without register (refused above)
        result.not_promoted = None if gate.passed or force else gate.reason
        return result
    say("report", 0.8)
    with tempfile.TemporaryDirectory(prefix="perfml-report-") as tmp:
        if report:
            _report(spec, tmp, test, Xt, model, features[split.test].reset_index(drop=True))
        lap("report")
        say("register", 0.9)
        params = {
            **spec.params(),
            **split.summary(),
            "kind": model.kind,
            "alert_threshold": model.threshold,  # the fitted model's own (decline: a training quantile)
            "dropped_features": ",".join(dropped) or "-",
        }
        tags = {"perfml.pipeline": spec.name, "perfml.gate": "passed" if gate.passed else "failed"}
        if dropped:
            tags["perfml.dropped_features"] = ",".join(dropped)
        reg = log_and_register(
            spec.model_name,
            model,
            params=params,
            metrics={**metrics, **{f"gate_{k}": v for k, v in gate.evidence.items()}},
            fingerprint=dataset.fingerprint(),
            input_example=X.head(5),
            test_metric=spec.test_metric,
            report_dir=tmp,
            force=force,
            refusal=None if gate.passed else gate.reason,
            tags=tags,
            home=home,
        )
    lap("register")
    result.run_id, result.version, result.promoted = reg.run_id, reg.version, reg.promoted
    result.previous_champion, result.not_promoted = reg.previous_champion, reg.not_promoted
    say("done", 1.0)
    return result


def _months(dataset: Dataset) -> str:
    """The calendar months the event records span, in words ("4 months, 2017-01 to 2017-04")."""
    stamps = [
        dataset.table(t)[c].dropna()
        for t, c in (
            ("orders", "closed_at"),
            ("activities", "occurred_at"),
            ("leads", "created_at"),
            ("ownership_changes", "changed_at"),
        )
    ]
    stamps = [s for s in stamps if len(s)]
    if not stamps:
        return "no dated events"
    first, last = min(s.min() for s in stamps), max(s.max() for s in stamps)
    n = period_index(last) - period_index(first) + 1
    return f"{n} month{'s' if n != 1 else ''}, {first:%Y-%m} to {last:%Y-%m}"


def _inputs(spec: PipelineSpec, dataset: Dataset) -> str:
    return f" (inputs: {inputs_summary(spec.input_tables, dataset)})" if spec.input_tables else ""


def check_inputs(spec: PipelineSpec, dataset: Dataset) -> None:
    """`PerfmlError` naming each of the pipeline's `input_tables` that is untracked or has no rows."""
    rows = dataset.rows()
    missing = [
        f"{t} is not tracked by this dataset" if t in dataset.untracked else f"{t} has no rows"
        for t in spec.input_tables
        if t in dataset.untracked or not rows.get(t)
    ]
    if missing:
        raise PerfmlError(
            f"{spec.name} cannot train: {'; '.join(missing)} - the {spec.name} model is built "
            f"from {', '.join(spec.input_tables)}"
        )


def usable_columns(spec: PipelineSpec, features: pd.DataFrame, dataset: Dataset) -> tuple[list[str], list[str]]:
    """(model inputs, inputs dropped because a table they are computed from is untracked by `dataset`)."""
    cols = spec.feature_columns(features)
    if not dataset.untracked:
        return cols, []
    dropped = [c for c in cols if set(catalog.get(c).tables) & dataset.untracked]
    return [c for c in cols if c not in dropped], dropped


def _report(
    spec: PipelineSpec, out: str, test: pd.DataFrame, Xt: pd.DataFrame, model: TrainedModel, test_features: pd.DataFrame
) -> None:
    lab = test["label"].notna().to_numpy()
    sample = Xt.sample(min(len(Xt), SHAP_SAMPLE), random_state=0) if len(Xt) else Xt
    ex = explain(model, sample)
    y = test.loc[lab, "label"].to_numpy()
    lead = (
        spec.lead_times(test_features[lab], y, test.loc[lab, "score"].to_numpy(), model.threshold)
        if lab.any()
        else None
    )
    write_report(
        out,
        y,
        test.loc[lab, "score"],
        test.loc[lab, "baseline"],
        title=spec.name,
        contributions=ex.contributions,
        values=ex.values,
        feature_names=ex.feature_names,
        lead_times=lead,
    )


def explain_pipeline(name: str | PipelineSpec, dataset: Dataset, *, model: TrainedModel, as_of=None):
    """(scoring frame, `Explanations`) for every unit scoreable at `as_of` (default: all), with `model`."""
    spec = _spec(name)
    as_of = None if as_of is None else pd.Timestamp(as_of)
    features = spec.scoring_rows(spec.build_features(dataset, as_of=as_of), as_of).reset_index(drop=True)
    _check_features(spec, model, features)
    return features, explain(model, features)


def _check_features(spec: PipelineSpec, model: TrainedModel, features: pd.DataFrame) -> None:
    missing = [c for c in model.features if c not in features.columns]
    if missing:
        raise PerfmlError(f"model {spec.model_name!r} v{model.version} needs features the data lacks: {missing[:5]}")


def score_pipeline(
    name: str | PipelineSpec,
    dataset: Dataset,
    *,
    model: TrainedModel | None,
    as_of=None,
    top_k: int = 3,
    lang: catalog.Lang = "en",
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Score every unit: the pipeline's output columns plus `reasons`, `source`, `state`, `state_reason`.

    With `model` (e.g. the champion) scores and reasons come from the model (`source` "model"); with
    None from the pipeline's baseline rule (`source` "baseline"). Units not in state `scored` get no
    score (empty) and their `state_reason` as reason."""
    spec = _spec(name)
    as_of = None if as_of is None else pd.Timestamp(as_of)
    if engine is not None:
        return engine.score(spec, dataset, model=model, as_of=as_of, top_k=top_k, lang=lang)
    features = spec.scoring_rows(spec.build_features(dataset, as_of=as_of), as_of).reset_index(drop=True)
    if model is None:
        features = blind_baseline(spec, features, dataset)
    return score_frame(spec, features, model, top_k=top_k, lang=lang)


def blind_baseline(spec: PipelineSpec, features: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    """`features` with every scoreable unit in state `not_tracked` when the baseline rule reads an
    untracked table (see `PipelineSpec.untracked_baseline`); unchanged otherwise."""
    why = spec.untracked_baseline(dataset)
    if why is None:
        return features
    scoreable = (unit_states(features) == SCORED).to_numpy()
    out = features.copy()
    out["state"] = unit_states(features).where(~scoreable, NOT_TRACKED)
    reasons = out["state_reason"] if "state_reason" in out.columns else pd.Series("", index=out.index)
    out["state_reason"] = reasons.where(~scoreable, why)
    return out


def score_frame(
    spec: PipelineSpec, features: pd.DataFrame, model: TrainedModel | None, *, top_k: int = 3, lang: catalog.Lang = "en"
) -> pd.DataFrame:
    """`score_pipeline` on a built scoring frame (see there); `model` None means the baseline rule."""
    state = unit_states(features)
    scored = (state == SCORED).to_numpy()
    part = features[scored].reset_index(drop=True)
    scores = np.full(len(features), np.nan)
    reasons = (
        features["state_reason"].fillna("").astype(str).tolist()
        if "state_reason" in features.columns
        else [""] * len(features)
    )
    if model is not None:
        _check_features(spec, model, features)
        ex = explain(model, part)
        part_scores, part_reasons, source = ex.score, ex.reasons(top_k, lang), "model"
    else:
        part_scores = np.clip(np.asarray(spec.baseline(part), dtype=np.float64), 0, 1) if len(part) else np.zeros(0)
        part_reasons, source = spec.baseline_reasons(part, lang), "baseline"
    scores[scored] = part_scores
    for i, r in zip(np.flatnonzero(scored), part_reasons, strict=True):
        reasons[i] = r
    out = spec.output(features, scores, reasons, lang)
    out["source"] = source
    out["state"] = state.to_numpy()
    out["state_reason"] = ["" if s == SCORED else r for s, r in zip(state, reasons, strict=True)]
    return out


def unit_states(features: pd.DataFrame) -> pd.Series:
    """Each row's unit state (`scored` for a frame without a `state` column)."""
    if "state" not in features.columns:
        return pd.Series(SCORED, index=features.index, dtype="object")
    return features["state"].fillna(SCORED).astype(str)
