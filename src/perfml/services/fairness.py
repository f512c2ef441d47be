"""The bias audit of a champion: selection and scoring rates per demographic group (`perfml audit`)."""

from __future__ import annotations

import pandas as pd

from perfml import pipelines
from perfml.dataset import Dataset
from perfml.fairness import MIN_SHARE, audit_model, require_demographics
from perfml.home import Home
from perfml.modeling import registry


def audit_champion(
    *, home: Home, name: str, dataset: Dataset, threshold: float | None = None, min_share: float = MIN_SHARE
) -> tuple[pd.DataFrame, dict]:
    """(audit table, summary) of the home's champion of pipeline `name` on `dataset` (needs demographics)."""
    require_demographics(dataset)  # before a model is loaded: the data decides first
    spec = pipelines.get_pipeline(name, home.settings)
    model = registry.load_model(spec.model_name, home=home)
    return audit_model(spec, dataset, model=model, threshold=threshold, min_share=min_share)


__all__ = ["audit_champion"]
