"""Registry of the model pipelines by CLI name; each is imported only when asked for.

Each pipeline lives in `perfml/pipelines/<package>/` with pure `nodes.py` and a `pipeline.py`
that exposes `PIPELINE`, an instance of a `perfml.modeling.PipelineSpec` subclass.

    from perfml.pipelines import get_pipeline, PIPELINE_NAMES
    spec = get_pipeline("transfer-anomaly")

A pipeline with per-company configuration also exposes `from_settings(settings)`; `get_pipeline`
builds it from the given `Settings` (a home's) instead of returning `PIPELINE`, its default configuration.
"""
from __future__ import annotations

import importlib

from perfml.config import Settings
from perfml.errors import PerfmlError

PIPELINES: dict[str, str] = {
    "transfer-anomaly": "perfml.pipelines.transfer_anomaly.pipeline",
    "decline": "perfml.pipelines.decline.pipeline",
    "high-performer": "perfml.pipelines.high_performer.pipeline",
}
PIPELINE_NAMES: tuple[str, ...] = tuple(PIPELINES)


class PipelineNotAvailable(PerfmlError):
    """The name is known but its package is not installed/implemented yet."""


def get_pipeline(name: str, settings: Settings | None = None):
    """The `PipelineSpec` instance registered under `name`, configured by `settings` (None: the
    pipeline's default configuration); KeyError for unknown names."""
    if name not in PIPELINES:
        raise KeyError(f"unknown pipeline {name!r}; choose from {', '.join(PIPELINE_NAMES)}")
    module_name = PIPELINES[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise PipelineNotAvailable(f"pipeline {name!r} is not available yet ({module_name} is missing)") from None
        raise
    build = getattr(module, "from_settings", None)
    return module.PIPELINE if build is None or settings is None else build(settings)


def available() -> list[str]:
    """Names whose pipeline modules import."""
    out = []
    for name in PIPELINES:
        try:
            get_pipeline(name)
        except PipelineNotAvailable:
            continue
        out.append(name)
    return out


__all__ = ["PIPELINES", "PIPELINE_NAMES", "PipelineNotAvailable", "available", "get_pipeline"]
