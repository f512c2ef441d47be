"""Employees and their recent months: managers see their team, employees themselves. Never demographics."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import Context
from api.errors import not_found, responses
from api.permissions import ResultReader, ensure_visible, team_scope
from api.render import day, trajectory
from api.schemas.common import MAX_PAGE, Page
from api.schemas.employees import Employee, EmployeeDetail

router = APIRouter(prefix="/v1/employees", tags=["employees"])

# Only these columns leave the service: no attr_* HR attributes, nothing from `demographics`.
_PUBLIC = ("employee_id", "role", "team_id", "manager_id")
_DATES = ("hire_date", "probation_end_date", "termination_date")


def _employee(row) -> dict:
    out: dict[str, str | date | None] = {
        c: (None if row[c] is None or str(row[c]) in ("<NA>", "nan") else str(row[c])) for c in _PUBLIC
    }
    out.update({c: day(row[c]) for c in _DATES})
    return out


@router.get(
    "", response_model=Page[Employee], summary="List employees the caller may see", responses=responses(401, 403, 422)
)
def list_employees(
    principal: ResultReader,
    ctx: Context,
    team_id: Annotated[str | None, Query(max_length=128)] = None,
    role: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> dict:
    """hr_admin: everyone; manager: own team; employee: self. Roles: hr_admin, manager, employee."""
    frame = ctx.data.employees()
    if principal.role == "employee":
        frame = frame[frame["employee_id"] == principal.employee_id]
    scope = team_scope(principal)
    if scope is not None:
        frame = frame[frame["team_id"] == scope]
    if team_id is not None:
        frame = frame[frame["team_id"] == team_id]
    if role is not None:
        frame = frame[frame["role"] == role]
    frame = frame.sort_values("employee_id")
    page = frame.iloc[offset : offset + limit]
    return Page.of([_employee(r) for _, r in page.iterrows()], len(frame), limit, offset)


@router.get(
    "/{employee_id}",
    response_model=EmployeeDetail,
    summary="One employee and their recent months",
    responses=responses(401, 403, 404, 422),
)
def get_employee(
    employee_id: Annotated[str, Path(max_length=128)],
    principal: ResultReader,
    ctx: Context,
    months: Annotated[int, Query(ge=1, le=12)] = 6,
) -> dict:
    """The employee's record and their last months of metrics. Another team's (or, for an employee
    key, anyone else's) id answers 404. Roles: hr_admin, manager, employee."""
    frame = ctx.data.employees()
    if employee_id not in frame.index:
        raise not_found(f"employee {employee_id}")
    row = frame.loc[employee_id]
    ensure_visible(principal, f"employee {employee_id}", employee_id=employee_id, team_id=str(row["team_id"]))
    return {**_employee(row), "trajectory": trajectory(ctx.data.monthly(), employee_id, months)}
