"""Dispute use cases: an employee disputes a line of their statement; their manager or HR accepts or rejects it.

- `open_dispute`: the line must exist in the employee's statement of that period (the frozen one when the
  period is closed, else as evaluated now); the dispute keeps the line's rule and value as they read then.
- `resolve_dispute`: accept with an adjustment amount (exact decimal) and a reason - a `pay_adjustments`
  row paid in an open period (by default the first one from the disputed period on), with source
  `dispute:<id>` - or reject with a reason. A dispute is
  resolved once; a second resolution is refused (`DisputeConflict`).
Each change is written together with its audit log entry, in one transaction.
`disputes_for` / `disputes_text` put an employee-period's disputes next to its explanation.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation

import pandas as pd
from sqlalchemy.engine import Engine

from perfml import audit_log
from perfml.dataset import Dataset
from perfml.errors import PerfmlError, PlanError
from perfml.home import Home
from perfml.metrics import parse_period, period_label
from perfml.rules import Plan, Result, load_plan, plan_hash
from perfml.rules.trace import money
from perfml.services.kpi import evaluate_plan
from perfml.store import create_all, utcnow
from perfml.store import disputes as rows
from perfml.store.statements import closed_statements
from perfml.store.tables import DISPUTE_STATUSES

TEXT_MAX = 2000
"""Most characters of a dispute's message and of a resolution's reason."""
AMOUNT_PLACES = 2
AMOUNT_MAX = Decimal(10) ** 9
"""Largest adjustment, in the plan's currency, either sign."""
DECISIONS = {"accept": "accepted", "reject": "rejected"}
assert set(DECISIONS.values()) < set(DISPUTE_STATUSES)


class InvalidDispute(PerfmlError):
    """A request field breaks a dispute rule; `field` names it (message, line, amount, ...)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class DisputeNotFound(PerfmlError):
    """No dispute with that id."""


class DisputeConflict(PerfmlError):
    """The dispute cannot change that way any more (resolved already, or a duplicate of an open one)."""


# -- validation ----------------------------------------------------------------------------------
def checked_text(field: str, value: str | None) -> str:
    """A message or reason: 1 to `TEXT_MAX` characters after trimming, no NUL."""
    text = (value or "").strip()
    if not text:
        raise InvalidDispute(field, "required (1 to 2000 characters)")
    if len(text) > TEXT_MAX:
        raise InvalidDispute(field, f"at most {TEXT_MAX} characters, got {len(text)}")
    if "\x00" in text:
        raise InvalidDispute(field, "must not contain a NUL character")
    return text


def checked_amount(value: str | None) -> Decimal:
    """An adjustment: a finite, non-zero decimal with at most 2 places and |amount| <= 1e9 (money, exact)."""
    if value is None or not str(value).strip():
        raise InvalidDispute("amount", 'required to accept a dispute (exact decimal text, e.g. "250.00")')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidDispute("amount", f"{value!r} is not a decimal number") from None
    if not amount.is_finite():
        raise InvalidDispute("amount", f"{value!r} is not a finite number")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -AMOUNT_PLACES:
        raise InvalidDispute("amount", f"{value!r} has more than {AMOUNT_PLACES} decimal places")
    if abs(amount) > AMOUNT_MAX:
        raise InvalidDispute("amount", f"{value!r} is beyond ±1,000,000,000")
    if amount == 0:
        raise InvalidDispute("amount", "an accepted dispute pays a non-zero adjustment; reject it otherwise")
    return amount


def pay_period_for(for_period: str, requested: str | None, closed: Collection[str] = ()) -> str:
    """The open period an accepted dispute's adjustment is paid in: `requested`, else the first period from the
    disputed one on that is not closed (a closed statement never changes)."""
    first_open = parse_period(for_period)
    while period_label(first_open) in closed:
        first_open += 1
    if requested is None:
        return period_label(first_open)
    try:
        pay, disputed = parse_period(requested), parse_period(for_period)
    except PerfmlError:
        raise InvalidDispute("pay_period", f"{requested!r} is not a period YYYY-MM") from None
    if pay < disputed:
        raise InvalidDispute("pay_period", f"{requested} is before the disputed period {for_period}")
    if requested in closed:
        raise InvalidDispute(
            "pay_period", f"{requested} is closed; pay in an open period (the first is {period_label(first_open)})"
        )
    return requested


# -- use cases -----------------------------------------------------------------------------------
def statement(
    *,
    plan: Plan,
    dataset: Dataset,
    employee_id: str,
    period: str,
    scores: pd.DataFrame | None = None,
    reviews: Mapping[str, str] | None = None,
) -> Result:
    """The employee-period evaluated now (who they are, their team); for a closed period `open_dispute`
    reads the disputed line from the frozen statement."""
    try:
        run = evaluate_plan(
            plan=plan, dataset=dataset, period=period, scores=scores, reviews=reviews, employee_ids=[employee_id]
        )
    except PlanError as exc:  # a built-in plan is valid: what fails is the period (outside its effective dates)
        raise InvalidDispute("period", str(exc)) from None
    result = run.result(employee_id, period)
    if result is None:
        why = next((s["reason"] for s in run.skipped if s["employee_id"] == employee_id), "not employed then")
        raise InvalidDispute("period", f"{employee_id} has no statement for {period} under {plan.id}: {why}")
    return result


def _version(plan_id: str, version: str, hash_: str) -> str:
    return f"{plan_id} v{version} ({hash_[:12]})"


def open_dispute(
    *,
    home: Home,
    plan: Plan | str,
    dataset: Dataset,
    employee_id: str,
    period: str,
    line: str,
    message: str,
    opened_by: str,
    request_id: str | None = None,
    scores: pd.DataFrame | None = None,
    reviews: Mapping[str, str] | None = None,
) -> dict:
    """Open a dispute on one line of an employee's statement; return the dispute (its columns)."""
    text = checked_text("message", message)
    plan = load_plan(plan)
    result = statement(
        plan=plan, dataset=dataset, employee_id=employee_id, period=period, scores=scores, reviews=reviews
    )
    lines = [(ln.name, ln.rule, format(ln.value, "f")) for ln in result.lines]
    frozen = closed_statements(home.engine, plan.id).get(period)
    if frozen is not None:  # a closed period's statement is the frozen one, whatever the data says now
        entry = next((e for e in json.loads(frozen.content)["employees"] if e["employee_id"] == employee_id), None)
        lines = [(ln["name"], ln["rule"], ln["value"]) for ln in (entry or {}).get("lines", [])]
    disputed = next((ln for ln in lines if ln[0] == line), None)
    if disputed is None:
        names = ", ".join(ln[0] for ln in lines) or "none"
        raise InvalidDispute("line", f"no line {line!r} in {employee_id}'s statement for {period}; its lines: {names}")
    _, rule, value = disputed
    digest = plan_hash(plan)
    create_all(home.engine)
    with home.engine.begin() as conn:
        duplicate = rows.open_dispute_on(conn, plan_id=plan.id, period=period, employee_id=employee_id, line=line)
        if duplicate is not None:
            raise DisputeConflict(f"dispute {duplicate} on {employee_id}'s {line} for {period} is still open")
        dispute_id = rows.insert_dispute(
            conn,
            plan_id=plan.id,
            plan_version=str(plan.version),
            plan_hash=digest,
            period=period,
            employee_id=employee_id,
            team_id=result.team_id,
            line=line,
            rule=rule,
            line_value=value,
            message=text,
            opened_by=opened_by,
            opened_at=utcnow(),
        )
        audit_log.write(
            conn,
            principal=opened_by,
            action="dispute.open",
            target=f"dispute:{dispute_id}",
            version=_version(plan.id, str(plan.version), digest),
            request_id=request_id,
            details={
                "employee_id": employee_id,
                "period": period,
                "line": line,
                "rule": rule,
                "line_value": value,
            },
        )
    return get_dispute(home=home, dispute_id=dispute_id)


def resolve_dispute(
    *,
    home: Home,
    dispute_id: int,
    decision: str,
    reason: str,
    resolved_by: str,
    amount: str | None = None,
    pay_period: str | None = None,
    request_id: str | None = None,
) -> dict:
    """Accept (adjustment `amount` paid in `pay_period`) or reject an open dispute, with a reason; return it."""
    if decision not in DECISIONS:
        raise InvalidDispute("decision", f"one of {', '.join(DECISIONS)}, got {decision!r}")
    why = checked_text("reason", reason)
    if decision == "reject" and amount is not None:
        raise InvalidDispute("amount", "only an accepted dispute pays an adjustment")
    if decision == "reject" and pay_period is not None:
        raise InvalidDispute("pay_period", "only an accepted dispute is paid in a period")
    exact = checked_amount(amount) if decision == "accept" else None
    current = get_dispute(home=home, dispute_id=dispute_id)
    if current["status"] != "open":
        raise _already(current)
    frozen = closed_statements(home.engine, current["plan_id"])
    paid_in = pay_period_for(current["period"], pay_period, frozen) if exact is not None else None
    now = utcnow()
    amount_text = None if exact is None else format(exact, "f")
    with home.engine.begin() as conn:
        adjustment_id = None
        if amount_text is not None and paid_in is not None:
            adjustment_id = rows.insert_pay_adjustment(
                conn,
                plan_id=current["plan_id"],
                employee_id=current["employee_id"],
                period=paid_in,
                for_period=current["period"],
                amount=amount_text,
                source=f"dispute:{dispute_id}",
                reason=why,
                created_by=resolved_by,
                created_at=now,
            )
        # A conditional UPDATE decides a race between two resolutions: the loser's transaction
        # (its adjustment included) rolls back.
        closed = rows.close_dispute(
            conn,
            dispute_id,
            status=DECISIONS[decision],
            resolved_by=resolved_by,
            resolved_at=now,
            reason=why,
            amount=amount_text,
            pay_period=paid_in,
            adjustment_id=adjustment_id,
        )
        if not closed:
            raise _already(rows.get_dispute(conn, dispute_id) or current)
        audit_log.write(
            conn,
            principal=resolved_by,
            action="dispute.resolve",
            target=f"dispute:{dispute_id}",
            version=_version(current["plan_id"], current["plan_version"], current["plan_hash"]),
            request_id=request_id,
            details={
                "decision": decision,
                "reason": why,
                "employee_id": current["employee_id"],
                "period": current["period"],
                "line": current["line"],
                "amount": amount_text,
                "pay_period": paid_in,
                "adjustment_id": adjustment_id,
            },
        )
    return get_dispute(home=home, dispute_id=dispute_id)


def _already(row: dict) -> DisputeConflict:
    when = f"{row['resolved_at']:%Y-%m-%d %H:%M} UTC" if row["resolved_at"] else "earlier"
    return DisputeConflict(f"dispute {row['id']} is already {row['status']} (by {row['resolved_by']}, {when})")


def get_dispute(*, home: Home, dispute_id: int) -> dict:
    """One dispute (its columns); `DisputeNotFound` when there is none."""
    row = rows.get_dispute(home.engine, dispute_id)
    if row is None:
        raise DisputeNotFound(f"dispute {dispute_id} does not exist")
    return row


def list_disputes(
    *,
    home: Home,
    employee_id: str | None = None,
    team_id: str | None = None,
    status: str | None = None,
    plan_id: str | None = None,
    period: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict], int]:
    """(disputes matching every given filter, newest first; their count)."""
    return rows.list_disputes(
        home.engine,
        employee_id=employee_id,
        team_id=team_id,
        status=status,
        plan_id=plan_id,
        period=period,
        limit=limit,
        offset=offset,
    )


def disputes_for(engine: Engine, plan_id: str, employee_id: str, period: str) -> list[dict]:
    """The disputes on one employee-period's statement, oldest first, JSON-ready (timestamps as ISO UTC text):
    what its explanation lists next to the lines."""
    return [
        {**d, "opened_at": _iso(d["opened_at"]), "resolved_at": _iso(d["resolved_at"])}
        for d in rows.disputes_for(engine, plan_id, employee_id, period)
    ]


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat(timespec="seconds") + "Z"


def disputes_text(disputes: list[dict]) -> str:
    """The disputes section of a plain-text explanation, from `disputes_for` ("" when there are none)."""
    if not disputes:
        return ""
    out = ["Disputes:"]
    for d in disputes:
        out.append(
            f"  #{d['id']} {d['line']} [{d['rule']}] ({money(Decimal(d['line_value']))} when opened) · {d['status']} · "
            f"opened by {d['opened_by']} {d['opened_at'][:10]}: {d['message']}"
        )
        if d["status"] == "accepted":
            out.append(
                f"      accepted by {d['resolved_by']} {d['resolved_at'][:10]}: adjustment "
                f"{money(Decimal(d['amount']))} paid in {d['pay_period']} (pay adjustment {d['adjustment_id']}): "
                f"{d['reason']}"
            )
        elif d["status"] == "rejected":
            out.append(f"      rejected by {d['resolved_by']} {d['resolved_at'][:10]}: {d['reason']}")
    return "\n".join(out)


__all__ = [
    "AMOUNT_MAX",
    "DisputeConflict",
    "DisputeNotFound",
    "InvalidDispute",
    "TEXT_MAX",
    "checked_amount",
    "checked_text",
    "disputes_for",
    "disputes_text",
    "get_dispute",
    "list_disputes",
    "open_dispute",
    "pay_period_for",
    "resolve_dispute",
    "statement",
]
