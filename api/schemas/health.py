"""Liveness and readiness."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.models import ModelStatus


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Readiness(BaseModel):
    ready: bool = Field(description="Every champion loaded and the store answers.")
    store: bool
    models: list[ModelStatus]
    warm: bool = Field(description="The store snapshot and scoring frames are built (by-id scores, alert "
                                   "details and KPI runs answer without building them first). Not part of `ready`.")
