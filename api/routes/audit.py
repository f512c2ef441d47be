"""The audit log, for hr_admin: who did what, when, with which model or plan version."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Context, StoreSession
from api.errors import responses
from api.permissions import Admin
from api.render import plain, utc
from api.schemas.audit import AuditEntry
from api.schemas.common import MAX_PAGE, Page
from perfml import audit_log

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get(
    "", response_model=Page[AuditEntry], summary="Read the audit log (newest first)", responses=responses(401, 403, 422)
)
def read_audit(
    principal: Admin,
    ctx: Context,
    session: StoreSession,
    since: Annotated[date | None, Query(description="On or after this day (UTC).")] = None,
    until: Annotated[date | None, Query(description="Before this day (UTC).")] = None,
    who: Annotated[str | None, Query(max_length=200, description="Principal, e.g. key:3/manager:T01.")] = None,
    action: Annotated[str | None, Query(max_length=64, description="Action or prefix, e.g. score, alert.")] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    request_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> dict:
    """Entries matching every filter. Retention: `PERFML_AUDIT_RETENTION_DAYS` (default 180). Role: hr_admin."""
    ctx.audit.flush()  # read your own writes: queued entries first
    page = audit_log.read(
        session,
        since=datetime.combine(since, time()) if since else None,
        until=datetime.combine(until, time()) if until else None,
        principal=who,
        action=action,
        target=target,
        request_id=request_id,
        limit=limit,
        offset=offset,
    )
    items = [
        {**e, "at": utc(e["at"]), "details": plain(e["details"]) if isinstance(e["details"], dict) else None}
        for e in page.items
    ]
    return Page.of(items, page.total, limit, offset)
