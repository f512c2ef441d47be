"""Alerts: create or refresh one alert per (type, subject, period/as_of), keeping its review status."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from perfml.store.data import dialect_insert
from perfml.store.tables import alerts, utcnow


def upsert_alert(
    session: Session | Connection,
    *,
    type: str,
    change_id: str | None = None,
    employee_id: str | None = None,
    team_id: str | None = None,
    period: str | None = None,
    as_of: datetime | None = None,
    score: float | None = None,
    model_name: str | None = None,
    model_version: str | None = None,
    explanation: dict | None = None,
) -> int:
    """Create or refresh the alert for (type, subject, period/as_of); a refresh keeps its status; return its id."""
    conn = session.connection() if isinstance(session, Session) else session
    # A transfer alert is about the change; every other alert is about the employee.
    subject = (change_id if type == "transfer_anomaly" else employee_id) or change_id or employee_id
    if not subject:
        raise ValueError("an alert needs a change_id or an employee_id")
    window = period or (pd.Timestamp(as_of).date().isoformat() if as_of is not None else "")
    now = utcnow()
    values = dict(
        type=type,
        subject_id=subject,
        change_id=change_id,
        employee_id=employee_id,
        team_id=team_id,
        period=period,
        as_of=as_of,
        window_key=window,
        score=score,
        model_name=model_name,
        model_version=model_version,
        explanation=explanation,
        status="open",
        created_at=now,
        updated_at=now,
    )
    insert = dialect_insert(conn, alerts).values(**values)
    refreshed = ("team_id", "as_of", "score", "model_name", "model_version", "explanation", "updated_at")
    stmt = insert.on_conflict_do_update(
        index_elements=["type", "subject_id", "window_key"], set_={c: insert.excluded[c] for c in refreshed}
    )
    return conn.execute(stmt.returning(alerts.c.id)).scalar_one()
