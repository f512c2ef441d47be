"""Draws: an advance that tops commission up to the draw amount, recovered from later commission.

Each month with a draw pays max(commission, draw): when commission falls short, the shortfall is
advanced (`draw` line); for a recoverable draw it is added to a balance, recovered from later
commission above the draw (`draw_recovery`, a negative line) until the balance is 0. The balance
starts at 0 at the start of each plan year (January, or the plan's effective month if later) and
is walked month by month from the commission lines of the employee's earlier months of that year
(a month's commission is a pure function of that month's values). A balance still open at the end
of the year or at termination is forgiven: it is never deducted from anything but commission.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from perfml.rules.bands import ZERO, round_by
from perfml.rules.plan import Draw, Plan, required
from perfml.rules.trace import Input, Line, Result, money

BALANCE = "draw_balance"  # the Input (on the draw lines) holding the balance after the period


def balance_start(plan: Plan, period: str) -> str:
    """First month ('YYYY-MM') of the plan year `period` is in: January, or the plan's effective month if later."""
    return max(f"{period[:4]}-01", f"{plan.effective_from:%Y-%m}")


def draw_step(draw: Draw, commission: Decimal, balance: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """(advance paid, amount recovered, balance after) of one month (money)."""
    if commission < draw.amount:
        advance = draw.amount - commission
        return advance, ZERO, balance + advance if draw.recoverable else balance
    recovered = min(balance, commission - draw.amount) if draw.recoverable else ZERO
    return ZERO, recovered, balance - recovered


def opening_balance(plan: Plan, period: str, earlier: Iterable[tuple[str, str, Decimal]]) -> Decimal:
    """Balance (money) at the start of `period` from the employee's earlier (period, segment, commission) months."""
    start, balance = balance_start(plan, period), ZERO
    for month, seg_id, commission in sorted(earlier):
        draw = plan.segments[seg_id].draw
        if draw is not None and start <= month < period:
            balance = draw_step(draw, commission, balance)[2]
    return balance


def opening_balances(plan: Plan, commissions: Mapping[str, list[tuple[str, str, Decimal]]], wanted) -> dict:
    """(employee_id, period) -> opening balance, for each wanted pair, from each employee's monthly commissions."""
    return {(emp, p): opening_balance(plan, p, commissions.get(emp, [])) for emp, p in wanted}


def draw_lines(plan: Plan, seg_id: str, commission: Decimal, opening: Decimal) -> list[Line]:
    """The `draw` line (the advance) and, for a recoverable draw, the `draw_recovery` line (negative)."""
    rule = f"segments.{seg_id}.draw"
    draw = required(plan.segments[seg_id].draw, rule)
    advance, recovered, closing = draw_step(draw, commission, opening)
    inputs = [
        Input("commission", commission, "line", note=f"segments.{seg_id}.commission"),
        Input("amount", draw.amount, "plan"),
        Input("opening_balance", opening, "earlier periods", note="walked over the earlier months of the plan year"),
        Input(BALANCE, closing, "draw", note="carried to the next period"),
    ]
    if advance:
        kept = (
            f"balance {money(opening)} + {money(advance)} = {money(closing)}" if draw.recoverable else "not recovered"
        )
        text = (
            f"commission {money(commission)} < the draw {money(draw.amount)} → advance "
            f"{money(draw.amount)} − {money(commission)} = {money(advance)}; {kept}"
        )
    else:
        text = f"commission {money(commission)} ≥ the draw {money(draw.amount)} → no advance"
    lines = [Line(rule, "draw", round_by(plan.rounding, advance), text, inputs)]
    if draw.recoverable:
        above = max(commission - draw.amount, ZERO)
        text = (
            f"recovered min(balance {money(opening)}, commission above the draw {money(above)}) "
            f"= {money(recovered)}; balance {money(opening)} − {money(recovered)} = {money(closing)}"
        )
        value = round_by(plan.rounding, -recovered if recovered else ZERO)  # never a "-0.00"
        lines.append(Line(rule, "draw_recovery", value, text, inputs))
    return lines


def draw_balance(result: Result) -> Decimal | None:
    """The draw balance (money) after a result's period, or None when its segment has no draw."""
    line = result.line("draw")
    return next((i.value for i in line.inputs if i.name == BALANCE), None) if line else None
