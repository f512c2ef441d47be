"""Bonus line items: base (scaled by the scorecard), growth, team, milestone, and the satisfaction gate."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from perfml.rules.bands import HUNDRED, ZERO, find_band, fmt, pct, round_by
from perfml.rules.plan import BaseBonus, GrowthBonus, MilestoneBonus, Plan, SatisfactionGate, TeamBonus, required
from perfml.rules.trace import Input, Line, money, renderer
from perfml.rules.values import Values

SHOWN_PLACES = 2  # decimals a percent is shown with, unless more are needed to tell it from a bound


def percent_text(x: Decimal, bounds: Iterable[Decimal | None] = ()) -> str:
    """A percent for a formula: two decimals, more when fewer would misplace x against a bound ('29.9999%').

    A value the shown digits do not hold exactly is marked '≈' (e.g. '≈33.33%' for 100/3).
    """
    edges = [b for b in bounds if b is not None]
    places = SHOWN_PLACES
    while True:
        shown = _to_places(x, places)
        if shown == x or all((shown > b) == (x > b) and (shown == b) == (x == b) for b in edges):
            return f"{'' if shown == x else '≈'}{fmt(shown)}%"
        places += 1


def _to_places(x: Decimal, places: int) -> Decimal:
    # A value with no more than `places` decimals is already exact (and quantizing it could exceed the precision).
    exponent = x.as_tuple().exponent
    if not isinstance(exponent, int) or exponent >= -places:
        return x
    return x.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def band_bounds(bands: Sequence) -> list[Decimal | None]:
    """Every `from` and `to` of a band list: the values a percent is compared with."""
    return [edge for band in bands for edge in (band.lo, band.hi)]


def base_bonus_line(plan: Plan, seg_id: str, scorecard_total: Decimal | None) -> Line:
    """Base bonus: the amount × scorecard total / 100 (total counted up to `max_score`)."""
    rule = f"segments.{seg_id}.base_bonus"
    b = required(plan.segments[seg_id].base_bonus, rule)
    if not b.scale_by_scorecard:
        value = round_by(plan.rounding, b.amount)
        inputs = [Input("amount", b.amount, "plan")]
        return Line(rule, "base_bonus", value, inputs=inputs, render="base_bonus.fixed", spec=b)
    total = scorecard_total if scorecard_total is not None else ZERO
    counted = min(total, b.max_score)
    value = round_by(plan.rounding, b.amount * counted / HUNDRED)
    inputs = [
        Input("amount", b.amount, "plan"),
        Input("scorecard_total", total, "scorecard", note=f"segments.{seg_id}.scorecard"),
    ]
    return Line(rule, "base_bonus", value, inputs=inputs, render="base_bonus", facts=(counted, total, value), spec=b)


@renderer("base_bonus.fixed")
def _fixed_text(b: BaseBonus) -> str:
    return f"fixed {money(b.amount)}"


@renderer("base_bonus")
def _base_text(b: BaseBonus, counted: Decimal, total: Decimal, value: Decimal) -> str:
    capped = f" (capped at {fmt(b.max_score)})" if counted != total else ""
    return f"{money(b.amount)} × scorecard {fmt(counted)}{capped} / 100 = {money(value)}"


def growth_of(values: Values, metric: str, basis: str) -> tuple[Decimal | None, Decimal | None, str]:
    """(growth ratio, baseline, baseline metric name): vs the same month last year or the trailing 6-month mean."""
    base_name = growth_base(metric, basis)
    value, base = values.get(metric), values.get(base_name)
    if value is None or base is None or base <= 0:
        return None, base, base_name
    return value / base - 1, base, base_name


def growth_base(metric: str, basis: str) -> str:
    """The metric growth is measured against: the same month last year or the trailing 6-month mean."""
    return f"{metric}_last_year" if basis == "yoy" else f"{metric}_trailing6_mean"


def growth_line(plan: Plan, seg_id: str, values: Values, base_bonus: Decimal | None) -> Line:
    """Growth bonus: the rate of the growth band reached, on the increase, the metric or the base bonus."""
    rule = f"segments.{seg_id}.growth_bonus"
    g = required(plan.segments[seg_id].growth_bonus, rule)
    growth, base, base_name = growth_of(values, g.metric, g.basis)
    inputs = values.inputs(g.metric, base_name)
    value_now = values.get(g.metric)
    # growth is None exactly when the value or its baseline is missing (or the baseline is not above 0)
    if growth is None or value_now is None or base is None:
        return Line(rule, "growth_bonus", round_by(plan.rounding, ZERO), inputs=inputs, render="growth.none", spec=g)
    g_pct = growth * HUNDRED
    i = find_band(g.bands, g_pct)
    rate = g.bands[i].rate if i is not None else ZERO
    if g.applies_to == "increase":
        amount = max(value_now - base, ZERO)
    elif g.applies_to == "metric":
        amount = value_now
    else:
        amount = base_bonus or ZERO
        inputs.append(Input("base_bonus", base_bonus, "line", note=f"segments.{seg_id}.base_bonus"))
    value = round_by(plan.rounding, rate * amount / HUNDRED)
    facts = (g_pct, i, rate, value_now, base, base_bonus, value)
    return Line(rule, "growth_bonus", value, inputs=inputs, render="growth", facts=facts, spec=g)


@renderer("growth.none")
def _no_growth_text(g: GrowthBonus) -> str:
    return f"no {growth_base(g.metric, g.basis)} above 0 to grow from → 0"


@renderer("growth")
def _growth_text(
    g: GrowthBonus,
    g_pct: Decimal,
    i: int | None,
    rate: Decimal,
    value_now: Decimal,
    base: Decimal,
    base_bonus: Decimal | None,
    value: Decimal,
) -> str:
    if g.applies_to == "increase":
        what = f"increase max(0, {money(value_now)} − {money(base)})"
    elif g.applies_to == "metric":
        what = f"whole {g.metric} {money(value_now)}"
    else:
        what = f"base bonus {money(base_bonus)}"
    band = f"bands[{i}] rate {pct(rate)}" if i is not None else "no band → rate 0%"
    basis = "the same month last year" if g.basis == "yoy" else "the mean of the previous 6 months"
    return (
        f"{g.metric} growth {percent_text(g_pct, band_bounds(g.bands))} over {growth_base(g.metric, g.basis)} "
        f"({basis}): {money(value_now)} / {money(base)} − 1 → {band}; {pct(rate)} of the {what} = {money(value)}"
    )


def team_line(plan: Plan, seg_id: str, values: Values, base_bonus: Decimal | None) -> Line:
    """Team bonus: + rate % of the base bonus when team revenue grew at least `min_growth` % year on year."""
    rule = f"segments.{seg_id}.team_bonus"
    t = required(plan.segments[seg_id].team_bonus, rule)
    growth = values.get("team_revenue_growth_yoy")
    inputs = values.inputs("team_revenue_growth_yoy") + [
        Input("base_bonus", base_bonus, "line", note=f"segments.{seg_id}.base_bonus")
    ]
    zero = round_by(plan.rounding, ZERO)
    if growth is None:
        return Line(rule, "team_bonus", zero, inputs=inputs, render="team.none", spec=t)
    g_pct = growth * HUNDRED
    if g_pct < t.min_growth:
        return Line(rule, "team_bonus", zero, inputs=inputs, render="team.below", facts=(g_pct,), spec=t)
    value = round_by(plan.rounding, t.rate * (base_bonus or ZERO) / HUNDRED)
    facts = (g_pct, base_bonus, value)
    return Line(rule, "team_bonus", value, inputs=inputs, render="team", facts=facts, spec=t)


def _team_growth_text(t: TeamBonus, g_pct: Decimal) -> str:
    return f"team revenue growth {percent_text(g_pct, [t.min_growth])} over the same month last year"


@renderer("team.none")
def _no_team_text(t: TeamBonus) -> str:
    return "no team revenue a year ago → 0"


@renderer("team.below")
def _team_below_text(t: TeamBonus, g_pct: Decimal) -> str:
    return f"{_team_growth_text(t, g_pct)} < the minimum {pct(t.min_growth)} → 0"


@renderer("team")
def _team_text(t: TeamBonus, g_pct: Decimal, base_bonus: Decimal | None, value: Decimal) -> str:
    return (
        f"{_team_growth_text(t, g_pct)} ≥ the minimum {pct(t.min_growth)} → {pct(t.rate)} of the base bonus "
        f"{money(base_bonus)} = {money(value)}"
    )


def milestone_line(plan: Plan, seg_id: str, orders: Sequence[tuple[str, Decimal]]) -> Line:
    """Milestone bonus: a fixed amount per order of at least `min_order` credited to the employee this period."""
    rule = f"segments.{seg_id}.milestone_bonus"
    m = required(plan.segments[seg_id].milestone_bonus, rule)
    hits = [(oid, amt) for oid, amt in orders if amt >= m.min_order]
    value = round_by(plan.rounding, m.pays * len(hits))
    inputs = [
        Input(
            "qualifying_orders",
            Decimal(len(hits)),
            "orders",
            ids=[oid for oid, _ in hits],
            note=f"credited this period, amount ≥ {money(m.min_order)}",
        )
    ]
    return Line(rule, "milestone_bonus", value, inputs=inputs, render="milestone", facts=(len(hits), value), spec=m)


@renderer("milestone")
def _milestone_text(m: MilestoneBonus, hits: int, value: Decimal) -> str:
    return f"{hits} order(s) ≥ {money(m.min_order)} × {money(m.pays)} = {money(value)}"


def satisfaction_gate_line(plan: Plan, seg_id: str, values: Values, lines: Sequence[Line]) -> Line:
    """Satisfaction gate: below `min`, deduct `deduct` % of the lines before it (a negative line)."""
    rule = f"segments.{seg_id}.satisfaction_gate"
    s = required(plan.segments[seg_id].satisfaction_gate, rule)
    subtotal = sum((ln.value for ln in lines), ZERO)
    score = values.get(s.metric)
    inputs = values.inputs(s.metric) + [Input("subtotal", subtotal, "lines", note=", ".join(ln.name for ln in lines))]
    zero = round_by(plan.rounding, ZERO)
    if score is None and s.missing == "pass":
        return Line(rule, "satisfaction_gate", zero, inputs=inputs, render="gate.no_value", spec=s)
    if score is not None and score >= s.min:
        return Line(rule, "satisfaction_gate", zero, inputs=inputs, render="gate.passed", facts=(score,), spec=s)
    value = round_by(plan.rounding, -s.deduct * subtotal / HUNDRED)
    facts = (score, subtotal, value)
    return Line(rule, "satisfaction_gate", value, inputs=inputs, render="gate.deducted", facts=facts, spec=s)


@renderer("gate.no_value")
def _gate_no_value_text(s: SatisfactionGate) -> str:
    return f"no {s.metric} this period → no deduction"


@renderer("gate.passed")
def _gate_passed_text(s: SatisfactionGate, score: Decimal) -> str:
    return f"{s.metric} {fmt(score)} ≥ {fmt(s.min)} → no deduction"


@renderer("gate.deducted")
def _gate_deducted_text(s: SatisfactionGate, score: Decimal | None, subtotal: Decimal, value: Decimal) -> str:
    reason = f"no {s.metric} this period" if score is None else f"{s.metric} {fmt(score)} < {fmt(s.min)}"
    deducted = f"−{pct(s.deduct)} of the subtotal {money(subtotal)} of the lines before the gate"
    return f"{reason} → {deducted} = {money(value)}"
