"""Disputes on statement lines: open, list, resolve (accept with an adjustment, or reject)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.kpi import Period
from perfml.services.disputes import TEXT_MAX

DisputeStatus = Literal["open", "accepted", "rejected"]


class OpenDisputeRequest(BaseModel):
    """Dispute one line of a statement (employee keys: their own; managers and HR name the employee)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "plan": "sales-default",
                    "period": "2024-06",
                    "line": "commission",
                    "message": "Order O123 closed on 28 June is missing from my revenue.",
                }
            ]
        },
    )

    plan: str = Field("sales-default", max_length=128, description="A built-in plan (`GET /v1/kpi/plans`).")
    period: Period = Field(description="The disputed period, YYYY-MM.")
    employee_id: str | None = Field(None, max_length=128, description="Default: the caller's own (employee keys).")
    line: str = Field(min_length=1, max_length=64, description="The line's name, e.g. `commission`.")
    message: str = Field(max_length=TEXT_MAX, description="What is wrong (1 to 2000 characters).")


class ResolveDisputeRequest(BaseModel):
    """Accept (an adjustment, exact decimal text, paid in an open period) or reject, with a reason."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"decision": "accept", "amount": "250.00", "reason": "O123 was credited to the wrong person."},
                {"decision": "reject", "reason": "O123 closed on 2 July: it counts in July."},
            ]
        },
    )

    decision: Literal["accept", "reject"]
    reason: str = Field(max_length=TEXT_MAX, description="Why (1 to 2000 characters); required either way.")
    amount: str | None = Field(
        None,
        max_length=40,
        description='Accept only: the adjustment as exact decimal text, at most 2 places, |amount| <= 1e9 ("-80.50").',
    )
    pay_period: Period | None = Field(
        None, description="Accept only: the open period it is paid in (default: the disputed one)."
    )


class Dispute(BaseModel):
    """A dispute: the line as it read when opened, the message, and the resolution (money as exact text)."""

    id: int
    plan_id: str
    plan_version: str
    plan_hash: str
    period: str
    employee_id: str
    team_id: str | None = None
    line: str
    rule: str = Field(description="The line's rule id in the plan.")
    line_value: str = Field(description="The line's value when the dispute was opened.")
    message: str
    status: DisputeStatus
    opened_by: str
    opened_at: datetime
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    reason: str | None = None
    amount: str | None = Field(None, description="Accepted: the adjustment.")
    pay_period: str | None = Field(None, description="Accepted: the period the adjustment is paid in.")
    adjustment_id: int | None = Field(None, description="Accepted: its `pay_adjustments` row.")
