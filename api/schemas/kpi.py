"""KPI scorecards and bonuses: evaluate a plan for a period, what-if."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Period = Annotated[str, StringConstraints(pattern=r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$")]


class PlanInfo(BaseModel):
    id: str
    version: str
    name: str | None = None
    currency: str
    effective_from: str
    effective_to: str | None = None
    hash: str = Field(description="sha256 of the plan's canonical content.")
    segments: list[str]


class EvaluateRequest(BaseModel):
    """Evaluate a plan for one period: one employee or everyone visible to the caller."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"plan": "sales-default", "period": "2024-06", "employee_id": None}]},
    )

    plan: str = Field("sales-default", description="A built-in plan (`GET /v1/kpi/plans`).")
    plan_yaml: str | None = Field(
        None, max_length=100_000, description="A plan as YAML text instead of `plan` (hr_admin only); validated."
    )
    period: Period = Field(description="YYYY-MM")
    employee_id: str | None = Field(None, max_length=128)


class WhatIfRequest(BaseModel):
    """Re-evaluate one employee-period with some metric values replaced (derived metrics follow)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"plan": "sales-default", "period": "2024-06", "employee_id": "E0001", "overrides": {"revenue": 130000}}
            ]
        },
    )

    plan: str = "sales-default"
    plan_yaml: str | None = Field(None, max_length=100_000)
    period: Period
    employee_id: str = Field(min_length=1, max_length=128)
    overrides: dict[str, Annotated[float, Field(allow_inf_nan=False)]] = Field(
        min_length=1, max_length=50, description='metric -> value, e.g. {"revenue": 130000}.'
    )


class KpiRun(BaseModel):
    """Scorecards and payouts with traces (money as exact decimal text)."""

    plan: dict[str, Any] = Field(description="Plan id, version, name, content hash, effective dates.")
    periods: list[str]
    currency: str
    summary: dict[str, Any]
    results: list[dict[str, Any]] = Field(
        description="Per employee-period: scorecard, line items with rule ids, "
        "inputs (source rows), formulas and values; total."
    )
    holds: list[dict[str, Any]] = Field(description="Transfers held for review (visible to the caller).")
    skipped: list[dict[str, Any]]
    total: int = Field(description="Results over all pages.")
    limit: int
    offset: int
    next_offset: int | None = None


class KpiResult(BaseModel):
    """One employee-period result with its trace."""

    plan: dict[str, Any]
    result: dict[str, Any]


class DiffRequest(BaseModel):
    """Explain what changed between two periods of one plan over the store's data, line by line."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"plan": "sales-default", "period": "2024-06", "against": "2024-05"}]},
    )

    plan: str = "sales-default"
    plan_yaml: str | None = Field(None, max_length=100_000)
    period: Period = Field(description="The period whose changes to explain, YYYY-MM.")
    against: Period = Field(description="The period it is compared with, YYYY-MM.")
    employee_id: str | None = Field(None, max_length=128)


class KpiDiff(BaseModel):
    """Changed lines (value, rule, inputs by name with their Δ) and totals; money as exact decimal text."""

    before: dict[str, Any] = Field(description="The `against` side: plan id, version, hash; periods; data fingerprint.")
    after: dict[str, Any]
    plan_changed: bool
    total_delta: str
    totals: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    text: str = Field(description="The same comparison as plain text.")
