"""The model pipelines by CLI name, and the runner that trains, scores and explains any of them.

Each pipeline lives in `perfml/pipelines/<package>/`: pure `nodes.py` and a `pipeline.py`
defining a `perfml.modeling.PipelineSpec` subclass. The three packages do not import each other
(an import-linter contract in pyproject.toml); what they share lives in `perfml.metrics` and
`perfml.modeling`. The runner is `perfml.pipelines.run` (`train_pipeline`, `score_pipeline`).

    from perfml.pipelines import get_pipeline, PIPELINE_NAMES
    spec = get_pipeline("transfer-anomaly")
"""

from __future__ import annotations

from collections.abc import Callable

from perfml.config import DEFAULTS, Settings
from perfml.modeling.spec import PipelineSpec
from perfml.pipelines.decline.pipeline import DeclinePipeline
from perfml.pipelines.high_performer.pipeline import HighPerformer
from perfml.pipelines.transfer_anomaly.pipeline import from_settings as transfer_anomaly_from_settings

# name -> builder from a company's settings (only transfer-anomaly reads any: keywords and flows)
PIPELINES: dict[str, Callable[[Settings], PipelineSpec]] = {
    "transfer-anomaly": transfer_anomaly_from_settings,
    "decline": lambda settings: DeclinePipeline(),
    "high-performer": lambda settings: HighPerformer(),
}
PIPELINE_NAMES: tuple[str, ...] = tuple(PIPELINES)


def get_pipeline(name: str, settings: Settings | None = None) -> PipelineSpec:
    """A new `PipelineSpec` of the pipeline registered under `name`, configured by `settings` (a home's;
    None: the defaults, without reading the environment); KeyError for unknown names."""
    if name not in PIPELINES:
        raise KeyError(f"unknown pipeline {name!r}; choose from {', '.join(PIPELINE_NAMES)}")
    return PIPELINES[name](settings or DEFAULTS)


__all__ = ["PIPELINES", "PIPELINE_NAMES", "get_pipeline"]
