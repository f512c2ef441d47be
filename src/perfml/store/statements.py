"""Closed pay statements (frozen once, never changed) and the manual pay lines of a period."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perfml.errors import PeriodClosed
from perfml.store.engine import create_all, engine_for
from perfml.store.tables import pay_adjustments, statements, utcnow


@dataclass(frozen=True)
class ClosedStatement:
    """A frozen statement: its canonical JSON bytes, their sha256, who closed it and when (naive UTC)."""

    plan_id: str
    plan_version: str
    period: str
    content_hash: str
    content: bytes
    closed_by: str
    closed_at: datetime


def _closed(row) -> ClosedStatement:
    return ClosedStatement(
        row.plan_id,
        row.plan_version,
        row.period,
        row.content_hash,
        row.content.encode("utf-8"),
        row.closed_by,
        row.closed_at,
    )


def closed_statements(url_or_engine: Engine | str, plan_id: str) -> dict[str, ClosedStatement]:
    """period -> the closed statement of every closed period of a plan."""
    engine = engine_for(url_or_engine)
    create_all(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(statements).where(statements.c.plan_id == plan_id))
        return {row.period: _closed(row) for row in rows}


def close_statement(
    url_or_engine: Engine | str, *, plan_id: str, plan_version: str, period: str, content: bytes, closed_by: str
) -> ClosedStatement:
    """Freeze a period's statement; `PeriodClosed` when the plan's period is already closed (nothing written)."""
    engine = engine_for(url_or_engine)
    create_all(engine)
    closed = ClosedStatement(
        plan_id, plan_version, period, hashlib.sha256(content).hexdigest(), content, closed_by, utcnow()
    )
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(statements).values(
                    plan_id=plan_id,
                    plan_version=plan_version,
                    period=period,
                    content_hash=closed.content_hash,
                    content=content.decode("utf-8"),
                    closed_by=closed_by,
                    closed_at=closed.closed_at,
                )
            )
    except sa.exc.IntegrityError:  # the unique (plan_id, period): someone closed it first
        existing = closed_statements(engine, plan_id).get(period)
        raise already_closed(existing) if existing else PeriodClosed(f"plan {plan_id}: {period} is closed") from None
    return closed


def already_closed(closed: ClosedStatement) -> PeriodClosed:
    """The refusal to close (or change) a closed period, naming who closed it, when, and its hash."""
    return PeriodClosed(
        f"plan {closed.plan_id}: {closed.period} is already closed (by {closed.closed_by} at "
        f"{closed.closed_at:%Y-%m-%d %H:%M:%S} UTC, sha256 {closed.content_hash[:12]}); a closed statement never "
        "changes: late data and reversals appear as adjustment lines in the next open period"
    )


def pay_adjustment_rows(url_or_engine: Engine | str, plan_id: str, period: str) -> list[dict]:
    """The manual pay lines (`pay_adjustments`) paid in a plan's period, oldest first."""
    engine = engine_for(url_or_engine)
    create_all(engine)
    query = (
        sa.select(pay_adjustments)
        .where(pay_adjustments.c.plan_id == plan_id, pay_adjustments.c.period == period)
        .order_by(pay_adjustments.c.id)
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
