"""Employees and their recent trajectory (never demographics)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from api.schemas.alerts import TrajectoryPoint


class Employee(BaseModel):
    employee_id: str
    role: str
    team_id: str | None = None
    manager_id: str | None = None
    hire_date: date | None = None
    probation_end_date: date | None = None
    termination_date: date | None = None


class EmployeeDetail(Employee):
    trajectory: list[TrajectoryPoint]
