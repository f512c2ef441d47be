"""MLflow tracking and model registry: the ONE place that logs, registers and loads models.

Embedded default (DESIGN §9): SQLite tracking/registry store and artifacts under the perfml home
(`perfml.config.get_settings()`); a `PERFML_MLFLOW_URI` points it at a server instead. Every
function takes `settings=` for another home (a service built for it); reading never touches
MLflow's process-wide URIs, so services of different homes can live in one process.

- `log_and_register(model_name, model, ...)` -> `Registration`: one run with params, metrics,
  feature list, data fingerprint, report artifacts and the booster (`mlflow.lightgbm.log_model`
  with signature + input example), a new registered version, and the alias `champion` moved
  only if the new version beats the current champion on `test_metric` (or `force=True`, or
  there is no champion yet).
- `load_model(model_name, version=None)` -> `TrainedModel` (default: the `champion` alias),
  cached per store and resolved version, so serving can call it per request.
- `list_versions(names=None)` -> DataFrame of registered versions with metrics and champion flag.
"""
from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from perfml.config import Settings, get_settings
from perfml.errors import ModelNotFoundError
from perfml.modeling.model import TrainedModel

EXPERIMENT = "perfml"
CHAMPION = "champion"
_cache: dict[tuple[str, str, str], TrainedModel] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Registration:
    """Outcome of one logged training run."""

    run_id: str
    version: str
    promoted: bool
    previous_champion: str | None
    previous_metric: float | None


def client(*, settings: Settings | None = None):
    """An `MlflowClient` on the tracking/registry store of `settings` (default: the process-wide ones);
    the experiment is created on first use. MLflow's global URIs are left alone."""
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    settings = settings or get_settings()
    uri = settings.mlflow_tracking_uri
    c = MlflowClient(tracking_uri=uri, registry_uri=uri)
    if c.get_experiment_by_name(EXPERIMENT) is None:
        settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
        c.create_experiment(EXPERIMENT, artifact_location=settings.artifacts_dir.as_uri())
    return c


def _champion(c, model_name: str):
    from mlflow.exceptions import MlflowException

    try:
        return c.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None


def _metric_of(c, version, metric: str) -> float | None:
    value = c.get_run(version.run_id).data.metrics.get(metric)
    return None if value is None or math.isnan(value) else float(value)


def _clean_metrics(metrics: dict) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out[k] = f
    return out


def log_and_register(model_name: str, model: TrainedModel, *, params: dict, metrics: dict, fingerprint: str,
                     input_example: pd.DataFrame, test_metric: str, higher_is_better: bool = True,
                     report_dir: str | Path | None = None, tags: dict | None = None,
                     force: bool = False, settings: Settings | None = None) -> Registration:
    """Log one run, register a version, and move `champion` only if it beats the current one (or `force`)."""
    import mlflow
    import mlflow.lightgbm
    from mlflow.models import infer_signature

    settings = settings or get_settings()
    c = client(settings=settings)
    # start_run / log_model / register_model only take MLflow's process-wide URIs; training
    # writes to one home per process, so pointing them at this home is safe.
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment(EXPERIMENT)
    example = input_example.reindex(columns=model.features).astype("float64").head(5)
    signature = infer_signature(example, model.predict(example))
    with mlflow.start_run(run_name=model_name) as run:
        mlflow.set_tags({"perfml.model": model_name, "perfml.fingerprint": fingerprint, **(tags or {}),
                         **model.metadata()})
        mlflow.log_params({k: (v if len(str(v)) < 500 else str(v)[:497] + "...") for k, v in params.items()})
        mlflow.log_param("data_fingerprint", fingerprint)
        mlflow.log_param("n_features", len(model.features))
        mlflow.log_metrics(_clean_metrics(metrics))
        mlflow.log_dict({"features": model.features, "kind": model.kind, "threshold": model.threshold},
                        "features.json")
        if report_dir is not None and Path(report_dir).is_dir():
            mlflow.log_artifacts(str(report_dir), "report")
        info = mlflow.lightgbm.log_model(model.booster, name="model", signature=signature, input_example=example,
                                         pip_requirements=["lightgbm", "numpy", "pandas"])
        run_id = run.info.run_id
    mv = mlflow.register_model(info.model_uri, model_name, tags=model.metadata())
    # The run id of the version is what the promotion rule compares against.
    if mv.run_id is None or mv.run_id != run_id:
        c.set_model_version_tag(model_name, mv.version, "perfml.run_id", run_id)
    current = _champion(c, model_name)
    prev_metric = _metric_of(c, current, test_metric) if current is not None else None
    new_metric = _clean_metrics(metrics).get(test_metric)
    if force or current is None:
        promote = True
    elif new_metric is None:
        promote = False
    elif prev_metric is None:
        promote = True
    else:
        promote = new_metric > prev_metric if higher_is_better else new_metric < prev_metric
    if promote:
        c.set_registered_model_alias(model_name, CHAMPION, mv.version)
    return Registration(run_id=run_id, version=str(mv.version), promoted=promote,
                        previous_champion=None if current is None else str(current.version),
                        previous_metric=prev_metric)


def _run_id(version) -> str:
    return (version.tags or {}).get("perfml.run_id") or version.run_id


def load_model(model_name: str, version: str | int | None = None, *,
               settings: Settings | None = None) -> TrainedModel:
    """The registered model (default: the `champion`) as a `TrainedModel`; raises `ModelNotFoundError`."""
    import mlflow.artifacts
    import mlflow.lightgbm
    from mlflow.exceptions import MlflowException

    settings = settings or get_settings()
    uri = settings.mlflow_tracking_uri
    c = client(settings=settings)
    try:
        mv = c.get_model_version(model_name, str(version)) if version is not None else _champion(c, model_name)
    except MlflowException:
        mv = None
    if mv is None:
        what = f"version {version}" if version is not None else "champion"
        raise ModelNotFoundError(f"model {model_name!r} has no {what}; train it first (perfml train {model_name})")
    key = (uri, model_name, str(mv.version))
    with _lock:
        if key in _cache:
            return _cache[key]
    # Not `load_model("models:/...")`: MLflow resolves that through the process-wide registry URI
    # (even when download_artifacts is given one), i.e. possibly another home. This client resolves
    # the version's artifact location; the download gets the URI explicitly (an `mlflow-artifacts:`
    # location needs the server), and a local folder loads without any URI.
    location = c.get_model_version_download_uri(model_name, str(mv.version))
    local = mlflow.artifacts.download_artifacts(artifact_uri=location, tracking_uri=uri, registry_uri=uri)
    booster = mlflow.lightgbm.load_model(local)
    tags = mv.tags or {}
    extra = {k.removeprefix("perfml."): v for k, v in tags.items()
             if k.startswith("perfml.") and k not in ("perfml.kind", "perfml.threshold", "perfml.run_id")}
    model = TrainedModel(booster=booster, features=list(booster.feature_name()),
                         kind=tags.get("perfml.kind", "supervised"),
                         threshold=float(tags.get("perfml.threshold", 0.5)),
                         name=model_name, version=str(mv.version), extra=extra)
    with _lock:
        _cache[key] = model
    return model


def list_versions(names: list[str] | None = None, *, settings: Settings | None = None) -> pd.DataFrame:
    """Registered versions (newest first per model) with kind, champion flag, test metrics and run id."""
    c = client(settings=settings)
    rows = []
    for rm in c.search_registered_models():
        if names and rm.name not in names:
            continue
        champion = (rm.aliases or {}).get(CHAMPION)
        for mv in c.search_model_versions(f"name='{rm.name}'"):
            run_id = _run_id(mv)
            run = c.get_run(run_id) if run_id else None
            metrics = run.data.metrics if run else {}
            rows.append({"model": rm.name, "version": int(mv.version), "champion": str(mv.version) == str(champion),
                         "kind": (mv.tags or {}).get("perfml.kind", ""),
                         "created": pd.Timestamp(mv.creation_timestamp, unit="ms"),
                         **{k: v for k, v in metrics.items() if k.startswith(("model_", "baseline_"))},
                         "run_id": run_id})
    cols = ["model", "version", "champion", "kind", "created"]
    df = pd.DataFrame(rows, columns=None if rows else cols)
    return df.sort_values(["model", "version"], ascending=[True, False]).reset_index(drop=True) if rows else df


def clear_cache() -> None:
    """Forget loaded models (tests; a service reload)."""
    with _lock:
        _cache.clear()
