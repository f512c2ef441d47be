"""Audit log entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AuditEntry(BaseModel):
    id: int
    at: datetime
    principal: str = Field(description="Who: `key:<id>/<role>[:scope]`, `cli`, or `system`.")
    action: str = Field(
        description="What: score, alert.review, alerts.refresh, key.create, plan.evaluate, "
        "model.change, model.reload, ingest ..."
    )
    target: str | None = None
    model_or_plan_version: str | None = None
    request_id: str | None = None
    details: dict[str, Any] | None = None
