"""Tiered commission: marginal (each rate on the part of the base inside its band) or whole-amount
(the reached tier's rate on the whole base), with an optional gate and cap; one rounding.
"""

from __future__ import annotations

from decimal import Decimal

from perfml.rules.bands import HUNDRED, ZERO, find_band, fmt, marginal_parts, pct, round_by
from perfml.rules.plan import Commission, Plan, required
from perfml.rules.scorecard import target_of
from perfml.rules.trace import Line, money
from perfml.rules.values import Values


def commission_amount(c: Commission, base: Decimal, target: Decimal | None) -> tuple[Decimal, str]:
    """Unrounded commission and its formula text for a base (money) and target (money, if on attainment)."""
    if c.on == "attainment":
        if target is None or target <= 0:
            return ZERO, "no target, so no attainment to pay on → 0"
        x, unit = base / target * HUNDRED, target / HUNDRED
        where = f"attainment {fmt(x.quantize(Decimal('0.01')))}% ({money(base)} / {money(target)})"
    else:
        x, unit = base, Decimal(1)
        where = f"amount {money(base)}"
    if c.gate is not None and x < c.gate:
        gate = pct(c.gate) if c.on == "attainment" else money(c.gate)
        return ZERO, f"{where} is below the gate {gate} → 0"
    if c.mode == "marginal":
        parts = marginal_parts(c.bands, base, unit)
        raw = sum((c.bands[i].rate * part / HUNDRED for i, part in parts), ZERO)
        terms = " + ".join(f"{pct(c.bands[i].rate)} × {money(part)}" for i, part in parts) or "0"
        formula = f"marginal on {where}: {terms}"
    else:
        i = find_band(c.bands, x)
        raw = ZERO if i is None else c.bands[i].rate * base / HUNDRED
        formula = (
            f"whole-amount on {where}: no tier applies → 0"
            if i is None
            else f"whole-amount on {where}: tier bands[{i}] {pct(c.bands[i].rate)} × {money(base)}"
        )
    if c.cap is not None and raw > c.cap:
        formula += f" = {money(raw)}, capped at {money(c.cap)}"
        raw = c.cap
    return raw, formula


def commission_line(plan: Plan, seg_id: str, values: Values) -> Line:
    """The commission line item of one employee-period."""
    rule = f"segments.{seg_id}.commission"
    c = required(plan.segments[seg_id].commission, rule)
    base = values.get(c.base)
    inputs = values.inputs(c.base)
    target: Decimal | None = None
    if c.on == "attainment":
        target, target_input = target_of(values, c.target)
        inputs.append(target_input)
    raw, formula = commission_amount(c, base if base is not None else ZERO, target)
    value = round_by(plan.rounding, raw)
    return Line(rule, "commission", value, f"{formula} = {money(value)}", inputs)
