"""Tiered commission: marginal (each rate on the part of the base inside its band) or whole-amount
(the reached tier's rate on the whole base), with an optional gate and cap; one rounding.

Texts never round a number across the threshold it is compared with: attainments are shown
exactly, or cut (towards minus infinity) after four decimals and marked `…`, next to the exact
fraction they come from.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from perfml.rules.bands import HUNDRED, ZERO, find_band, fmt, marginal_parts, pct, round_by
from perfml.rules.plan import Commission, Plan, RateBand, required
from perfml.rules.scorecard import target_of
from perfml.rules.trace import Line, money, renderer
from perfml.rules.values import Values

PERCENT_SHOWN = Decimal("0.0001")  # attainments are written to at most four decimals (percent)


def percent_text(x: Decimal) -> str:
    """x percent, exact when it has at most 4 decimals, else cut after 4 and marked `…` (never rounded up).

    A cut value is never above x, so it sits on the same side as x of any threshold with at most
    4 decimals: 49.999% stays below a 50% gate, 99.99999…% is never written 100%.
    """
    shown = x.quantize(PERCENT_SHOWN, rounding=ROUND_FLOOR)
    return f"{fmt(shown)}%" if shown == x else f"{fmt(shown)}…%"


def _band_part(band: RateBand, unit: Decimal, on: str) -> str:
    """Which part of the base a marginal band pays on, in money ('the part above 100,000.00')."""
    lo = max(ZERO, band.lo * unit) if band.lo is not None else ZERO
    if band.hi is None:
        return f"the part above {money(lo)}" if lo > 0 else "the whole amount"
    hi = band.hi * unit
    return f"the part up to {money(hi)}" if lo == 0 else f"the part from {money(lo)} to {money(hi)}"


def _band_range(band: RateBand, on: str) -> str:
    """The band's range in the plan's own terms ('attainment from 100%', 'amount 150,000.00 to 250,000.00')."""
    show = pct if on == "attainment" else money
    if band.lo is not None and band.hi is not None:
        return f"{on} from {show(band.lo)} to {show(band.hi)}"
    if band.lo is not None:
        return f"{on} from {show(band.lo)}"
    return f"{on} below {show(band.hi)}" if band.hi is not None else f"any {on}"


def commission_amount(c: Commission, base: Decimal, target: Decimal | None) -> tuple[Decimal, tuple]:
    """Unrounded commission for a base (money) and target (money, if on attainment), and the facts its text
    is rendered from (`commission_text(c, *facts)`)."""
    if c.on == "attainment":
        if target is None or target <= 0:
            return ZERO, (base, target, None, ZERO)
        x, unit = base / target * HUNDRED, target / HUNDRED
    else:
        x, unit = base, Decimal(1)
    if c.gate is not None and x < c.gate:
        return ZERO, (base, target, None, ZERO)
    if c.mode == "marginal":
        parts = tuple(marginal_parts(c.bands, base, unit))
        raw = sum((c.bands[i].rate * part / HUNDRED for i, part in parts), ZERO)
        reached: tuple | int | None = parts
    else:
        i = find_band(c.bands, x)
        raw = ZERO if i is None else c.bands[i].rate * base / HUNDRED
        reached = i
    return (raw if c.cap is None or raw <= c.cap else c.cap), (base, target, reached, raw)


def commission_text(c: Commission, base: Decimal, target: Decimal | None, reached, raw: Decimal) -> str:
    """The formula of `commission_amount`'s result from its facts (`reached`: the marginal parts, the tier
    index, or None when the gate or a missing target paid nothing)."""
    if c.on == "attainment":
        if target is None or target <= 0:
            return "no target, so no attainment to pay on → 0"
        x, unit = base / target * HUNDRED, target / HUNDRED
        where = f"attainment {percent_text(x)} ({money(base)} / {money(target)})"
    else:
        x, unit = base, Decimal(1)
        where = f"amount {money(base)}"
    if c.gate is not None and x < c.gate:
        gate = pct(c.gate) if c.on == "attainment" else money(c.gate)
        return f"{where} is below the gate {gate} → 0"
    if c.mode == "marginal":
        terms = " + ".join(f"{pct(c.bands[i].rate)} × {money(part)}" for i, part in reached) or "0"
        which = ", ".join(f"{pct(c.bands[i].rate)} of {_band_part(c.bands[i], unit, c.on)}" for i, _ in reached)
        formula = f"marginal on {where}: {terms}" + (f" ({which})" if which else "")
    elif reached is None:
        formula = f"whole-amount on {where}: no tier applies → 0"
    else:
        band = c.bands[reached]
        formula = (
            f"whole-amount on {where}: tier bands[{reached}] ({_band_range(band, c.on)}) "
            f"{pct(band.rate)} × {money(base)} ({pct(band.rate)} of the whole amount)"
        )
    if c.cap is not None and raw > c.cap:
        formula += f" = {money(raw)}, capped at {money(c.cap)}"
    return formula


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
    raw, facts = commission_amount(c, base if base is not None else ZERO, target)
    value = round_by(plan.rounding, raw)
    return Line(rule, "commission", value, inputs=inputs, render="commission", facts=(*facts, value), spec=c)


@renderer("commission")
def _commission_line_text(c: Commission, base: Decimal, target: Decimal | None, reached, raw: Decimal, value) -> str:
    return f"{commission_text(c, base, target, reached, raw)} = {money(value)}"
