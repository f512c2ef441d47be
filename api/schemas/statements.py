"""Pay statements of a plan's period: lines per employee, frozen once the period is closed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class StatementLine(BaseModel):
    """One line of a statement; `id` is stable across runs (what a dispute names)."""

    id: str = Field(
        description="The rule path (`<rule>#<n>` for a rule's n-th line), `adjustment#<period>` or "
        "`pay_adjustments#<row id>`."
    )
    name: str
    rule: str
    value: str = Field(description="Money as exact decimal text, in the plan's currency.")
    formula: str
    note: str | None = None
    for_period: str | None = Field(None, description="The period an adjustment line pays for.")


class EmployeeStatement(BaseModel):
    employee_id: str
    segment: str | None = Field(description="None when only adjustment lines pay them this period.")
    lines: list[StatementLine]
    total: str


class StatementOut(BaseModel):
    """A period's statement: the frozen one when closed, else evaluated with its adjustment lines."""

    plan: dict[str, Any] = Field(description="Plan id, version and content hash.")
    period: str
    currency: str
    status: str = Field(description="`open` or `closed`.")
    hash: str = Field(description="sha256 of the whole statement's canonical JSON.")
    closed_by: str | None = None
    closed_at: str | None = Field(None, description="ISO timestamp, UTC.")
    total: str = Field(description="Total of the employees shown to the caller.")
    employees: list[EmployeeStatement]
