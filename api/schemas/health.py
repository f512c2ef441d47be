"""Liveness and readiness."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.models import ModelStatus


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Readiness(BaseModel):
    ready: bool = Field(
        description="The store answers and every model answers: its champion is loaded, or it has "
        "none and its baseline rule serves. A champion that fails to load is not ready."
    )
    store: bool
    models: list[ModelStatus]
    degraded: dict[str, str] = Field(
        default_factory=dict, description="Models served by their baseline rule (no champion), and why."
    )
    warm: bool = Field(
        description="The store snapshot and scoring frames are built (by-id scores, alert "
        "details and KPI runs answer without building them first). Not part of `ready`."
    )
