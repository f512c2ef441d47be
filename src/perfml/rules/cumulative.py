"""Cumulative commissions and true-ups over a quarter or year.

Cumulative (`commission.cumulative: quarter | year`): the bands apply to the base to date and,
for bands on attainment, to the sum of the monthly targets to date; a period pays the increment

    pay(p) = round(tiers(to date, p included)) − round(tiers(to date, before p))

Rounding each to-date amount (not the increment) makes the months of a span add up to exactly
the rounded commission on the whole span. Gate and cap apply to the to-date amounts, so an
increment can be negative (attainment to date fell below where it stood).

True-up (`commission.true_up: quarter | year`): months pay on their own base and target; the
span's last month adds a `true_up` line = the commission on the whole span against its quota
(the sum of the monthly targets) − what the span's months paid.

The values frame carries exact to-date sums and the span's earlier months (Decimal columns
named by `to_date_column`, `before_column`, `months_back_column`), computed vectorised in
integer units.
"""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pandas as pd

from perfml.errors import PlanError
from perfml.metrics import MONEY, money_digits, parse_period, period_codes, period_label
from perfml.rules.bands import ZERO, round_by
from perfml.rules.commission import commission_amount, commission_line, commission_text
from perfml.rules.plan import Commission, Plan, required
from perfml.rules.trace import Input, Line, money
from perfml.rules.values import Values, from_units

SPAN_MONTHS = {"quarter": 3, "year": 12}
_TO_DATE = re.compile(r"^(?P<metric>.+)_(?P<span>quarter|year)_to_date(?P<before>_before)?$")
_BACK = re.compile(r"^(?P<metric>.+)_(?P<k>\d+)_months_back$")
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def to_date_column(metric: str, span: str) -> str:
    """Column of `metric` summed over the span (quarter or year) up to and including the period."""
    return f"{metric}_{span}_to_date"


def before_column(metric: str, span: str) -> str:
    """Column of `metric` summed over the span's periods before this one (0 in its first month)."""
    return f"{metric}_{span}_to_date_before"


def months_back_column(metric: str, k: int) -> str:
    """Column of `metric` k months earlier (None when that month is in another span or not employed)."""
    return f"{metric}_{k}_months_back"


def _summed(c: Commission) -> list[str]:
    return [c.base] + ([c.target.metric] if c.on == "attainment" and c.target.metric else [])


def commission_columns(c: Commission) -> set[str]:
    """The columns a cumulative or true-up commission reads beyond the period's own values."""
    names: set[str] = set()
    for metric in _summed(c):
        if c.cumulative != "period":
            names |= {to_date_column(metric, c.cumulative), before_column(metric, c.cumulative)}
        if c.true_up is not None:
            names.add(to_date_column(metric, c.true_up))
            names |= {months_back_column(metric, k) for k in range(1, SPAN_MONTHS[c.true_up])}
    return names


# -- the values frame --------------------------------------------------------------------------------
def with_cumulative_columns(
    frame: pd.DataFrame, units: pd.DataFrame, digits: int, needed: set[str], keep: pd.Series
) -> pd.DataFrame:
    """`frame[keep]` plus the exact (Decimal) to-date and months-back columns in `needed`.

    `frame` holds every employed month with its history (sorted by employee and period, as the
    metrics layer returns it) and `units` its exact money in 10**-digits; sums are taken over
    the whole frame, converted to Decimal only for the kept rows.
    """
    wanted = {n: m for n in sorted(needed) if (m := _TO_DATE.match(n) or _BACK.match(n)) and n not in frame.columns}
    if not wanted:
        return frame[keep]
    rows = frame[keep].copy()
    month = period_codes(frame["period"])
    employee = frame["employee_id"]
    for name, match in wanted.items():
        metric = match["metric"]
        if metric not in frame.columns:
            continue
        ints, places = _exact_units(frame, units, digits, metric)
        if "span" in match.groupdict():
            column = _to_date(ints, employee, month // SPAN_MONTHS[match["span"]], bool(match["before"]))
        else:
            column = _months_back(ints, employee, month, int(match["k"]))
        exact = [None if pd.isna(u) else from_units(int(u), places) for u in column[keep].tolist()]
        rows[name] = pd.Series(exact, index=rows.index, dtype=object)
    return rows


def _exact_units(frame: pd.DataFrame, units: pd.DataFrame, digits: int, metric: str) -> tuple[pd.Series, int]:
    """A metric as exact integers (nullable) and their decimal places: money from `units`, others scaled."""
    if metric in MONEY:
        return units[metric].astype("Int64"), digits
    values = frame[metric].astype("float64")
    places = money_digits(values)  # targets carry at most 6 places (the contract), counts none
    scaled = values.to_numpy(na_value=0.0) * 10**places
    if np.abs(scaled).sum() >= 2**62:
        raise PlanError(f"{metric}: values too large to sum exactly over a year")
    return pd.Series(np.rint(scaled).astype("int64"), index=frame.index).astype("Int64").mask(values.isna()), places


def _to_date(ints: pd.Series, employee: pd.Series, span: pd.Series, before: bool) -> pd.Series:
    """Running sum within each employee's span; unknown once any month of it is unknown."""
    key = [employee, span]
    total = ints.fillna(0).groupby(key).cumsum()
    unknown = ints.isna().astype("int64").groupby(key).cumsum() > 0
    total = total.mask(unknown)
    if not before:
        return total
    first = ints.groupby(key).cumcount() == 0
    return total.groupby(key).shift(1).mask(first, 0)


def _months_back(ints: pd.Series, employee: pd.Series, month: pd.Series, k: int) -> pd.Series:
    """The value k rows back within the employee, kept only when that row is exactly k months back."""
    lag = ints.groupby(employee).shift(k)
    lag_month = month.groupby(employee).shift(k)
    return lag.where(lag_month == month - k)


def cumulative_input(name: str, period: str) -> Input | None:
    """Provenance of a to-date or months-back column for a trace (None for other names)."""
    if (m := _TO_DATE.match(name)) is not None:
        first, last = span_start(period, m["span"]), period
        if m["before"]:
            last = period_label(parse_period(period) - 1) if _PERIOD.match(period) else "before " + period
        covered = "none (first month of the span)" if m["before"] and first == period else f"{first}..{last}"
        return Input(name, None, "metrics layer", period=covered, note=f"sum of {m['metric']} over the periods")
    if (m := _BACK.match(name)) is not None:
        back = period_label(parse_period(period) - int(m["k"])) if _PERIOD.match(period) else period
        return Input(name, None, "metrics layer", period=back, note=f"{m['metric']} of that period")
    return None


# -- the lines ---------------------------------------------------------------------------------------
def span_start(period: str, span: str) -> str:
    """First period of the quarter or year containing `period` ('2024-05' → '2024-04' or '2024-01')."""
    if not _PERIOD.match(period):
        return f"start of the {span}"
    p = parse_period(period)
    return period_label(p - p % SPAN_MONTHS[span])


def ends_span(period: str, span: str) -> bool:
    """Whether `period` is the last month of its quarter or year."""
    return bool(_PERIOD.match(period)) and parse_period(period) % SPAN_MONTHS[span] == SPAN_MONTHS[span] - 1


def commission_lines(plan: Plan, seg_id: str, values: Values) -> list[Line]:
    """The commission line (per period or cumulative), plus a true-up line at the end of its span."""
    c = required(plan.segments[seg_id].commission, f"segments.{seg_id}.commission")
    lines = [
        commission_line(plan, seg_id, values) if c.cumulative == "period" else cumulative_line(plan, seg_id, values)
    ]
    if c.true_up is not None and ends_span(values.period, c.true_up):
        lines.append(true_up_line(plan, seg_id, values))
    return lines


def _to_date_amount(plan: Plan, c: Commission, values: Values, column) -> tuple[Decimal, str, list[str]]:
    """Rounded commission on the base (and target) columns named by `column(metric)`, its text and columns."""
    names = [column(m) for m in _summed(c)]
    base = values.get(names[0])
    target = values.get(names[1]) if c.on == "attainment" else None
    raw, facts = commission_amount(c, base if base is not None else ZERO, target)
    text = commission_text(c, *facts)
    return round_by(plan.rounding, raw), text, names


def cumulative_line(plan: Plan, seg_id: str, values: Values) -> Line:
    """Commission on the span to date minus the commission on the span before this period."""
    rule = f"segments.{seg_id}.commission"
    c = required(plan.segments[seg_id].commission, rule)
    span, period = c.cumulative, values.period
    now, now_text, now_cols = _to_date_amount(plan, c, values, lambda m: to_date_column(m, span))
    earlier, earlier_text, earlier_cols = _to_date_amount(plan, c, values, lambda m: before_column(m, span))
    first = span_start(period, span)
    value = now - earlier
    before = (
        f"nothing earlier in the {span} → {money(earlier)}" if first == period else f"{earlier_text} = {money(earlier)}"
    )
    formula = (
        f"{span} to date {first}..{period}: {now_text} = {money(now)}; "
        f"{span} to date before this period: {before}; "
        f"this period pays {money(now)} − {money(earlier)} = {money(value)}"
    )
    return Line(rule, "commission", value, formula, values.inputs(*now_cols, *earlier_cols))


def true_up_line(plan: Plan, seg_id: str, values: Values) -> Line:
    """At the span's last month: commission on the whole span against its quota − what its months paid."""
    rule = f"segments.{seg_id}.commission.true_up"
    c = required(plan.segments[seg_id].commission, f"segments.{seg_id}.commission")
    span = required(c.true_up, rule)
    period = values.period
    whole, whole_text, whole_cols = _to_date_amount(plan, c, values, lambda m: to_date_column(m, span))
    paid, inputs = [], values.inputs(*whole_cols)
    for k in range(SPAN_MONTHS[span] - 1, -1, -1):
        amount, _, cols = _to_date_amount(plan, c, values, (lambda m, k=k: months_back_column(m, k)) if k else str)
        paid.append((period_label(parse_period(period) - k), amount))
        inputs += values.inputs(*cols)
    total_paid = sum((a for _, a in paid), ZERO)
    value = whole - total_paid
    months = " + ".join(f"{money(a)} ({p})" for p, a in paid)
    formula = (
        f"{span} {span_start(period, span)}..{period} against its quota (the sum of the monthly targets): "
        f"{whole_text} = {money(whole)}; the months paid {months} = {money(total_paid)}; "
        f"true-up {money(whole)} − {money(total_paid)} = {money(value)}"
    )
    return Line(rule, "true_up", value, formula, inputs)
