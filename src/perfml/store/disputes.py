"""Disputes on statement lines and the pay adjustments an accepted one writes: rows in, rows out.

The workflow (who may open or resolve, validation, the audit entry written with each change) lives in
`perfml.services.disputes`; this module only reads and writes the `disputes` and `pay_adjustments` tables,
inside the caller's transaction where it writes.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from perfml.store.engine import create_all, engine_for
from perfml.store.tables import disputes, pay_adjustments

Source = Engine | Connection | Session


def _read(source: Source, stmt) -> list[dict]:
    if isinstance(source, Session | Connection):
        return [dict(r._mapping) for r in source.execute(stmt)]
    eng = engine_for(source)
    create_all(eng)
    with eng.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def insert_dispute(conn: Connection, **values) -> int:
    """Insert one open dispute (column values of `disputes`); return its id."""
    return conn.execute(sa.insert(disputes).values(status="open", **values).returning(disputes.c.id)).scalar_one()


def open_dispute_on(conn: Connection, *, plan_id: str, period: str, employee_id: str, line: str) -> int | None:
    """The id of an open dispute on that statement line, if there is one."""
    return conn.execute(
        sa.select(disputes.c.id).where(
            disputes.c.plan_id == plan_id,
            disputes.c.period == period,
            disputes.c.employee_id == employee_id,
            disputes.c.line == line,
            disputes.c.status == "open",
        )
    ).scalar()


def close_dispute(
    conn: Connection,
    dispute_id: int,
    *,
    status: str,
    resolved_by: str,
    resolved_at: datetime,
    reason: str,
    amount: str | None = None,
    pay_period: str | None = None,
    adjustment_id: int | None = None,
) -> bool:
    """Resolve an open dispute; False when it is not open (resolved already, or no such id).

    One conditional UPDATE, so two concurrent resolutions cannot both succeed."""
    done = conn.execute(
        sa.update(disputes)
        .where(disputes.c.id == dispute_id, disputes.c.status == "open")
        .values(
            status=status,
            resolved_by=resolved_by,
            resolved_at=resolved_at,
            reason=reason,
            amount=amount,
            pay_period=pay_period,
            adjustment_id=adjustment_id,
        )
    )
    return done.rowcount == 1


def insert_pay_adjustment(
    conn: Connection,
    *,
    plan_id: str,
    employee_id: str,
    period: str,
    for_period: str,
    amount: str,
    source: str,
    reason: str,
    created_by: str,
    created_at: datetime,
) -> int:
    """Insert one `pay_adjustments` row (amount: exact decimal text); return its id."""
    return conn.execute(
        sa.insert(pay_adjustments)
        .values(
            plan_id=plan_id,
            employee_id=employee_id,
            period=period,
            for_period=for_period,
            amount=amount,
            source=source,
            reason=reason,
            created_by=created_by,
            created_at=created_at,
        )
        .returning(pay_adjustments.c.id)
    ).scalar_one()


def get_dispute(source: Source, dispute_id: int) -> dict | None:
    """One dispute as a dict of its columns, or None."""
    rows = _read(source, sa.select(disputes).where(disputes.c.id == dispute_id))
    return rows[0] if rows else None


def list_disputes(
    source: Source,
    *,
    employee_id: str | None = None,
    team_id: str | None = None,
    status: str | None = None,
    plan_id: str | None = None,
    period: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict], int]:
    """(disputes matching every given filter, newest first; how many match in all)."""
    where = [
        column == value
        for column, value in (
            (disputes.c.employee_id, employee_id),
            (disputes.c.team_id, team_id),
            (disputes.c.status, status),
            (disputes.c.plan_id, plan_id),
            (disputes.c.period, period),
        )
        if value is not None
    ]
    total = _read(source, sa.select(sa.func.count().label("n")).select_from(disputes).where(*where))[0]["n"]
    items = _read(source, sa.select(disputes).where(*where).order_by(disputes.c.id.desc()).limit(limit).offset(offset))
    return items, int(total)


def disputes_for(source: Source, plan_id: str, employee_id: str, period: str) -> list[dict]:
    """Every dispute on one employee-period's statement under one plan, oldest first (for its explanation)."""
    return _read(
        source,
        sa.select(disputes)
        .where(disputes.c.plan_id == plan_id, disputes.c.employee_id == employee_id, disputes.c.period == period)
        .order_by(disputes.c.id),
    )


__all__ = [
    "close_dispute",
    "disputes_for",
    "get_dispute",
    "insert_dispute",
    "insert_pay_adjustment",
    "list_disputes",
    "open_dispute_on",
]
