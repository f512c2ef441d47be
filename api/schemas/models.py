"""Registered models, the served champions, and reloads."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelStatus(BaseModel):
    """What the service serves for one model."""

    name: str
    loaded: bool
    version: str | None = Field(None, description="Version being served.")
    champion: str | None = Field(None, description="Version the registry's `champion` alias points at.")
    kind: str | None = None
    threshold: float | None = None
    loaded_at: datetime | None = None
    error: str | None = Field(None, description="Why the model is not (or not the newest version) served.")
    source: Literal["model", "baseline"] | None = Field(
        None,
        description="Who answers scoring requests: the champion (`model`), the pipeline's baseline rule "
        "when there is no champion (`baseline`), or nobody yet (null: loading or failed).",
    )
    degraded: str | None = Field(None, description="Why the baseline rule answers instead of a model.")


class ModelVersion(BaseModel):
    version: int
    champion: bool
    kind: str | None = None
    created: datetime | None = None
    metrics: dict[str, float] = Field(description="Test-side metrics of the model and its baseline.")


class FeatureInfo(BaseModel):
    name: str
    display_name_en: str
    display_name_zh: str
    unit: str
    description: str


class ModelInfo(ModelStatus):
    model_config = ConfigDict(protected_namespaces=())

    versions: list[ModelVersion]


class ModelDetail(ModelInfo):
    features: list[FeatureInfo] = Field(description="The served version's inputs, in order, from the catalog.")


class ReloadResponse(BaseModel):
    models: list[ModelStatus]
    changed: list[str] = Field(description="Models whose served version changed.")
