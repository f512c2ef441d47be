"""KPI scorecards and bonuses: built-in plans, evaluation for a period with traces, what-if."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Context, CurrentPrincipal, RequestId
from api.errors import ApiProblem, field_error, not_found, responses
from api.permissions import ResultReader, can_see, ensure_visible, team_scope
from api.render import plain
from api.schemas.common import MAX_PAGE
from api.schemas.kpi import DiffRequest, EvaluateRequest, KpiDiff, KpiResult, KpiRun, PlanInfo, WhatIfRequest
from perfml.keys import Principal
from perfml.rules import builtin_plans, load_plan, parse_plan, plan_hash
from perfml.rules.diff import diff_text
from perfml.rules.engine import InvalidOverrides
from perfml.services import diff as diffs
from perfml.services import kpi as service
from perfml.services.disputes import disputes_for

router = APIRouter(prefix="/v1/kpi", tags=["kpi"])


def _plan_info(plan) -> dict:
    return {
        "id": plan.id,
        "version": str(plan.version),
        "name": plan.name,
        "currency": plan.currency,
        "effective_from": str(plan.effective_from),
        "effective_to": str(plan.effective_to) if plan.effective_to else None,
        "hash": plan_hash(plan),
        "segments": list(plan.segments),
    }


def _plan(body: EvaluateRequest | WhatIfRequest | DiffRequest, principal: Principal):
    """The plan a request names: a built-in by name, or YAML text (hr_admin only), validated."""
    if body.plan_yaml is not None:
        if not principal.is_admin:
            raise ApiProblem(403, "only hr_admin may evaluate a plan sent as YAML", kind="forbidden")
        report = parse_plan(body.plan_yaml, "request")
        if not report.ok:
            errors = [
                field_error(("body", "plan_yaml"), f"{i.path}: {i.message}" if i.path else i.message, "invalid_plan")
                for i in report.errors
            ]
            raise ApiProblem(422, f"invalid plan: {errors[0]['msg']}", kind="invalid-plan", errors=errors)
        return report.plan
    if body.plan not in builtin_plans():
        raise ApiProblem(
            404, f"plan {body.plan!r} not found; built-in plans: {', '.join(builtin_plans())}", kind="not-found"
        )
    return load_plan(body.plan)


def _employee(ctx, principal: Principal, employee_id: str) -> None:
    employees = ctx.data.employees()
    if employee_id not in employees.index:
        raise not_found(f"employee {employee_id}")
    ensure_visible(
        principal,
        f"employee {employee_id}",
        employee_id=employee_id,
        team_id=str(employees.loc[employee_id, "team_id"]),
    )


def _scope_ids(ctx, principal: Principal, employee_id: str | None) -> list[str] | None:
    if employee_id is not None:
        _employee(ctx, principal, employee_id)
        return [employee_id]
    if principal.role == "employee":  # an employee's key always names them; without it: nobody
        return [principal.employee_id] if principal.employee_id is not None else []
    team = team_scope(principal)
    if team is not None:
        employees = ctx.data.employees()
        return employees.loc[employees["team_id"] == team, "employee_id"].astype(str).tolist()
    return None


def _visible_holds(ctx, principal: Principal, holds: list[dict]) -> list[dict]:
    if principal.is_admin:
        return holds
    out = []
    for h in holds:
        people = [h.get("to_employee_id"), h.get("from_employee_id")]
        teams = ctx.data.team_of(people)
        if any(p and can_see(principal, employee_id=p, team_id=t) for p, t in zip(people, teams, strict=True)):
            out.append(h)
    return out


def _audit(ctx, principal: Principal, rid, plan: dict, action: str, details: dict) -> None:
    ctx.audit.record(
        principal=principal.name,
        action=action,
        target=f"plan:{plan['id']}",
        version=f"{plan['id']} v{plan['version']} ({plan['hash'][:12]})",
        request_id=rid,
        details=details,
    )


@router.get("/plans", response_model=list[PlanInfo], summary="Built-in plans", responses=responses(401))
def plans(principal: CurrentPrincipal) -> list[dict]:
    """Every built-in plan with its version, effective dates, segments and content hash. Any role."""
    return [_plan_info(load_plan(name)) for name in builtin_plans()]


@router.post(
    "/evaluate",
    response_model=KpiRun,
    summary="Evaluate a plan for a period, with traces",
    responses=responses(401, 403, 404, 422),
)
def evaluate(
    body: EvaluateRequest,
    principal: ResultReader,
    ctx: Context,
    rid: RequestId,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> dict:
    """Scorecards and payouts with a trace of every number, for one employee or everyone the caller
    may see (hr_admin: all; manager: own team; employee: self). Anomaly scores of transfer alerts
    hold credit; reviewed transfers are voided (confirmed) or released (dismissed)."""
    plan = _plan(body, principal)
    ids = _scope_ids(ctx, principal, body.employee_id)
    scores, reviews = service.crediting_inputs(home=ctx.home)
    run = service.evaluate_plan(
        plan=plan, dataset=ctx.data.dataset(), period=body.period, scores=scores, reviews=reviews, employee_ids=ids
    )
    # The run's records are cheap; only the page returned is rendered (formula texts, source rows).
    out = plain(run.to_dict(render=False))
    results = out["results"]
    page = [plain(r.to_dict()) for r in run.results[offset : offset + limit]]
    if body.employee_id is not None:  # one employee's statements: with the disputes on them
        for r in page:
            if found := disputes_for(ctx.engine, out["plan"]["id"], r["employee_id"], r["period"]):
                r["disputes"] = found
    if not principal.is_admin:
        visible = set(ids or [])
        out["skipped"] = [s for s in out["skipped"] if s.get("employee_id") in visible]
        out["holds"] = _visible_holds(ctx, principal, out["holds"])
        out["data"].pop("reviews", None)
        # The counts describe what this caller may see, not the company.
        out["summary"].update(holds=len(out["holds"]), skipped=len(out["skipped"]))
    _audit(
        ctx,
        principal,
        rid,
        out["plan"],
        "plan.evaluate",
        {
            "period": body.period,
            "employee_id": body.employee_id,
            "results": len(results),
            "employees": [r["employee_id"] for r in results],
            "total_payout": out["summary"].get("total_payout"),
        },
    )
    total = len(results)
    nxt = offset + limit if offset + limit < total else None
    return {
        "plan": out["plan"],
        "periods": out["periods"],
        "currency": out["currency"],
        "summary": out["summary"],
        "results": page,
        "holds": out["holds"],
        "skipped": out["skipped"],
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": nxt,
    }


@router.post(
    "/what-if",
    response_model=KpiResult,
    summary="What-if: one employee-period with overridden metrics",
    responses=responses(401, 403, 404, 422),
)
def what_if(body: WhatIfRequest, principal: ResultReader, ctx: Context, rid: RequestId) -> dict:
    """Re-evaluate one employee-period with some metric values replaced; derived metrics follow.
    Roles: hr_admin, manager (own team), employee (self)."""
    plan = _plan(body, principal)
    _employee(ctx, principal, body.employee_id)
    scores, reviews = service.crediting_inputs(home=ctx.home)
    try:
        result = service.what_if_result(
            plan=plan,
            dataset=ctx.data.dataset(),
            employee_id=body.employee_id,
            period=body.period,
            overrides=body.overrides,
            scores=scores,
            reviews=reviews,
        )
    except InvalidOverrides as exc:
        errors = [
            field_error(("body", "overrides", name), why, "invalid_override") for name, why in exc.problems.items()
        ]
        raise ApiProblem(
            422, f"{errors[0]['path']}: {errors[0]['msg']}", kind="invalid-overrides", errors=errors
        ) from None
    info = _plan_info(plan)
    _audit(
        ctx,
        principal,
        rid,
        info,
        "plan.what_if",
        {
            "period": body.period,
            "employee_id": body.employee_id,
            "overrides": body.overrides,
            "total": plain(result.to_dict()).get("total"),
        },
    )
    return {"plan": info, "result": plain(result.to_dict())}


@router.post(
    "/diff",
    response_model=KpiDiff,
    summary="What changed between two periods, line by line",
    responses=responses(401, 403, 404, 422),
)
def diff(body: DiffRequest, principal: ResultReader, ctx: Context, rid: RequestId) -> dict:
    """Each statement of `period` compared with the same employee's statement of `against` (same plan and
    data): the lines that changed, which rule, which inputs moved and by how much. Scoped like `evaluate`."""
    plan = _plan(body, principal)
    ids = _scope_ids(ctx, principal, body.employee_id)
    scores, reviews = service.crediting_inputs(home=ctx.home)
    result = diffs.diff_two_periods(
        plan=plan,
        dataset=ctx.data.dataset(),
        period=body.period,
        against=body.against,
        scores=scores,
        reviews=reviews,
        employee_ids=ids,
    )
    out = result.to_dict()
    _audit(
        ctx,
        principal,
        rid,
        out["after"]["plan"],
        "plan.diff",
        {
            "period": body.period,
            "against": body.against,
            "employee_id": body.employee_id,
            "changed": sorted({t["employee_id"] for t in out["totals"]}),
            "total_delta": out["total_delta"],
        },
    )
    return {**out, "text": diff_text(result)}
