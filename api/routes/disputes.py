"""Disputes: an employee disputes a statement line; their team's manager or HR accepts or rejects it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import Context, RequestId
from api.errors import ApiProblem, field_error, not_found, responses
from api.permissions import ResultReader, Reviewer, ensure_visible, team_scope
from api.render import utc
from api.routes.kpi import _employee as ensure_employee_visible
from api.schemas.common import MAX_PAGE, MAX_ROW_ID, Page
from api.schemas.disputes import Dispute, DisputeStatus, OpenDisputeRequest, ResolveDisputeRequest
from api.schemas.kpi import Period
from perfml.keys import Principal
from perfml.rules import builtin_plans, load_plan
from perfml.services import disputes as service
from perfml.services.kpi import crediting_inputs

router = APIRouter(prefix="/v1/disputes", tags=["disputes"])

DisputeId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Dispute id.")]


def public(row: dict) -> dict:
    """A stored dispute as the API shows it (timestamps as UTC)."""
    return {**row, "opened_at": utc(row["opened_at"]), "resolved_at": utc(row["resolved_at"])}


def _invalid(exc: service.InvalidDispute) -> ApiProblem:
    return ApiProblem(
        422,
        str(exc),
        kind="invalid-dispute",
        errors=[field_error(("body", exc.field), exc.message, "invalid_dispute")],
    )


def _visible(ctx, principal: Principal, dispute_id: int) -> dict:
    try:
        row = service.get_dispute(home=ctx.home, dispute_id=dispute_id)
    except service.DisputeNotFound:
        raise not_found(f"dispute {dispute_id}") from None
    ensure_visible(principal, f"dispute {dispute_id}", employee_id=row["employee_id"], team_id=row["team_id"])
    return row


@router.post(
    "",
    response_model=Dispute,
    status_code=201,
    summary="Dispute a line of a statement",
    responses=responses(401, 403, 404, 409, 422),
)
def open_dispute(body: OpenDisputeRequest, principal: ResultReader, ctx: Context, rid: RequestId) -> dict:
    """Open a dispute on one line of an employee-period's statement, with a message. The line must be in
    the statement evaluated now; the dispute keeps its rule and value. Roles: employee (own statements),
    manager (own team), hr_admin. A second open dispute on the same line answers 409."""
    employee_id = body.employee_id
    if employee_id is None:
        if principal.role != "employee" or principal.employee_id is None:
            raise ApiProblem(
                422,
                "employee_id: required (only an employee key disputes its own statement without naming it)",
                kind="invalid-dispute",
                errors=[field_error(("body", "employee_id"), "required", "missing")],
            )
        employee_id = principal.employee_id
    ensure_employee_visible(ctx, principal, employee_id)
    if body.plan not in builtin_plans():
        raise ApiProblem(
            404, f"plan {body.plan!r} not found; built-in plans: {', '.join(builtin_plans())}", kind="not-found"
        )
    scores, reviews = crediting_inputs(home=ctx.home)
    try:
        row = service.open_dispute(
            home=ctx.home,
            plan=load_plan(body.plan),
            dataset=ctx.data.dataset(),
            employee_id=employee_id,
            period=body.period,
            line=body.line,
            message=body.message,
            opened_by=principal.name,
            request_id=rid,
            scores=scores,
            reviews=reviews,
        )
    except service.InvalidDispute as exc:
        raise _invalid(exc) from None
    except service.DisputeConflict as exc:
        raise ApiProblem(409, str(exc), kind="conflict") from None
    return public(row)


@router.get(
    "", response_model=Page[Dispute], summary="List disputes (newest first)", responses=responses(401, 403, 422)
)
def list_disputes(
    principal: ResultReader,
    ctx: Context,
    status: Annotated[DisputeStatus | None, Query()] = None,
    employee_id: Annotated[str | None, Query(max_length=128)] = None,
    period: Annotated[Period | None, Query()] = None,
    plan: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> dict:
    """Disputes matching every filter: an employee sees their own, a manager their team's, HR all
    (whatever `employee_id` says). Roles: employee, manager, hr_admin."""
    if principal.role == "employee":
        if principal.employee_id is None or employee_id not in (None, principal.employee_id):
            return Page.of([], 0, limit, offset)
        employee_id = principal.employee_id
    items, total = service.list_disputes(
        home=ctx.home,
        employee_id=employee_id,
        team_id=team_scope(principal),
        status=status,
        plan_id=plan,
        period=period,
        limit=limit,
        offset=offset,
    )
    return Page.of([public(r) for r in items], total, limit, offset)


@router.get("/{dispute_id}", response_model=Dispute, summary="One dispute", responses=responses(401, 403, 404, 422))
def get_dispute(dispute_id: DisputeId, principal: ResultReader, ctx: Context) -> dict:
    """The dispute and its resolution. Roles: employee (own), manager (own team), hr_admin; others answer 404."""
    return public(_visible(ctx, principal, dispute_id))


@router.post(
    "/{dispute_id}/resolve",
    response_model=Dispute,
    summary="Accept (with an adjustment) or reject a dispute",
    responses=responses(401, 403, 404, 409, 422),
)
def resolve_dispute(
    dispute_id: DisputeId, body: ResolveDisputeRequest, principal: Reviewer, ctx: Context, rid: RequestId
) -> dict:
    """Accept with an adjustment amount (exact decimal text; a `pay_adjustments` row paid in `pay_period`,
    source `dispute:<id>`) or reject, with a reason either way. A dispute is resolved once: again answers
    409. Roles: manager (own team), hr_admin."""
    _visible(ctx, principal, dispute_id)
    try:
        row = service.resolve_dispute(
            home=ctx.home,
            dispute_id=dispute_id,
            decision=body.decision,
            reason=body.reason,
            amount=body.amount,
            pay_period=body.pay_period,
            resolved_by=principal.name,
            request_id=rid,
        )
    except service.InvalidDispute as exc:
        raise _invalid(exc) from None
    except service.DisputeConflict as exc:
        raise ApiProblem(409, str(exc), kind="conflict") from None
    return public(row)
