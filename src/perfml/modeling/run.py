"""The shared runner: train, score and explain any registered pipeline the same way.

- `train_pipeline(name, dataset, *, force=False, register=True, progress=None)` -> `TrainResult`:
  features -> labels -> time split -> fit on train -> model AND baseline metrics on the
  labelled test rows -> report PNGs -> MLflow run + registered version (+ champion if better).
- `score_pipeline(name, dataset, *, as_of=None, top_k=3, lang="en")` -> DataFrame with the
  pipeline's output columns (key, score column, `reasons`), using the champion.
- `explain_pipeline(name, dataset, *, as_of=None)` -> (feature frame, `Explanations`).

`name` is a pipeline name ("transfer-anomaly", "decline", "high-performer") or a `PipelineSpec`.
`progress(stage, fraction)` is an optional callback (the CLI passes a progress bar).
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from perfml.dataset import Dataset
from perfml.errors import PerfmlError
from perfml.modeling.evaluate import side_by_side, write_report
from perfml.modeling.model import TrainedModel
from perfml.modeling.spec import PipelineSpec

Progress = Callable[[str, float], None]
SHAP_SAMPLE = 2000


def _spec(name: str | PipelineSpec) -> PipelineSpec:
    if isinstance(name, PipelineSpec):
        return name
    from perfml.pipelines import get_pipeline

    return get_pipeline(name)


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
    run_id: str | None = None
    version: str | None = None
    promoted: bool = False
    previous_champion: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready summary (no model, no frames)."""
        return {"pipeline": self.pipeline, "model_name": self.model_name, "kind": self.kind,
                "metrics": self.metrics, "split": self.split, "n_features": len(self.features),
                "seconds": self.seconds, "run_id": self.run_id, "version": self.version,
                "promoted": self.promoted, "previous_champion": self.previous_champion}


def train_pipeline(name: str | PipelineSpec, dataset: Dataset, *, force: bool = False, register: bool = True,
                   report: bool = True, progress: Progress | None = None) -> TrainResult:
    """Build, fit, evaluate (test side only) and (if `register`) log + register one pipeline's model."""
    spec = _spec(name)
    say = progress or (lambda stage, fraction: None)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = round(now - clock, 3)
        clock = now

    say("features", 0.02)
    features = spec.build_features(dataset).reset_index(drop=True)
    lap("features")
    say("labels", 0.35)
    labels = spec.build_labels(dataset, features).reset_index(drop=True).astype("float64")
    label_known = spec.label_known_at(dataset, features)
    split = (spec.split(features, labels) if label_known is None
             else spec.split(features, labels, label_known_at=label_known.reset_index(drop=True)))
    cols = spec.feature_columns(features)
    X = features[cols].astype("float64")
    lap("labels_split")
    say("fit", 0.45)
    model = spec.fit(X[split.train].reset_index(drop=True), labels[split.train].reset_index(drop=True))
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
        metrics.update(spec.extra_metrics(features[split.test].reset_index(drop=True)[lab], y,
                                          test.loc[lab, "score"].to_numpy(), test.loc[lab, "baseline"].to_numpy()))
    else:
        metrics = {"model_n": float(lab.sum())}  # unlabelled test side: nothing honest to report
    metrics.update({"n_train": float(split.train.sum()), "n_test": float(split.test.sum()),
                    "n_test_labelled": float(lab.sum())})
    lap("evaluate")
    result = TrainResult(spec.name, spec.model_name, model.kind, metrics, split.summary(), cols, seconds, model, test)
    if not register:
        return result
    say("report", 0.8)
    with tempfile.TemporaryDirectory(prefix="perfml-report-") as tmp:
        if report:
            _report(spec, tmp, test, Xt, model, features[split.test].reset_index(drop=True))
        lap("report")
        say("register", 0.9)
        from perfml.modeling.registry import log_and_register

        reg = log_and_register(spec.model_name, model, params={**spec.params(), **split.summary(), "kind": model.kind},
                               metrics=metrics, fingerprint=dataset.fingerprint(), input_example=X.head(5),
                               test_metric=spec.test_metric, report_dir=tmp, force=force,
                               tags={"perfml.pipeline": spec.name})
    lap("register")
    result.run_id, result.version, result.promoted = reg.run_id, reg.version, reg.promoted
    result.previous_champion = reg.previous_champion
    say("done", 1.0)
    return result


def _report(spec: PipelineSpec, out: str, test: pd.DataFrame, Xt: pd.DataFrame, model: TrainedModel,
            test_features: pd.DataFrame) -> None:
    from perfml.explain import explain

    lab = test["label"].notna().to_numpy()
    sample = Xt.sample(min(len(Xt), SHAP_SAMPLE), random_state=0) if len(Xt) else Xt
    ex = explain(model, sample)
    y = test.loc[lab, "label"].to_numpy()
    lead = spec.lead_times(test_features[lab], y, test.loc[lab, "score"].to_numpy()) if lab.any() else None
    write_report(out, y, test.loc[lab, "score"], test.loc[lab, "baseline"], title=spec.name,
                 contributions=ex.contributions, values=ex.values, feature_names=ex.feature_names, lead_times=lead)


def explain_pipeline(name: str | PipelineSpec, dataset: Dataset, *, as_of=None, model: TrainedModel | None = None):
    """(scoring frame, `Explanations`) for every unit scoreable at `as_of` (default: all), with the champion."""
    from perfml.explain import explain
    from perfml.modeling.registry import load_model

    spec = _spec(name)
    model = model or load_model(spec.model_name)
    as_of = None if as_of is None else pd.Timestamp(as_of)
    features = spec.scoring_rows(spec.build_features(dataset, as_of=as_of), as_of).reset_index(drop=True)
    missing = [c for c in model.features if c not in features.columns]
    if missing:
        raise PerfmlError(f"model {spec.model_name!r} v{model.version} needs features the data lacks: {missing[:5]}")
    return features, explain(model, features)


def score_pipeline(name: str | PipelineSpec, dataset: Dataset, *, as_of=None, model: TrainedModel | None = None,
                   top_k: int = 3, lang: str = "en") -> pd.DataFrame:
    """Score every unit with the champion: the pipeline's output columns plus one-line reasons."""
    spec = _spec(name)
    features, ex = explain_pipeline(spec, dataset, as_of=as_of, model=model)
    return spec.output(features, ex.score, ex.reasons(top_k, lang))
