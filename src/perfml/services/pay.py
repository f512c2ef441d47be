"""Pay statements: a period's lines per employee, frozen when the period is closed.

A closed period's statement is the frozen one, byte for byte. An open period's is evaluated (with
its clawback lines), plus an `adjustment` line per employee for each earlier closed period whose
re-evaluation now differs from what was paid for it (late data, a correction) - paid in the next
open period after it, never twice - plus the manual lines of `pay_adjustments` paid in this period.
Every line has an id that stays the same across runs: the rule path (`<rule>#<n>` when a rule gives
several lines), `adjustment#<period>`, or `pay_adjustments#<row id>`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from perfml.dataset import Dataset
from perfml.errors import PerfmlError
from perfml.home import Home
from perfml.metrics import parse_period, period_label
from perfml.rules import Plan, Result, evaluate, load_plan, plan_hash
from perfml.rules.bands import round_by
from perfml.rules.trace import money
from perfml.store.statements import (
    ClosedStatement,
    already_closed,
    close_statement,
    closed_statements,
    pay_adjustment_rows,
)

ZERO = Decimal(0)
ADJUSTMENT_RULES = ("adjustment", "pay_adjustments")  # lines that pay for another period, not evaluated ones


@dataclass(frozen=True)
class Statement:
    """A period's statement: its canonical JSON `content`, open or closed (then who closed it and when)."""

    content: bytes
    status: str  # "open" | "closed"
    closed_by: str | None = None
    closed_at: datetime | None = None

    @property
    def hash(self) -> str:
        """sha256 hex of the canonical content."""
        return hashlib.sha256(self.content).hexdigest()

    def data(self) -> dict[str, Any]:
        """The content as a dict (money as exact decimal text)."""
        return json.loads(self.content)


def statement(
    *,
    home: Home,
    plan: Plan | str,
    dataset: Dataset,
    period: str,
    scores: pd.DataFrame | None = None,
    reviews: Mapping[str, str] | None = None,
) -> Statement:
    """The statement of a period: the frozen one when closed, else evaluated with its adjustment lines."""
    plan = load_plan(plan)
    closed = closed_statements(home.engine, plan.id)
    if period in closed:
        return _frozen(closed[period])
    return Statement(_content(home, plan, dataset, period, closed, scores, reviews), "open")


def close_period(
    *,
    home: Home,
    plan: Plan | str,
    dataset: Dataset,
    period: str,
    closed_by: str,
    scores: pd.DataFrame | None = None,
    reviews: Mapping[str, str] | None = None,
) -> Statement:
    """Freeze a period's statement; `PeriodClosed` when it is already closed (the frozen one is unchanged)."""
    plan = load_plan(plan)
    closed = closed_statements(home.engine, plan.id)
    if period in closed:
        raise already_closed(closed[period])
    content = _content(home, plan, dataset, period, closed, scores, reviews)
    if not json.loads(content)["employees"]:
        raise PerfmlError(f"plan {plan.id}: nobody is paid in {period}; there is no statement to close")
    frozen = close_statement(
        home.engine, plan_id=plan.id, plan_version=plan.version, period=period, content=content, closed_by=closed_by
    )
    return _frozen(frozen)


def employee_lines(
    *,
    home: Home,
    plan: Plan | str,
    dataset: Dataset,
    period: str,
    employee_id: str,
    scores: pd.DataFrame | None = None,
    reviews: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One employee's statement lines of a period (each: id, name, rule, value as text, formula, ...);
    [] when the statement has no line for them."""
    content = statement(home=home, plan=plan, dataset=dataset, period=period, scores=scores, reviews=reviews).data()
    entry = next((e for e in content["employees"] if e["employee_id"] == employee_id), None)
    return entry["lines"] if entry else []


# -- building an open statement ---------------------------------------------------------------------------
def _frozen(closed: ClosedStatement) -> Statement:
    return Statement(closed.content, "closed", closed.closed_by, closed.closed_at)


def _content(home, plan: Plan, dataset, period, closed, scores, reviews) -> bytes:
    """Canonical JSON of an open period's statement."""
    run = evaluate(plan, dataset, period, scores=scores, reviews=reviews)
    lines: dict[str, list[dict]] = {r.employee_id: _evaluated_lines(r) for r in run.results}
    segments = {r.employee_id: r.segment for r in run.results}
    for emp, line in _reevaluation_lines(plan, dataset, period, closed, scores, reviews):
        lines.setdefault(emp, []).append(line)
    for row in pay_adjustment_rows(home.engine, plan.id, period):
        lines.setdefault(row["employee_id"], []).append(_manual_line(row, plan))
    totals = {emp: sum((Decimal(ln["value"]) for ln in lines[emp]), ZERO) for emp in lines}
    employees = [
        {"employee_id": emp, "segment": segments.get(emp), "lines": lines[emp], "total": _text(totals[emp])}
        for emp in sorted(lines)
    ]
    doc = {
        "plan": {"id": plan.id, "version": plan.version, "hash": plan_hash(plan)},
        "period": period,
        "currency": plan.currency,
        "data": {"fingerprint": run.data["fingerprint"]},
        "total": _text(sum(totals.values(), ZERO)),
        "employees": employees,
    }
    return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _evaluated_lines(result: Result) -> list[dict]:
    """A result's lines with stable ids: the rule path, `#2`, `#3`... when a rule gives several lines."""
    out: list[dict] = []
    seen: dict[str, int] = {}
    for ln in result.lines:
        seen[ln.rule] = seen.get(ln.rule, 0) + 1
        line_id = ln.rule if seen[ln.rule] == 1 else f"{ln.rule}#{seen[ln.rule]}"
        out.append({"id": line_id, "name": ln.name, "rule": ln.rule, "value": _text(ln.value), "formula": ln.formula})
        if ln.note:
            out[-1]["note"] = ln.note
    return out


def _reevaluation_lines(plan: Plan, dataset, period: str, closed: dict, scores, reviews) -> list[tuple[str, dict]]:
    """(employee, adjustment line) for each closed period right before `period` (no open one between)
    whose re-evaluation differs from what its statement and later adjustments paid for it."""
    chain = _closed_chain(plan, period, closed)
    if not chain:
        return []
    rerun = evaluate(plan, dataset, chain, scores=scores, reviews=reviews)
    out = []
    for p in chain:
        frozen = {e["employee_id"]: e for e in json.loads(closed[p].content)["employees"]}
        paid_after = _paid_after(p, [c for c in chain if c > p], closed)
        now = {r.employee_id: r for r in rerun.results if r.period == p}
        for emp in sorted(set(frozen) | set(now)):
            was = [ln for ln in frozen[emp]["lines"] if ln["rule"] not in ADJUSTMENT_RULES] if emp in frozen else []
            is_ = _evaluated_lines(now[emp]) if emp in now else []
            paid = sum((Decimal(ln["value"]) for ln in was), ZERO)
            later = paid_after.get(emp, ZERO)
            owed = sum((Decimal(ln["value"]) for ln in is_), ZERO) - paid - later
            if owed != 0:
                out.append((emp, _adjustment_line(p, closed[p], was, is_, paid, later, owed)))
    return out


def _closed_chain(plan: Plan, period: str, closed: dict) -> list[str]:
    """The closed periods right before `period` (back to the first open one), closed under this plan version
    and not before it took effect: the ones whose late changes `period` pays."""
    first = parse_period(str(plan.effective_from)[:7])
    chain = []
    p = parse_period(period) - 1
    while p >= first and period_label(p) in closed and closed[period_label(p)].plan_version == plan.version:
        chain.append(period_label(p))
        p -= 1
    return sorted(chain)


def _paid_after(p: str, later: list[str], closed: dict) -> dict[str, Decimal]:
    """employee -> what the closed statements of `later` periods already paid as adjustments for `p`."""
    out: dict[str, Decimal] = {}
    for c in later:
        for e in json.loads(closed[c].content)["employees"]:
            for ln in e["lines"]:
                if ln["rule"] == "adjustment" and ln.get("for_period") == p:
                    out[e["employee_id"]] = out.get(e["employee_id"], ZERO) + Decimal(ln["value"])
    return out


def _adjustment_line(p: str, closed: ClosedStatement, was, is_, paid, later, owed) -> dict:
    before = {ln["id"]: Decimal(ln["value"]) for ln in was}
    after = {ln["id"]: Decimal(ln["value"]) for ln in is_}
    changed = [
        f"{line_id} {money(before.get(line_id, ZERO))} → {money(after.get(line_id, ZERO))}"
        for line_id in sorted(set(before) | set(after))
        if before.get(line_id, ZERO) != after.get(line_id, ZERO)
    ]
    formula = f"{p} re-evaluated {money(paid + later + owed)} − paid in {p}'s closed statement {money(paid)}"
    if later:
        formula += f" − adjusted since {money(later)}"
    formula += f" = {money(owed)}"
    return {
        "id": f"adjustment#{p}",
        "name": "adjustment",
        "rule": "adjustment",
        "value": _text(owed),
        "formula": formula,
        "for_period": p,
        "note": f"{p} was closed by {closed.closed_by} (sha256 {closed.content_hash[:12]}) and is not changed; "
        + ("changed lines: " + "; ".join(changed) if changed else "the lines are unchanged"),
    }


def _manual_line(row: dict, plan: Plan) -> dict:
    # Rounded like every other line (an accepted dispute's amount has at most 2 decimals: exact at cents).
    return {
        "id": f"pay_adjustments#{row['id']}",
        "name": "adjustment",
        "rule": "pay_adjustments",
        "value": _text(round_by(plan.rounding, Decimal(row["amount"]))),
        "formula": f"{row['reason']} ({row['source']}, by {row['created_by']})",
        "for_period": row["for_period"],
    }


def _text(x: Decimal) -> str:
    return format(x, "f")


__all__ = ["Statement", "close_period", "employee_lines", "statement"]
