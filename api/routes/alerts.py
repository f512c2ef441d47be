"""Alerts: list (filtered, paginated, team-scoped), one with its explanation and trajectory, review, refresh."""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from api.deps import Context, Data, Models, RequestId, StoreSession
from api.errors import ApiProblem, not_found, responses
from api.permissions import Integrator, Reviewer, ensure_visible, team_scope
from api.render import plain, trajectory, utc
from api.schemas.alerts import (
    AlertDetail,
    AlertStatus,
    AlertSummary,
    AlertType,
    RefreshRequest,
    RefreshResponse,
    ReviewRequest,
)
from api.schemas.common import MAX_PAGE, MAX_ROW_ID, Page
from perfml import alerts as queries
from perfml import catalog
from perfml.errors import PerfmlError
from perfml.keys import Principal
from perfml.rules import builtin_plans
from perfml.services import alerts as service
from perfml.serving.render import render_factors

log = logging.getLogger("perfml.api")
router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

AlertId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Alert id.")]
Lang = Annotated[catalog.Lang, Query(description="Language of display names and reasons.")]


def _summary(row: dict, lang: catalog.Lang = "en") -> dict:
    return {
        "id": row["id"],
        "type": row["type"],
        "status": row["status"],
        "summary": queries.summary_line(row, lang),
        "subject_id": row["subject_id"],
        "change_id": row["change_id"],
        "employee_id": row["employee_id"],
        "team_id": row["team_id"],
        "period": row["period"],
        "as_of": utc(row["as_of"]),
        "score": row["score"],
        "model_name": row["model_name"],
        "model_version": row["model_version"],
        "created_at": utc(row["created_at"]),
        "updated_at": utc(row["updated_at"]),
    }


def _explanation(expl: dict | None, lang: catalog.Lang) -> dict | None:
    if not expl:
        return None
    out = dict(expl)
    if out.get("kind") == "model" and isinstance(out.get("factors"), list):
        out["factors"] = render_factors(out["factors"], lang)
    return plain(out)


def _visible_alert(source, principal: Principal, alert_id: int) -> dict:
    row = queries.get_alert(source, alert_id)
    if row is None:
        raise not_found(f"alert {alert_id}")
    ensure_visible(principal, f"alert {alert_id}", employee_id=row["employee_id"], team_id=row["team_id"])
    return row


def _detail(ctx, row: dict, lang: catalog.Lang, *, saved: bool = False) -> dict:
    """The alert as `AlertDetail`. `saved`: the row was just written, so the answer must not fail
    on the trajectory (read from the snapshot); it is left empty, with a log line, if it cannot be built."""
    try:
        points = trajectory(ctx.data.monthly(), row["employee_id"], until=row["as_of"])
    except PerfmlError:
        if not saved:
            raise
        log.exception("alert %s saved; its trajectory could not be built", row["id"])
        points = []
    return {
        **_summary(row, lang),
        "explanation": _explanation(row.get("explanation"), lang),
        "trajectory": points,
        "reviews": [
            {
                "decision": r["decision"],
                "note": r["note"],
                "reviewer": r["reviewer"],
                "reviewed_at": utc(r["reviewed_at"]),
            }
            for r in row.get("reviews", [])
        ],
    }


@router.get(
    "", response_model=Page[AlertSummary], summary="List alerts (newest first)", responses=responses(401, 403, 422)
)
def list_alerts(
    principal: Reviewer,
    session: StoreSession,
    type: Annotated[AlertType | None, Query(description="Alert type.")] = None,
    team_id: Annotated[str | None, Query(max_length=128, description="Team.")] = None,
    status: Annotated[AlertStatus | None, Query(description="Review status.")] = None,
    employee_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[date | None, Query(description="Alert date on or after (UTC).")] = None,
    until: Annotated[date | None, Query(description="Alert date before (UTC).")] = None,
    min_score: Annotated[float | None, Query(ge=0, le=1e9, allow_inf_nan=False)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    lang: Lang = "en",
) -> dict:
    """Alerts matching every filter, each with a one-line summary in `lang`. Managers see only their
    own team, whatever `team_id` says.

    Roles: hr_admin, manager.
    """
    items, total = queries.list_alerts(
        session,
        type=type,
        team_id=team_id,
        scope_team=team_scope(principal),
        employee_id=employee_id,
        status=status,
        since=datetime.combine(since, time()) if since else None,
        until=datetime.combine(until, time()) if until else None,
        min_score=min_score,
        limit=limit,
        offset=offset,
    )
    return Page.of([_summary(r, lang) for r in items], total, limit, offset)


@router.post(
    "/refresh",
    response_model=RefreshResponse,
    summary="Refresh alerts from the store",
    responses=responses(401, 403, 404, 409, 422),
)
async def refresh(
    principal: Integrator, ctx: Context, models: Models, data: Data, rid: RequestId, body: RefreshRequest | None = None
) -> dict:
    """Score new ownership changes and month ends with the champions, run the reminder and review-list
    rules, and upsert alerts (idempotent; reviews are kept). Every field is optional: no body at all
    means the defaults. Roles: hr_admin, hr_system."""
    body = body or RefreshRequest()

    if body.plan not in builtin_plans():
        raise ApiProblem(
            404, f"plan {body.plan!r} not found; built-in plans: {', '.join(builtin_plans())}", kind="not-found"
        )
    if not ctx.refresh_lock.acquire(blocking=False):
        raise ApiProblem(409, "an alert refresh is already running; try again when it finishes", kind="busy")
    try:
        summary = await run_in_threadpool(
            lambda: service.refresh_alerts(
                home=ctx.home,
                dataset=data.dataset(),
                models=models.loaded(),
                features=data.features,
                as_of=body.as_of,
                plan=body.plan,
                # a plain str-keyed copy: the service takes any model name
                thresholds=dict(body.thresholds.items()) if body.thresholds is not None else None,
                principal=principal.name,
                request_id=rid,
            )
        )
    finally:
        ctx.refresh_lock.release()
    return summary.to_dict()


@router.get(
    "/{alert_id}",
    response_model=AlertDetail,
    summary="One alert with its explanation and trajectory",
    responses=responses(401, 403, 404, 422),
)
def get_alert(alert_id: AlertId, principal: Reviewer, ctx: Context, session: StoreSession, lang: Lang = "en") -> dict:
    """The alert, its explanation (model factors with reasons, or rule evidence), the employee's
    recent months and the reviews so far. Roles: hr_admin, manager (own team; others answer 404)."""
    return _detail(ctx, _visible_alert(session, principal, alert_id), lang)


@router.post(
    "/{alert_id}/review",
    response_model=AlertDetail,
    summary="Confirm or dismiss an alert",
    responses=responses(401, 403, 404, 422),
)
def review(
    alert_id: AlertId, body: ReviewRequest, principal: Reviewer, ctx: Context, rid: RequestId, lang: Lang = "en"
) -> dict:
    """Record a decision with a note. A reviewed transfer alert becomes a `transfer_labels` row
    (1 on confirm, 0 on dismiss) for the next training and for crediting (void / release).
    Roles: hr_admin, manager (own team)."""
    _visible_alert(ctx.engine, principal, alert_id)
    # The label a transfer review writes goes into the service's snapshot with the commit.
    row = service.review_alert(
        home=ctx.home,
        alert_id=alert_id,
        decision=body.decision,
        note=body.note,
        reviewer=principal.name,
        request_id=rid,
        data=ctx.data,
    )
    return _detail(ctx, row, lang, saved=True)
