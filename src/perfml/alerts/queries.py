"""Reading alerts: list (filtered, paginated, team-scoped), one with its reviews, and the transfer scores."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from perfml.audit_log import reading
from perfml.store import alert_reviews, alerts

_LIST_COLUMNS = [c for c in alerts.c if c.name != "explanation"]


def _row(r) -> dict:
    return dict(r._mapping)


def list_alerts(
    engine: Engine | str | Connection | Session,
    *,
    type: str | None = None,
    team_id: str | None = None,
    scope_team: str | None = None,
    employee_id: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    min_score: float | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict], int]:
    """(alerts without their explanation, total matching), newest event first.

    `scope_team` confines the result to one team whatever the other filters say (a manager's
    view); `since`/`until` filter the alert's date (`as_of`: change time, month end or day).
    """
    where = []
    if scope_team is not None:
        where.append(alerts.c.team_id == scope_team)
    if team_id is not None:
        where.append(alerts.c.team_id == team_id)
    if type is not None:
        where.append(alerts.c.type == type)
    if employee_id is not None:
        where.append(alerts.c.employee_id == employee_id)
    if status is not None:
        where.append(alerts.c.status == status)
    if since is not None:
        where.append(alerts.c.as_of >= since)
    if until is not None:
        where.append(alerts.c.as_of < until)
    if min_score is not None:
        where.append(alerts.c.score >= min_score)
    with reading(engine) as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(alerts).where(*where)).scalar_one()
        rows = conn.execute(
            sa.select(*_LIST_COLUMNS)
            .where(*where)
            .order_by(alerts.c.as_of.desc(), alerts.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    return [_row(r) for r in rows], int(total)


def get_alert(engine: Engine | str | Connection | Session, alert_id: int) -> dict | None:
    """One alert with its explanation and reviews (oldest first), or None."""
    with reading(engine) as conn:
        row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
        if row is None:
            return None
        out = _row(row)
        out["reviews"] = [
            _row(r)
            for r in conn.execute(
                sa.select(alert_reviews).where(alert_reviews.c.alert_id == alert_id).order_by(alert_reviews.c.id)
            )
        ]
    return out


def transfer_scores(engine: Engine | str | Connection | Session) -> pd.DataFrame:
    """`change_id, score` of every transfer alert (the rule engine's anomaly-aware crediting input)."""
    with reading(engine) as conn:
        rows = conn.execute(
            sa.select(alerts.c.change_id, alerts.c.score).where(
                alerts.c.type == "transfer_anomaly", alerts.c.change_id.is_not(None), alerts.c.score.is_not(None)
            )
        ).all()
    frame = pd.DataFrame(rows, columns=["change_id", "score"])
    return frame.drop_duplicates("change_id", keep="last").reset_index(drop=True)


__all__ = ["get_alert", "list_alerts", "transfer_scores"]
