"""Pay statements: read a plan's period (closed: the frozen statement), close a period (hr_admin)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import Context, RequestId
from api.errors import ApiProblem, responses
from api.permissions import Admin, ResultReader, can_see
from api.schemas.statements import StatementOut
from perfml.keys import Principal
from perfml.rules import builtin_plans, load_plan
from perfml.services import kpi
from perfml.services import pay as service

router = APIRouter(prefix="/v1/kpi/statements", tags=["kpi"])
PlanName = Annotated[str, Path(max_length=64, description="A built-in plan (`GET /v1/kpi/plans`).")]
PeriodPath = Annotated[str, Path(pattern=r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


def _plan(name: str):
    if name not in builtin_plans():
        known = ", ".join(builtin_plans())
        raise ApiProblem(404, f"plan {name!r} not found; built-in plans: {known}", kind="not-found")
    return load_plan(name)


def _out(ctx, principal: Principal, stmt: service.Statement) -> dict:
    """The statement with only the employees the caller may see (hr_admin: all; manager: team; employee: self)."""
    content = stmt.data()
    people = content["employees"]
    if not principal.is_admin:
        teams = ctx.data.team_of([e["employee_id"] for e in people])
        people = [
            e
            for e, team in zip(people, teams, strict=True)
            if can_see(principal, employee_id=e["employee_id"], team_id=team)
        ]
    return {
        "plan": content["plan"],
        "period": content["period"],
        "currency": content["currency"],
        "status": stmt.status,
        "hash": stmt.hash,
        "closed_by": stmt.closed_by,
        "closed_at": stmt.closed_at.isoformat() if stmt.closed_at else None,
        "total": format(sum((Decimal(e["total"]) for e in people), Decimal(0)), "f"),
        "employees": people,
    }


def _audit(ctx, principal: Principal, rid, out: dict, action: str) -> None:
    plan = out["plan"]
    ctx.audit.record(
        principal=principal.name,
        action=action,
        target=f"plan:{plan['id']}",
        version=f"{plan['id']} v{plan['version']} ({plan['hash'][:12]})",
        request_id=rid,
        details={
            "period": out["period"],
            "status": out["status"],
            "hash": out["hash"],
            "employees": [e["employee_id"] for e in out["employees"]],
            "total": out["total"],
        },
    )


@router.get(
    "/{plan}/{period}",
    response_model=StatementOut,
    summary="A period's pay statement",
    responses=responses(401, 403, 404, 422),
)
def get_statement(plan: PlanName, period: PeriodPath, principal: ResultReader, ctx: Context, rid: RequestId) -> dict:
    """The statement of a plan's period: when closed, the frozen one; when open, evaluated now, with
    adjustment lines for earlier closed periods that changed and the manual pay lines of the period.
    hr_admin sees everyone, a manager their team, an employee their own lines."""
    scores, reviews = kpi.crediting_inputs(home=ctx.home)
    stmt = service.statement(
        home=ctx.home, plan=_plan(plan), dataset=ctx.data.dataset(), period=period, scores=scores, reviews=reviews
    )
    out = _out(ctx, principal, stmt)
    _audit(ctx, principal, rid, out, "statement.read")
    return out


@router.post(
    "/{plan}/{period}/close",
    response_model=StatementOut,
    summary="Close a period: freeze its statement",
    responses=responses(401, 403, 404, 409, 422),
)
def close(plan: PlanName, period: PeriodPath, principal: Admin, ctx: Context, rid: RequestId) -> dict:
    """Freeze the period's statement (content hash, who, when). A closed period is never closed or
    changed again (409); late data and reversals appear in the next open period. hr_admin only."""
    scores, reviews = kpi.crediting_inputs(home=ctx.home)
    stmt = service.close_period(
        home=ctx.home,
        plan=_plan(plan),
        dataset=ctx.data.dataset(),
        period=period,
        closed_by=principal.name,
        scores=scores,
        reviews=reviews,
    )
    out = _out(ctx, principal, stmt)
    _audit(ctx, principal, rid, out, "statement.close")
    return out
