"""Model use cases: train pipelines into a home, read its registered versions, reload the served champions."""

from __future__ import annotations

import pandas as pd

from perfml import pipelines
from perfml.catalog import Lang
from perfml.dataset import Dataset
from perfml.home import Home
from perfml.modeling import registry
from perfml.pipelines import PIPELINE_NAMES
from perfml.pipelines.run import Engine, Progress, TrainResult, train_pipeline
from perfml.serving.champions import ServingModels


def train(
    *,
    home: Home,
    name: str,
    dataset: Dataset,
    force: bool = False,
    progress: Progress | None = None,
    engine: Engine | None = None,
) -> TrainResult:
    """Train pipeline `name` (configured by the home's settings) on `dataset`, register it in the home
    (`engine`: features and boosting elsewhere, e.g. `perfml.scale.DaskEngine`; None = pandas here)."""
    spec = pipelines.get_pipeline(name, home.settings)
    return train_pipeline(spec, dataset, home=home, force=force, progress=progress, engine=engine)


def versions(*, home: Home, names: list[str] | None = None) -> pd.DataFrame:
    """The home's registered versions (newest first per model) with metrics and champion flag."""
    return registry.list_versions(names, home=home)


def degraded(*, home: Home, champions: set[str]) -> dict[str, tuple[str, str]]:
    """Pipeline name -> (its baseline rule, why no champion) for every pipeline whose model is not in `champions`."""
    out = {}
    for name in PIPELINE_NAMES:
        spec = pipelines.get_pipeline(name, home.settings)
        if spec.model_name not in champions:
            out[name] = (spec.baseline_description, registry.why_no_champion(spec.model_name, home=home))
    return out


def profile(*, home: Home, dataset: Dataset, lang: Lang = "en") -> pd.DataFrame:
    """The high-performer profile of `dataset` explained by the home's champion (most important first)."""
    spec = pipelines.get_pipeline("high-performer", home.settings)
    return spec.profile(dataset, registry.load_model(spec.model_name, home=home), lang=lang)


def reload(*, models: ServingModels, by: str) -> tuple[dict[str, str | None], dict[str, dict], list[str]]:
    """Re-resolve every champion alias and load the versions that moved (retrying failed ones);
    (served version per model before, status per model after, names whose served version changed)."""
    before = {n: s["version"] for n, s in models.status().items()}
    status = models.load(by=by, force=False, retry_failed=True)
    return before, status, [n for n, s in status.items() if s["version"] != before[n]]


__all__ = ["degraded", "profile", "reload", "train", "versions"]
