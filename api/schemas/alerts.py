"""Alerts, their review and refresh."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Day

AlertType = Literal["transfer_anomaly", "decline", "low_performer", "review_list", "reminder"]
AlertStatus = Literal["open", "confirmed", "dismissed"]


class AlertSummary(BaseModel):
    """An alert as listed (no explanation)."""

    model_config = ConfigDict(
        protected_namespaces=(),
        json_schema_extra={
            "examples": [
                {
                    "id": 151,
                    "type": "transfer_anomaly",
                    "status": "open",
                    "summary": "change OC20888 to E0045: anomaly score 0.71",
                    "subject_id": "OC20888",
                    "change_id": "OC20888",
                    "employee_id": "E0045",
                    "team_id": "T06",
                    "period": None,
                    "as_of": "2026-10-21T15:44:20Z",
                    "score": 0.714,
                    "model_name": "transfer-anomaly",
                    "model_version": "1",
                    "created_at": "2026-11-23T16:05:18Z",
                    "updated_at": "2026-11-23T16:05:18Z",
                }
            ]
        },
    )

    id: int
    type: AlertType
    status: AlertStatus
    summary: str = Field(description="One line for a list.")
    subject_id: str = Field(description="change_id for transfer alerts, else employee_id.")
    change_id: str | None = None
    employee_id: str | None = None
    team_id: str | None = None
    period: str | None = None
    as_of: datetime | None = Field(None, description="The alert's date: change time, month end or day (UTC).")
    score: float | None = Field(None, description="Model score, or scorecard total for rule alerts.")
    model_name: str | None = Field(None, description="Model (or plan) that raised it.")
    model_version: str | None = None
    created_at: datetime
    updated_at: datetime


class Review(BaseModel):
    decision: Literal["confirm", "dismiss"]
    note: str | None = None
    reviewer: str
    reviewed_at: datetime


class TrajectoryPoint(BaseModel):
    """One month of an employee's metrics (the metrics layer's definitions)."""

    period: str
    revenue: float | None = None
    revenue_target: float | None = None
    attainment: float | None = None
    orders: float | None = None
    new_customers: float | None = None
    visits: float | None = None
    activities: float | None = None
    lead_conversion_rate: float | None = None
    avg_satisfaction: float | None = None


class AlertDetail(AlertSummary):
    """An alert with its full explanation (model factors or rule evidence), trajectory and reviews."""

    explanation: dict[str, Any] | None = Field(
        None,
        description="`kind: model` - score, base value, factors with reasons in the requested language, "
        "context; `kind: rule` - the rule, plan version, evidence and suggestion.",
    )
    trajectory: list[TrajectoryPoint] = Field(description="The employee's recent months, oldest first.")
    reviews: list[Review]


class ReviewRequest(BaseModel):
    """A person's decision on an alert."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"decision": "confirm", "note": "Customer was ready to sign before the handover; crediting voided."}
            ]
        },
    )

    decision: Literal["confirm", "dismiss"] = Field(
        description="`confirm`: the alert is right (a transfer becomes an anomalous label and is voided in "
        "crediting); `dismiss`: it is not (label 0, revenue released)."
    )
    note: str | None = Field(None, max_length=2000)


class RefreshRequest(BaseModel):
    """What to refresh alerts for."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"as_of": None, "plan": "sales-default"}]}
    )

    as_of: Day | None = Field(None, description="Default: the day after the last event in the store.")
    plan: str = Field("sales-default", description="Built-in plan whose reminder and review-list rules run.")
    thresholds: dict[Literal["transfer-anomaly", "decline"], Annotated[float, Field(gt=0, lt=1)]] | None = Field(
        None, description="Alert threshold per model on its score (default: each model's own threshold)."
    )


class RefreshResponse(BaseModel):
    as_of: str
    alerts: dict[str, int] = Field(description="Alerts created or refreshed, per type.")
    models: dict[str, str] = Field(description="Model versions used.")
    thresholds: dict[str, float] = Field(description="Alert thresholds used.")
    plan: dict[str, str] | None = None
    skipped: list[str] = Field(description="Parts skipped and why (e.g. a model not trained yet).")
