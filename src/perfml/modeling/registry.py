"""MLflow tracking and model registry: the ONE place that logs, registers and loads models.

Every function takes the `home` (`perfml.home.Home`) whose registry it works on: by default a
SQLite tracking/registry store and artifacts in the home folder, or the server its
`PERFML_MLFLOW_URI` names. Reading goes through the home's own `MlflowClient` and never touches
MLflow's process-wide URIs; only logging a run needs them (`_run_in`), so homes of different
folders live side by side in one process.

- `log_and_register(model_name, model, ...)` -> `Registration`: one run with params, metrics,
  feature list, data fingerprint, report artifacts and the booster (`mlflow.lightgbm.log_model`
  with signature + input example), a new registered version tagged with the SHA-256 of its
  model file (`perfml.sha256`), and the alias `champion` moved only if the run passed its
  evidence gate (`refusal` None) and beats the current champion on `test_metric` (or there is
  no champion yet) - or `force=True`. A refusal is on the run (tag + param `not_promoted`).
- `load_model(model_name, version=None, *, home)` -> `TrainedModel` (default: the `champion` alias),
  cached per store and resolved version, so serving can call it per request. The model file's
  SHA-256 is checked before LightGBM reads it (`ModelIntegrityError` on a mismatch: LightGBM
  aborts the process on some damaged files). Versions registered before checksums existed are
  parsed once in a child process first.
- `list_versions(names=None, *, home)` -> DataFrame of registered versions with metrics, champion
  flag and `not_promoted`; `why_no_champion(name, home=)` says why a model has no champion;
  `champion_version(name, home=)` is the version the alias points at; `champion_or_none` loads it.
"""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from perfml.errors import ModelNotFoundError, PerfmlError
from perfml.home import Home
from perfml.modeling.model import TrainedModel

EXPERIMENT = "perfml"
CHAMPION = "champion"
SHA_TAG = "perfml.sha256"  # model version tag: SHA-256 of MODEL_FILE at registration
MODEL_FILE = "model.lgb"  # the file of the MLflow lightgbm flavour that LightGBM parses
_cache: dict[tuple[str, str, str], TrainedModel] = {}
_lock = threading.Lock()
_globals_lock = threading.Lock()  # one logged run at a time holds MLflow's process-wide URIs
_experiments: set[str] = set()  # tracking URIs whose experiment is known to exist


class ModelIntegrityError(PerfmlError):
    """A registered model file is missing, damaged or changed since registration."""


@dataclass(frozen=True)
class Registration:
    """Outcome of one logged training run."""

    run_id: str
    version: str
    promoted: bool
    previous_champion: str | None
    previous_metric: float | None
    not_promoted: str | None = None  # why the version did not become champion (None when it did)


def client(*, home: Home):
    """The home's `MlflowClient`, its experiment created on first use. MLflow's global URIs are left alone."""
    c = home.mlflow_client
    if home.mlflow_uri not in _experiments:
        if c.get_experiment_by_name(EXPERIMENT) is None:
            home.artifacts_dir.mkdir(parents=True, exist_ok=True)
            c.create_experiment(EXPERIMENT, artifact_location=home.artifacts_dir.as_uri())
        _experiments.add(home.mlflow_uri)
    return c


@contextmanager
def _run_in(home: Home) -> Iterator[None]:
    """MLflow's process-wide URIs pointed at `home` while a run is logged, and restored after.

    `mlflow.start_run`, `log_model` and `register_model` take no URI of their own: this is the one
    place that sets the globals. Runs are logged one at a time in the process (a lock), so a run of
    another home never sees them; everything else reads through the home's own client."""
    import mlflow

    with _globals_lock:
        before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
        mlflow.set_tracking_uri(home.mlflow_uri)
        mlflow.set_registry_uri(home.mlflow_uri)
        try:
            mlflow.set_experiment(EXPERIMENT)
            yield
        finally:
            mlflow.set_tracking_uri(before[0])
            mlflow.set_registry_uri(before[1])


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


def log_and_register(
    model_name: str,
    model: TrainedModel,
    *,
    params: dict,
    metrics: dict,
    fingerprint: str,
    input_example: pd.DataFrame,
    test_metric: str,
    higher_is_better: bool = True,
    report_dir: str | Path | None = None,
    tags: dict | None = None,
    refusal: str | None = None,
    force: bool = False,
    home: Home,
) -> Registration:
    """Log one run, register a version (with its model file's SHA-256), and move `champion` only if the
    run passed its evidence gate (`refusal` is None) and beats the current champion - or `force`.

    The outcome is on the run: tag + param `not_promoted` (why not), tag `perfml.forced` when forced."""
    import mlflow
    import mlflow.lightgbm
    from mlflow.models import infer_signature

    c = client(home=home)
    example = input_example.reindex(columns=model.features).astype("float64").head(5)
    signature = infer_signature(example, model.predict(example))
    with _run_in(home), mlflow.start_run(run_name=model_name) as run:
        mlflow.set_tags(
            {"perfml.model": model_name, "perfml.fingerprint": fingerprint, **(tags or {}), **model.metadata()}
        )
        mlflow.log_params({k: _param(v) for k, v in params.items()})
        mlflow.log_param("data_fingerprint", fingerprint)
        mlflow.log_param("n_features", len(model.features))
        mlflow.log_metrics(_clean_metrics(metrics))
        mlflow.log_dict({"features": model.features, "kind": model.kind, "threshold": model.threshold}, "features.json")
        if report_dir is not None and Path(report_dir).is_dir():
            mlflow.log_artifacts(str(report_dir), "report")
        info = mlflow.lightgbm.log_model(
            model.booster,
            name="model",
            signature=signature,
            input_example=example,
            pip_requirements=["lightgbm", "numpy", "pandas"],
        )
        run_id = run.info.run_id
        mv = mlflow.register_model(info.model_uri, model_name, tags=model.metadata())
        # The run id of the version is what the promotion rule compares against.
        if mv.run_id is None or mv.run_id != run_id:
            c.set_model_version_tag(model_name, mv.version, "perfml.run_id", run_id)
        c.set_model_version_tag(
            model_name, mv.version, SHA_TAG, file_sha256(_model_file(c, model_name, mv.version, home))
        )
        current = _champion(c, model_name)
        prev_metric = _metric_of(c, current, test_metric) if current is not None else None
        new_metric = _clean_metrics(metrics).get(test_metric)
        why_not = refusal
        if why_not is None and current is not None:
            if new_metric is None:
                why_not = f"no {test_metric} on the test side to compare with champion version {current.version}"
            elif prev_metric is not None and not (
                new_metric > prev_metric if higher_is_better else new_metric < prev_metric
            ):
                why_not = (
                    f"{test_metric} {new_metric:.3f} does not beat champion version {current.version}'s "
                    f"{prev_metric:.3f}"
                )
        promote = force or why_not is None
        if why_not is not None:
            mlflow.set_tag("perfml.not_promoted", why_not[:5000])
            mlflow.log_param("not_promoted", _param(why_not))
        if force:
            mlflow.set_tag("perfml.forced", "true" if why_not is None else f"true (over: {why_not[:4900]})")
        if promote:
            c.set_registered_model_alias(model_name, CHAMPION, mv.version)
    return Registration(
        run_id=run_id,
        version=str(mv.version),
        promoted=promote,
        previous_champion=None if current is None else str(current.version),
        previous_metric=prev_metric,
        not_promoted=None if promote else why_not,
    )


def _param(value) -> str:
    text = str(value)
    return text if len(text) < 500 else text[:497] + "..."


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _model_file(c, model_name: str, version, home: Home) -> Path:
    """The local copy of the version's LightGBM file (`model.lgb` of the MLflow lightgbm flavour)."""
    import mlflow.artifacts

    uri = home.mlflow_uri
    location = c.get_model_version_download_uri(model_name, str(version))
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=location, tracking_uri=uri, registry_uri=uri))
    return local / MODEL_FILE


def _verify(model_name: str, version, path: Path, expected: str | None) -> None:
    """Refuse a model file whose bytes are not the ones registered, before LightGBM parses it.

    LightGBM aborts or segfaults the whole process on some truncated or bit-flipped files, so a
    corrupted file must never reach it. Versions registered before checksums were recorded have
    no digest: their file is parsed once in a child process first, so a crash kills only the child."""
    if not path.is_file():
        raise ModelIntegrityError(
            f"model {model_name!r} version {version}: its model file {MODEL_FILE} is missing; "
            f"retrain it (perfml train {model_name})"
        )
    if expected is not None:
        actual = file_sha256(path)
        if actual != expected:
            raise ModelIntegrityError(
                f"model {model_name!r} version {version}: {MODEL_FILE} does not match the SHA-256 recorded at "
                f"registration (the file was changed or damaged: {path.stat().st_size:,} bytes, sha256 "
                f"{actual[:12]}..., expected {expected[:12]}...); restore the file or retrain "
                f"(perfml train {model_name})"
            )
        return
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, lightgbm; lightgbm.Booster(model_file=sys.argv[1])", str(path)],
        capture_output=True,
        timeout=300,
    )
    if probe.returncode != 0:
        raise ModelIntegrityError(
            f"model {model_name!r} version {version}: {MODEL_FILE} cannot be parsed "
            f"(checked in a separate process, exit code {probe.returncode}); retrain it "
            f"(perfml train {model_name})"
        )


def _run_id(version) -> str:
    return (version.tags or {}).get("perfml.run_id") or version.run_id


def load_model(model_name: str, version: str | int | None = None, *, home: Home) -> TrainedModel:
    """The registered model (default: the `champion`) as a `TrainedModel`; raises `ModelNotFoundError`."""
    import mlflow.lightgbm
    from mlflow.exceptions import MlflowException

    uri = home.mlflow_uri
    c = client(home=home)
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
    file = _model_file(c, model_name, mv.version, home)
    tags = mv.tags or {}
    _verify(model_name, mv.version, file, tags.get(SHA_TAG))
    booster = mlflow.lightgbm.load_model(str(file.parent))
    extra = {
        k.removeprefix("perfml."): v
        for k, v in tags.items()
        if k.startswith("perfml.") and k not in ("perfml.kind", "perfml.threshold", "perfml.run_id", SHA_TAG)
    }
    model = TrainedModel(
        booster=booster,
        features=list(booster.feature_name()),
        kind=tags.get("perfml.kind", "supervised"),
        threshold=float(tags.get("perfml.threshold", 0.5)),
        name=model_name,
        version=str(mv.version),
        extra=extra,
    )
    with _lock:
        _cache[key] = model
    return model


def list_versions(names: list[str] | None = None, *, home: Home) -> pd.DataFrame:
    """Registered versions (newest first per model) with kind, champion flag, test metrics and run id."""
    c = client(home=home)
    rows = []
    for rm in c.search_registered_models():
        if names and rm.name not in names:
            continue
        champion = (rm.aliases or {}).get(CHAMPION)
        for mv in c.search_model_versions(f"name='{rm.name}'"):
            run_id = _run_id(mv)
            run = c.get_run(run_id) if run_id else None
            metrics = run.data.metrics if run else {}
            rows.append(
                {
                    "model": rm.name,
                    "version": int(mv.version),
                    "champion": str(mv.version) == str(champion),
                    "kind": (mv.tags or {}).get("perfml.kind", ""),
                    "created": pd.Timestamp(mv.creation_timestamp, unit="ms"),
                    **{k: v for k, v in metrics.items() if k.startswith(("model_", "baseline_"))},
                    "not_promoted": run.data.tags.get("perfml.not_promoted", "") if run else "",
                    "run_id": run_id,
                }
            )
    cols = ["model", "version", "champion", "kind", "created"]
    df = pd.DataFrame(rows, columns=None if rows else cols)
    return df.sort_values(["model", "version"], ascending=[True, False]).reset_index(drop=True) if rows else df


def why_no_champion(model_name: str, *, home: Home) -> str:
    """Plain words for a model without a champion: never trained, or why its newest version was refused."""
    c = client(home=home)
    versions = sorted(c.search_model_versions(f"name='{model_name}'"), key=lambda v: int(v.version))
    if not versions:
        return f"never trained (perfml train {model_name})"
    newest = versions[-1]
    run_id = _run_id(newest)
    reason = c.get_run(run_id).data.tags.get("perfml.not_promoted") if run_id else None
    return f"version {newest.version} was not promoted: {reason}" if reason else "no version is champion"


def champion_version(model_name: str, *, home: Home) -> str | None:
    """The version the `champion` alias points at in the home's registry (None when there is none)."""
    champion = _champion(client(home=home), model_name)
    return None if champion is None else str(champion.version)


def champion_or_none(model_name: str, *, home: Home) -> TrainedModel | None:
    """The home's champion of `model_name`, or None when no version has earned it (scoring then uses the baseline)."""
    try:
        return load_model(model_name, home=home)
    except ModelNotFoundError:
        return None


def clear_cache() -> None:
    """Forget loaded models (tests; a service reload)."""
    with _lock:
        _cache.clear()
