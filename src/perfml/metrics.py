"""One metrics layer: per employee per calendar month, the quantities plans and models share.

API (names are stable; the ML features and the rule engine both read them)
-------------------------------------------------------------------------
``employee_period_metrics(dataset, *, periods=None, crediting=None) -> pd.DataFrame``
    One row per employee x period (``'YYYY-MM'``) in which the employee was employed (hire
    month .. termination month, inclusive), sorted by ``employee_id, period``, RangeIndex.
    ``periods`` (iterable of ``'YYYY-MM'``) restricts the rows returned; history before them
    is still used for growth. Default: every month from the first to the last event month
    of the dataset (orders, activities, leads, satisfaction, ownership changes, targets,
    metrics). ``crediting`` is a credit ledger from ``perfml.rules.crediting.credit_ledger``
    (columns ``order_id``, ``employee_id`` = credited to, NA = nobody, ``share_bp`` = share
    in 1/10,000; optional ``amount`` = the order in the plan's currency, ``status``); without
    it every order is credited 100% to the employee on the order, at its amount as written.

``metric_table(...) -> MetricTable``
    The same frame plus exact integer money columns (``.units``, ``.decimal(col, row)``), for
    the rule engine, which must not read money through floats.

``metric_evidence(dataset, *, periods, metrics, crediting=None) -> pd.DataFrame``
    The source rows behind row-counted metrics (employee_id, period, metric, table, ids), from
    the same definitions as the aggregates; rule-engine traces cite them.
    ``metric_table_and_evidence(...)`` returns both from one pass.

``METRICS``: name -> description (unit) of every computed column; ``period_of``,
``period_index``, ``period_codes``, ``period_label``, ``period_range``, ``shift_period``,
``period_bounds``, ``month_start``: calendar-month helpers (a month index is year * 12 + month - 1).
``activity_months(dataset)``: first and last month of the activity record (orders, activities, leads);
``activity_period_metrics(dataset)``: `employee_period_metrics` over those months plus the month index `p`.
``ratio(num, den)``: the one division helper (NaN where the denominator is missing or not positive).
``BUILTIN_TARGETS``: the contract's three targets, present in every metric table.

Columns (float64 unless said otherwise; counts are whole numbers stored as float)
    employee_id, period, team_id, role (strings); tenure_months (months since hire month)
    revenue            credited revenue (currency): after crediting when given, else at close
    revenue_at_close   order amounts closed by the employee, before crediting (currency)
    new_revenue, repeat_revenue   credited revenue split by order type (sum = revenue)
    transferred_revenue           credited revenue of orders whose customer came to the employee
                       by a transfer (ledger status transfer or released), after the share
    orders, new_customers         orders / `new` orders (= customers won) credited to the employee
    Every order-derived metric reads the ledger the same way: money by `share_bp`; a count goes
    once to each employee credited a positive share of the order (each holder of a split counts
    the order; a held share counts for nobody, a voided one for the original owner). Money is
    the ledger's `amount` (the plan's currency) for every order metric, team revenue included.
    visits, calls, emails, meetings, messages, activities (all types)   counts
    leads              leads created (owner_id)
    leads_converted, leads_lost   leads converted / lost in the period
    lead_conversion_rate          converted / (converted + lost) among leads resolved in the period
    leads_due_24h      leads whose 24 h first-contact deadline falls in the period
    leads_contacted_24h_share     share of those contacted within 24 h of creation
    lead_response_hours           mean hours creation -> first contact, leads first contacted in the period
    satisfaction_responses, avg_satisfaction (0-100)   surveys of the period; an unattributed
                       survey goes to the customer's owner at response time
    <metric>_target    from `targets` (revenue_target, visits_target, new_customers_target always present)
    attainment         revenue / revenue_target (ratio, 1.0 = on target)
    revenue_last_year, revenue_growth_yoy          same month a year earlier; growth = ratio - 1
    revenue_trailing6_mean, revenue_growth_trailing6   mean of the 6 previous months (all 6
                       must be employed months; the current month excluded); growth = ratio - 1
    team_revenue       revenue at close of everyone in the employee's team (currency); internal
                       crediting (assistant shares, splits, holds) does not change what the team
                       sold, but the ledger's conversion does: every order in the plan's currency
    team_revenue_last_year, team_revenue_growth_yoy
    <extra metric>     every metric of the optional `metrics` table, pivoted (NaN when not given)

Zeros, not NaN, when nothing happened; NaN only where a value is undefined (a rate with a zero
denominator, a growth without a base, a missing target or extra metric).

Time: an event's period is the calendar month of its timestamp; a period's row uses only
records dated inside it (plus earlier periods for growth), so ``Dataset.before(t)`` gives the
as-of view. Lead follow-up is dated by its deadline (created + 24 h) so the share is known when
the period closes; conversion is dated by resolution for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import overload

import numpy as np
import pandas as pd
import pyarrow as pa

from perfml.errors import PerfmlError
from perfml.frames import isin, lookup, positions, release_freed_memory, strictly_increasing

HISTORY_MONTHS = 12  # the longest look-back of any metric (same month last year)
SHARE_DIGITS = 4  # crediting shares are exact in 1/10,000 (basis points of the whole)
FULL_SHARE = 10**SHARE_DIGITS
KEY = ["employee_id", "period"]
TRANSFERRED_STATUSES = ("transfer", "released")  # ledger statuses of a receiver's credit on a transfer

METRICS: dict[str, str] = {
    "tenure_months": "whole months from the hire month to the period (months)",
    "revenue": "credited revenue (currency)",
    "revenue_at_close": "order amounts closed by the employee, before crediting (currency)",
    "new_revenue": "credited revenue of new-customer orders (currency)",
    "repeat_revenue": "credited revenue of repeat orders (currency)",
    "transferred_revenue": "credited revenue of orders whose customer came to the employee by a transfer (currency)",
    "orders": "orders credited to the employee, once per order with a positive share (count)",
    "new_customers": "new-customer orders credited to the employee, once per order with a positive share (count)",
    "visits": "visit activities (count)",
    "calls": "call activities (count)",
    "emails": "email activities (count)",
    "meetings": "meeting activities (count)",
    "messages": "message activities (count)",
    "activities": "activities of every type (count)",
    "leads": "leads created (count)",
    "leads_converted": "leads converted in the period (count)",
    "leads_lost": "leads lost in the period (count)",
    "lead_conversion_rate": "converted / resolved leads of the period (ratio 0-1)",
    "leads_due_24h": "leads whose 24 h contact deadline falls in the period (count)",
    "leads_contacted_24h_share": "share of due leads first contacted within 24 h (ratio 0-1)",
    "lead_response_hours": "mean hours from lead creation to first contact (hours)",
    "satisfaction_responses": "satisfaction surveys answered (count)",
    "avg_satisfaction": "mean satisfaction score (0-100)",
    "revenue_target": "revenue target (currency)",
    "visits_target": "visits target (count)",
    "new_customers_target": "new customers target (count)",
    "attainment": "revenue / revenue_target (ratio)",
    "revenue_last_year": "credited revenue of the same month a year earlier (currency)",
    "revenue_growth_yoy": "revenue / revenue_last_year - 1 (ratio)",
    "revenue_trailing6_mean": "mean credited revenue of the 6 previous months (currency)",
    "revenue_growth_trailing6": "revenue / revenue_trailing6_mean - 1 (ratio)",
    "team_revenue": "revenue at close of the employee's team (currency)",
    "team_revenue_last_year": "team revenue of the same month a year earlier (currency)",
    "team_revenue_growth_yoy": "team_revenue / team_revenue_last_year - 1 (ratio)",
}
# Targets every metric table carries (NaN when the export sets none): the contract's three.
BUILTIN_TARGETS = ("revenue_target", "visits_target", "new_customers_target")
# Money columns also kept as exact integers in MetricTable.units.
MONEY = (
    "revenue",
    "revenue_at_close",
    "new_revenue",
    "repeat_revenue",
    "transferred_revenue",
    "revenue_last_year",
    "revenue_trailing6_total",
    "team_revenue",
    "team_revenue_last_year",
)
_COUNT_ACTIVITY = {"visit": "visits", "call": "calls", "email": "emails", "meeting": "meetings", "message": "messages"}


# -- calendar months ------------------------------------------------------------------------
def period_index(ts):
    """Months since year 0: of each timestamp of a Series (Int64; NA for NaT), or of one timestamp or
    date (int). A sortable, shiftable period key."""
    if isinstance(ts, pd.Series):
        return (ts.dt.year * 12 + ts.dt.month - 1).astype("Int64")
    return int(ts.year * 12 + ts.month - 1)


def parse_period(period: str) -> int:
    """Month index of a `'YYYY-MM'` label."""
    try:
        year, month = str(period).split("-")
        idx = int(year) * 12 + int(month) - 1
        if len(year) != 4 or not 1 <= int(month) <= 12:
            raise ValueError
    except ValueError:
        raise PerfmlError(f"period must look like YYYY-MM, got {period!r}") from None
    return idx


def period_codes(labels: pd.Series) -> pd.Series:
    """Month indexes of a column of validated `'YYYY-MM'` labels (vectorised)."""
    codes, distinct = pd.factorize(labels.astype("string"))  # few distinct months: each is parsed once
    if (codes < 0).any():
        raise PerfmlError(f"period: {int((codes < 0).sum())} row(s) have no 'YYYY-MM' label")
    text = pd.Series(distinct, dtype="string")
    months = (text.str[:4].astype("int64") * 12 + text.str[5:7].astype("int64") - 1).to_numpy("int64")
    return pd.Series(months[codes], index=labels.index, dtype="int64")


@overload
def period_label(idx: int | np.integer) -> str: ...
@overload
def period_label(idx: pd.Series | np.ndarray | Iterable[int]) -> pd.Series: ...
def period_label(idx):  # the overloads above type it: a scalar gives a str, many a Series
    """`'YYYY-MM'` label(s) of month index(es)."""
    if np.isscalar(idx):
        return f"{int(idx) // 12:04d}-{int(idx) % 12 + 1:02d}"
    idx = pd.Series(idx)
    uniq = idx.dropna().unique()
    labels = {int(i): f"{int(i) // 12:04d}-{int(i) % 12 + 1:02d}" for i in uniq}
    return idx.map(labels).astype("string")


def period_of(ts: pd.Series) -> pd.Series:
    """`'YYYY-MM'` of each timestamp (the calendar month it falls in)."""
    return period_label(period_index(ts))


def shift_period(period: str, months: int) -> str:
    """The label `months` calendar months after `period` (negative = before)."""
    return period_label(parse_period(period) + months)


def period_range(start: str, end: str) -> list[str]:
    """Every label from `start` to `end` inclusive."""
    return [period_label(i) for i in range(parse_period(start), parse_period(end) + 1)]


def period_bounds(period: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) timestamps of a period."""
    start = pd.Timestamp(f"{period}-01")
    return start, start + pd.offsets.MonthBegin(1)


def month_start(idx):
    """First instant of month index(es) as naive timestamps (a Timestamp for a scalar, else a Series)."""
    if np.isscalar(idx):
        return pd.Timestamp(year=int(idx) // 12, month=int(idx) % 12 + 1, day=1)
    idx = np.asarray(idx, dtype=np.int64)
    return pd.Series(
        pd.to_datetime({"year": idx // 12, "month": idx % 12 + 1, "day": np.ones_like(idx)}), dtype="datetime64[ns]"
    )


ACTIVITY_TABLES = {"activities": "occurred_at", "orders": "closed_at", "leads": "created_at"}


def activity_months(dataset) -> tuple[int, int]:
    """(first, last) month index of the activity record (activities, orders, leads); hire dates and
    customer creation dates reach back before an export, and targets run ahead of it: neither counts."""
    spans = [span for t, c in ACTIVITY_TABLES.items() if (span := dataset.month_span(t, c)) is not None]
    if not spans:
        raise PerfmlError("no activities, orders or leads: no month of activity on record")
    return min(s[0] for s in spans), max(s[1] for s in spans)


def activity_period_metrics(dataset) -> pd.DataFrame:
    """`employee_period_metrics` over the months of the activity record plus `p` (month index), sorted by
    employee and month: a month with a target published ahead but no records yet is not a month of zero."""
    first, last = activity_months(dataset)
    monthly = employee_period_metrics(dataset, periods=[period_label(p) for p in range(first, last + 1)])
    monthly["p"] = period_codes(monthly["period"])
    return monthly.sort_values(["employee_id", "p"], kind="stable").reset_index(drop=True)


# -- exact money ----------------------------------------------------------------------------
def money_digits(amounts: pd.Series) -> int:
    """Fewest decimal places (0-6) at which every amount is exact; refuses amounts finer than that."""
    values = amounts.to_numpy(dtype="float64", na_value=0.0)
    for digits in range(7):
        scaled = np.rint(values * 10**digits)
        if np.array_equal(scaled / 10**digits, values):
            return digits
    raise PerfmlError("orders.amount: amounts with more than 6 decimal places cannot be credited exactly")


def money_units(amounts: pd.Series, digits: int) -> np.ndarray:
    """Amounts as exact int64 multiples of 10**-digits (checked against overflow)."""
    values = amounts.to_numpy(dtype="float64", na_value=0.0)
    # A total still has to fit int64 after the crediting share scaling; refuse rather than wrap.
    if np.abs(values).sum() * 10 ** (digits + SHARE_DIGITS) >= 2**62:
        raise PerfmlError("orders.amount: totals too large to credit exactly")
    return np.rint(values * 10**digits).astype("int64")


@dataclass(frozen=True)
class MetricTable:
    """Metrics frame plus exact money: `units[col]` are int64 multiples of 10**-digits currency."""

    frame: pd.DataFrame
    units: pd.DataFrame
    digits: int

    def decimal(self, column: str, row: int) -> Decimal | None:
        """Exact Decimal of a money column at a row position (None when undefined)."""
        value = self.units[column].iloc[row]
        if pd.isna(value):
            return None
        return Decimal(int(value)).scaleb(-self.digits)


# -- the metrics ------------------------------------------------------------------------------
def employee_period_metrics(
    dataset, *, periods: Iterable[str] | None = None, crediting: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per employee x month metrics (see the module docstring for every column and unit)."""
    return metric_table(dataset, periods=periods, crediting=crediting).frame


def metric_table(
    dataset, *, periods: Iterable[str] | None = None, crediting: pd.DataFrame | None = None
) -> MetricTable:
    """`employee_period_metrics` plus exact integer money columns for the rule engine."""
    return metric_table_and_evidence(dataset, periods=periods, crediting=crediting)[0]


def metric_table_and_evidence(
    dataset,
    *,
    periods: Iterable[str] | None = None,
    crediting: pd.DataFrame | None = None,
    evidence_metrics: Iterable[str] = (),
    evidence_periods: Iterable[str] = (),
    look_back: int = HISTORY_MONTHS,
) -> tuple[MetricTable, Evidence]:
    """`metric_table` and the source rows behind its metrics (`Evidence`) from one pass over the source tables.

    `look_back` months before the first period are read for growth; a caller that asks for its
    own history rows (the rule engine) may pass 0, and then only those history rows lack growth.
    """
    wanted = sorted({parse_period(p) for p in periods}) if periods is not None else None
    lo, hi = _data_range(dataset)
    if wanted:
        # Growth looks back at most 12 months, so older and later records cannot change the rows asked for.
        lo = wanted[0] - look_back if lo is None else max(min(lo, wanted[0]), wanted[0] - look_back)
        hi = wanted[-1]
    grid = _grid(dataset.employees, lo, hi)
    window = (lo, hi) if lo is not None and hi is not None else None  # both are None or neither
    orders, digits = _orders(dataset.orders, window, crediting)
    events = _events(dataset, orders, crediting, window)
    evidence = _evidence_of(events, evidence_metrics, evidence_periods)
    grid = _aggregate(events, grid)
    del events  # the largest intermediate: freed, and its pages handed back, before the joins below
    release_freed_memory()
    grid = _rates(grid)
    grid = _join(grid, _targets(dataset.targets, window), fill=None)
    grid = _growth(grid)
    grid = _team(grid, orders, dataset.employees)
    grid = _join(grid, _extra_metrics(dataset.metrics, set(grid.columns)), fill=None)
    # A table the company does not track gives unknown values, not zeros ("not tracked" is not "none").
    blind = [c for c in untracked_metrics(dataset) if c in grid.columns]
    grid[blind] = np.nan

    if wanted is not None:
        grid = grid[grid["p"].isin(wanted)]
    grid = grid.sort_values(["employee_id", "p"], kind="stable").reset_index(drop=True)
    grid["period"] = period_label(grid["p"]).to_numpy()
    units = grid[list(MONEY)].astype("Int64")
    scale = 10.0**digits
    for col in MONEY:
        grid[col] = grid[col].astype("float64") / scale
    grid["revenue_trailing6_mean"] = grid.pop("revenue_trailing6_total") / 6
    grid["attainment"] = ratio(grid["revenue"], grid["revenue_target"])
    grid["revenue_growth_yoy"] = ratio(grid["revenue"], grid["revenue_last_year"]) - 1
    grid["revenue_growth_trailing6"] = ratio(grid["revenue"], grid["revenue_trailing6_mean"]) - 1
    grid["team_revenue_growth_yoy"] = ratio(grid["team_revenue"], grid["team_revenue_last_year"]) - 1
    front = ["employee_id", "period", "team_id", "role"]
    known = [c for c in METRICS if c in grid.columns]
    rest = sorted(c for c in grid.columns if c not in front + known + ["p"])
    frame = grid[front + known + rest].astype({c: "float64" for c in known + rest})
    return MetricTable(frame, units, digits), evidence


# The metrics each optional source table feeds (orders, employees and customers are always tracked).
TABLE_METRICS: dict[str, tuple[str, ...]] = {
    "activities": ("visits", "calls", "emails", "meetings", "messages", "activities"),
    "leads": (
        "leads",
        "leads_converted",
        "leads_lost",
        "lead_conversion_rate",
        "leads_due_24h",
        "leads_contacted_24h",
        "leads_contacted_24h_share",
        "lead_responses",
        "response_hours_total",
        "lead_response_hours",
    ),
    "satisfaction": ("satisfaction_responses", "satisfaction_total", "avg_satisfaction"),
}


def untracked_metrics(dataset) -> frozenset[str]:
    """Metric columns computed from tables the dataset declares untracked (their values are unknown)."""
    return frozenset(m for t in getattr(dataset, "untracked", ()) for m in TABLE_METRICS.get(t, ()))


# Which row-counted metrics a derived metric rests on (for evidence in traces).
DERIVED_FROM: dict[str, tuple[str, ...]] = {
    "lead_conversion_rate": ("leads_converted", "leads_lost"),
    "leads_contacted_24h_share": ("leads_due_24h",),
    "lead_response_hours": ("lead_responses",),
    "avg_satisfaction": ("satisfaction_responses",),
    "attainment": ("revenue",),
    "revenue_growth_yoy": ("revenue",),
    "revenue_growth_trailing6": ("revenue",),
}


def metric_evidence(
    dataset, *, periods: Iterable[str], metrics: Iterable[str], crediting: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The rows behind row-counted metrics: (employee_id, period, metric, table, ids list), ids sorted."""
    return evidence_of_months(dataset, periods=periods, metrics=metrics, crediting=crediting).lists()


def evidence_of_months(
    dataset, *, periods: Iterable[str], metrics: Iterable[str], crediting: pd.DataFrame | None = None
) -> Evidence:
    """`metric_evidence` as `Evidence` (ids kept compact until asked for)."""
    months = sorted({parse_period(p) for p in periods})
    window = (months[0], months[-1]) if months else None
    orders, _ = _orders(dataset.orders, window, crediting)
    return _evidence_of(_events(dataset, orders, crediting, window), metrics, [period_label(p) for p in months])


@dataclass
class Evidence:
    """The source rows behind row-counted metrics, compact: one row per (employee_id, period, metric) with its
    table and the slice `start:stop` of `ids` (one Arrow array of row ids, sorted within each slice).

    Ids stay Arrow strings until asked for, a period at a time (`mapping`): as Python lists, the rows behind
    a year of a large company take several hundred MB.
    """

    rows: pd.DataFrame  # employee_id, period, metric, table, start, stop
    ids: pa.Array

    def lists(self) -> pd.DataFrame:
        """(employee_id, period, metric, table, ids list) per row."""
        out = self.rows[["employee_id", "period", "metric", "table"]].copy()
        out["ids"] = self._lists(self.rows)
        return out

    def mapping(self, employees: Iterable[str], periods: Iterable[str]) -> dict[tuple[str, str, str], tuple]:
        """{(employee_id, period, metric): (table, ids list)} of some employees in some periods."""
        rows = self.rows[isin(self.rows["period"], periods) & isin(self.rows["employee_id"], employees)]
        keys = zip(*(rows[c].tolist() for c in ("employee_id", "period", "metric", "table")), strict=True)
        return {(e, p, m): (t, ids) for (e, p, m, t), ids in zip(keys, self._lists(rows), strict=True)}

    def _lists(self, rows: pd.DataFrame) -> list[list[str]]:
        ids = self.ids
        return [
            ids.slice(a, b - a).to_pylist() for a, b in zip(rows["start"].tolist(), rows["stop"].tolist(), strict=True)
        ]


def _evidence_of(events: list, metrics: Iterable[str], periods: Iterable[str]) -> Evidence:
    wanted = {parse_period(p) for p in periods}
    names: set[str] = set()
    for m in metrics:
        names.update(DERIVED_FROM.get(m, (m,)))
    parts: list[pd.DataFrame] = []
    ids: list[pa.Array] = []
    offset = 0
    for ev in events:
        if ev.name not in names or not wanted:
            continue
        rows = ev.frame[ev.frame["p"].isin(wanted)].sort_values(["employee_id", "p", "id"], kind="stable")
        codes = pd.factorize(rows["employee_id"])[0]
        per = rows["p"].to_numpy()
        # Group boundaries by numpy: a slice of the ids per (employee, month).
        new_group = np.r_[True, (codes[1:] != codes[:-1]) | (per[1:] != per[:-1])] if len(rows) else np.zeros(0, bool)
        starts = np.flatnonzero(new_group).astype(np.int64)
        stops = np.r_[starts[1:], len(rows)].astype(np.int64) if len(rows) else starts
        parts.append(
            pd.DataFrame(
                {
                    "employee_id": rows["employee_id"].iloc[starts].astype("string").reset_index(drop=True),
                    "p": per[starts],
                    "metric": ev.name,
                    "table": ev.table,
                    "start": starts + offset,
                    "stop": stops + offset,
                }
            )
        )
        column = pa.array(rows["id"].astype("string").array)  # an Array, or a ChunkedArray of pandas' chunks
        ids += [c.cast(pa.large_string()) for c in (column.chunks if isinstance(column, pa.ChunkedArray) else [column])]
        offset += len(rows)
    if not parts:
        empty = pd.DataFrame(columns=["employee_id", "period", "metric", "table", "start", "stop"])
        return Evidence(empty, pa.array([], pa.large_string()))
    out = pd.concat(parts, ignore_index=True)
    out.insert(1, "period", period_label(out.pop("p")).to_numpy())
    return Evidence(out, pa.chunked_array(ids, pa.large_string()).combine_chunks())


def _aggregate(events: list, grid: pd.DataFrame) -> pd.DataFrame:
    """Every row count and sum as columns of `grid` (0 where none), integers exact.

    Rows are keyed by integers (the employee's row in the grid's employees x the month) and summed into a
    dense array per metric: no long frame of id strings, no join. Events of employees or months outside
    the grid count for nobody, as the left join onto the grid they replace did.
    """
    people = pd.array(pd.unique(grid["employee_id"].to_numpy(object)), dtype="string")
    lo = int(grid["p"].min()) if len(grid) else 0
    span = int(grid["p"].max()) - lo + 1 if len(grid) else 1
    rows = _grid_keys(grid["employee_id"], grid["p"], people, lo, span)
    cells = len(people) * span
    out = {}
    keys: dict[int, np.ndarray] = {}  # one key array per source frame, shared by its events
    for ev in events:
        if id(ev.source) not in keys:
            keys[id(ev.source)] = _grid_keys(ev.source["employee_id"], ev.source["p"], people, lo, span)
        key = keys[id(ev.source)]
        inside = key >= 0 if ev.mask is None else (key >= 0) & ev.mask
        key = key[inside]
        if ev.kind == "int":  # counts and money units: summed exactly in int64, one event at a time
            dense = np.zeros(cells, dtype="int64")
            if ev.value:
                np.add.at(dense, key, ev.source[ev.value].to_numpy()[inside].astype("int64"))
            else:
                dense += np.bincount(key, minlength=cells)
        else:  # float sums as pandas sums them (compensated), so averages do not move in the last digit
            summed = pd.Series(ev.source[ev.value].to_numpy("float64")[inside]).groupby(key, sort=False).sum()
            dense = np.zeros(cells, dtype="float64")
            dense[summed.index.to_numpy()] = summed.to_numpy()
        out[ev.name] = dense[rows]
    return grid.assign(**out)


def _grid_keys(employee_ids: pd.Series, months: pd.Series, people, lo: int, span: int) -> np.ndarray:
    """employee's position in `people` x span + month offset; -1 for an employee or month outside the grid."""
    who = positions(employee_ids, people)
    month = months.to_numpy("int64") - lo
    inside = (who >= 0) & (month >= 0) & (month < span)
    return np.where(inside, who * span + month, -1)


# -- building blocks ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Events:
    """Rows of one source table that make up one metric: employee_id, p, id[, value]."""

    name: str
    table: str
    source: pd.DataFrame  # shared by the events of one table: filtered by `mask`, never copied
    value: str | None = None  # summed column; None = count rows
    kind: str = "int"  # integer counts and money units, or float sums
    mask: np.ndarray | None = None  # the source rows that count (None: all)

    @property
    def frame(self) -> pd.DataFrame:
        """The rows of this metric (a copy when masked: only the traces' evidence asks for it)."""
        return self.source if self.mask is None else self.source[self.mask]


def _events(dataset, orders: pd.DataFrame, ledger: pd.DataFrame | None, window=None) -> list[_Events]:
    """Every row-counted metric, defined once: the aggregates and the trace evidence both use this."""
    credited = _credited(orders, ledger)
    new = _true(credited["order_type"] == "new")
    repeat = _true(credited["order_type"] == "repeat")
    counted = _true(credited["share_bp"] > 0)
    transferred = _true(credited["transferred_units"] > 0)
    out = [
        _Events("revenue", "orders", credited, "credited_units"),
        _Events("new_revenue", "orders", credited, "credited_units", mask=new),
        _Events("repeat_revenue", "orders", credited, "credited_units", mask=repeat),
        _Events("transferred_revenue", "orders", credited, "transferred_units", mask=transferred),
        _Events("revenue_at_close", "orders", orders, "units"),
        _Events("orders", "orders", credited, mask=counted),
        _Events("new_customers", "orders", credited, mask=counted & new),
    ]
    acts = _keyed(dataset.activities, "employee_id", "occurred_at", "activity_id", ["type"], window)
    kinds = acts.pop("type")
    out += [_Events(name, "activities", acts, mask=_true(kinds == kind)) for kind, name in _COUNT_ACTIVITY.items()]
    out.append(_Events("activities", "activities", acts))

    leads = dataset.leads
    response = (leads["first_contact_at"] - leads["created_at"]).dt.total_seconds() / 3600
    leads = leads.assign(deadline=leads["created_at"] + pd.Timedelta(hours=24), response_hours=response)
    due = _keyed(leads, "owner_id", "deadline", "lead_id", ["response_hours"], window)
    contacted = _keyed(leads, "owner_id", "first_contact_at", "lead_id", ["response_hours"], window)
    out += [
        _Events("leads", "leads", _keyed(leads, "owner_id", "created_at", "lead_id", (), window)),
        _Events("leads_converted", "leads", _keyed(leads, "owner_id", "converted_at", "lead_id", (), window)),
        _Events("leads_lost", "leads", _keyed(leads, "owner_id", "lost_at", "lead_id", (), window)),
        _Events("leads_due_24h", "leads", due),
        _Events("leads_contacted_24h", "leads", due, mask=_true(due["response_hours"].le(24))),
        _Events("lead_responses", "leads", contacted),
        _Events("response_hours_total", "leads", contacted, "response_hours", "float"),
    ]
    sat = _keyed(
        _attributed_satisfaction(dataset, window), "employee_id", "responded_at", "survey_id", ["score"], window
    )
    out += [
        _Events("satisfaction_responses", "satisfaction", sat),
        _Events("satisfaction_total", "satisfaction", sat, "score", "float"),
    ]
    return out


def _true(condition: pd.Series) -> np.ndarray:
    """A condition as a plain bool array, missing as False."""
    return condition.to_numpy(bool, na_value=False)


def _keyed(
    df: pd.DataFrame, who: str, when: str, id_col: str, keep: Iterable[str] = (), window: tuple[int, int] | None = None
) -> pd.DataFrame:
    """Rows with an employee and a timestamp (inside the month window), as (employee_id, p, id, *keep)."""
    mask = df[who].notna() & df[when].notna()
    if window is not None:
        mask &= _in_window(df[when], window)
    rows = df.loc[mask, list(dict.fromkeys([who, when, id_col, *keep]))]  # only the columns used are copied
    stamp = rows[when]
    return pd.DataFrame(
        {
            "employee_id": rows[who],
            "p": period_index(stamp).astype("int64"),
            "id": rows[id_col],
            **{c: rows[c] for c in keep},
        }
    )


def _in_window(stamps: pd.Series, window: tuple[int, int]) -> pd.Series:
    """Timestamps inside the months lo..hi (comparisons on datetimes, cheaper than month arithmetic)."""
    lo, hi = window
    start, end = month_start(lo), month_start(hi + 1)
    return (stamps >= start) & (stamps < end)


def _data_range(dataset) -> tuple[int | None, int | None]:
    """First and last month with any event (employees' dates do not widen the range)."""
    spans = [
        span
        for table, col in (
            ("orders", "closed_at"),
            ("activities", "occurred_at"),
            ("leads", "created_at"),
            ("satisfaction", "responded_at"),
            ("ownership_changes", "changed_at"),
            ("targets", "period"),
            ("metrics", "period"),
        )
        if (span := dataset.month_span(table, col)) is not None
    ]
    idx = [i for span in spans for i in span]
    return (min(idx), max(idx)) if idx else (None, None)


def _grid(employees: pd.DataFrame, lo: int | None, hi: int | None) -> pd.DataFrame:
    """Every employee x month employed, within [lo, hi]."""
    cols = ["employee_id", "team_id", "role"]
    if lo is None or hi is None or employees.empty:  # _data_range gives both or neither
        return pd.DataFrame(
            {
                **{c: pd.Series([], dtype="string") for c in cols},
                "p": pd.Series([], dtype="int64"),
                "tenure_months": pd.Series([], dtype="int64"),
            }
        )
    hired = period_index(employees["hire_date"]).fillna(lo).astype("int64")
    left = period_index(employees["termination_date"]).fillna(hi).astype("int64")
    start = np.maximum(hired.to_numpy(), lo)
    stop = np.minimum(left.to_numpy(), hi)
    n = np.clip(stop - start + 1, 0, None)
    rows = np.repeat(np.arange(len(employees)), n)
    # Offset of each repeated row inside its employee's block gives consecutive months.
    offset = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    grid = employees[cols].iloc[rows].reset_index(drop=True)
    grid["p"] = start[rows] + offset
    grid["tenure_months"] = grid["p"] - hired.to_numpy()[rows]
    return grid


def _orders(
    orders: pd.DataFrame, window: tuple[int, int] | None = None, ledger: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, int]:
    """Orders keyed by closer and month, amounts as exact integer units; returns the unit digits.

    A ledger with an `amount` column gives each order's amount (in the plan's currency)."""
    out = _keyed(orders, "employee_id", "closed_at", "order_id", ["customer_id", "amount", "order_type"], window)
    out["order_id"] = out["id"]
    if ledger is not None and "amount" in ledger.columns:
        amounts = ledger[["order_id", "amount"]]
        if not strictly_increasing(amounts["order_id"]):  # an order's amount is the same on each of its rows
            amounts = amounts[~amounts["order_id"].duplicated().to_numpy()]
        out["amount"] = lookup(out["order_id"], amounts["amount"].set_axis(amounts["order_id"]))
        uncovered = out["order_id"][out["amount"].isna()]
        if len(uncovered):
            raise PerfmlError(f"credit ledger lacks order(s) {', '.join(uncovered[:5])} of the months asked for")
    digits = money_digits(out["amount"]) if len(out) else 2
    # Units carry the crediting share digits already, so a credited share stays an exact integer.
    out["units"] = money_units(out["amount"], digits) * FULL_SHARE
    return out, digits + SHARE_DIGITS


def _credited(orders: pd.DataFrame, ledger: pd.DataFrame | None) -> pd.DataFrame:
    """Order rows as credited, one per (employee, order): employee_id, p, id, order_type, share_bp,
    credited_units and transferred_units (the part credited as the receiver of a transfer)."""
    if ledger is None:
        return orders.assign(share_bp=FULL_SHARE, credited_units=orders["units"], transferred_units=0)
    missing = {"order_id", "employee_id", "share_bp"} - set(ledger.columns)
    if missing:
        raise PerfmlError(f"credit ledger lacks column(s): {', '.join(sorted(missing))}")
    status = ledger["status"] if "status" in ledger.columns else pd.Series("direct", index=ledger.index)
    held = ledger["employee_id"].notna().to_numpy()
    rows = ledger.loc[held, ["order_id", "employee_id", "share_bp"]]
    rows = rows.assign(transferred=status[held].isin(TRANSFERRED_STATUSES).to_numpy()).reset_index(drop=True)
    # Each credited row takes its order's month, type and units (an inner join on the order, by position).
    at = positions(rows["order_id"], orders["order_id"])
    rows = rows[at >= 0].reset_index(drop=True)
    found = orders[["id", "p", "order_type", "units"]].iloc[at[at >= 0]].reset_index(drop=True)
    rows = pd.concat([rows, found], axis=1)
    rows["share_bp"] = rows["share_bp"].astype("int64")
    rows["credited_units"] = rows["units"] // FULL_SHARE * rows["share_bp"]
    rows["transferred_units"] = rows["credited_units"].where(rows.pop("transferred"), 0)
    # One employee may hold two rows of one order (a split share plus a voided one given back):
    # money adds up, a count must not.
    if not strictly_increasing(rows["order_id"]) and rows.duplicated(["employee_id", "order_id"]).any():
        keys = ["employee_id", "order_id", "id", "p", "order_type", "units"]
        sums = ["share_bp", "credited_units", "transferred_units"]
        rows = rows.groupby(keys, sort=False, dropna=False)[sums].sum().reset_index()
    return rows.reset_index(drop=True)


def _join(grid: pd.DataFrame, part: pd.DataFrame, fill) -> pd.DataFrame:
    """Left-join a per (employee_id, p) part; integer columns stay integers (exact money)."""
    part = part.astype({"p": "int64"})
    out = grid.merge(part, on=["employee_id", "p"], how="left")
    if fill is not None:
        for col in part.columns.drop(["employee_id", "p"]):
            filled = out[col].fillna(fill)
            out[col] = filled.astype("int64") if pd.api.types.is_integer_dtype(part[col]) else filled
    return out


def _attributed_satisfaction(dataset, window: tuple[int, int] | None = None) -> pd.DataFrame:
    """Surveys with an employee: as given, else the customer's owner at response time."""
    sat = dataset.satisfaction[["survey_id", "customer_id", "employee_id", "responded_at", "score"]]
    if window is not None:
        sat = sat[_in_window(sat["responded_at"], window)]
    missing = sat["employee_id"].isna()
    if missing.any():
        owners = _owner_at(dataset.ownership_changes, sat.loc[missing, ["customer_id", "responded_at"]])
        sat = sat.copy()
        sat.loc[missing, "employee_id"] = owners.to_numpy()
    return sat


def _owner_at(changes: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """Owner of each event's customer at its timestamp (latest change at or before it), aligned to `events`."""
    ev = events.rename(columns={events.columns[1]: "t"}).reset_index(names="_row").sort_values("t", kind="stable")
    ch = changes[["customer_id", "to_employee_id", "changed_at", "change_id"]].dropna(subset=["changed_at"])
    ch = ch.sort_values(["changed_at", "change_id"], kind="stable").rename(columns={"changed_at": "t"})
    if ev.empty or ch.empty:
        return pd.Series(pd.NA, index=events.index, dtype="string")
    out = pd.merge_asof(ev, ch, on="t", by="customer_id", direction="backward", allow_exact_matches=True)
    return out.set_index("_row")["to_employee_id"].reindex(events.index).astype("string")


def ratio(num, den):
    """num / den row by row as float64, NaN where `den` is missing or not positive (every denominator
    here is a count or a sum of non-negative money); a Series `num` gives a Series on its index."""
    n, d = np.asarray(num, dtype="float64"), np.asarray(den, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(d > 0, n / d, np.nan)
    return pd.Series(out, index=num.index) if isinstance(num, pd.Series) else out


def _rates(grid: pd.DataFrame) -> pd.DataFrame:
    grid["lead_conversion_rate"] = ratio(grid["leads_converted"], grid["leads_converted"] + grid["leads_lost"])
    grid["leads_contacted_24h_share"] = ratio(grid.pop("leads_contacted_24h"), grid["leads_due_24h"])
    grid["lead_response_hours"] = ratio(grid.pop("response_hours_total"), grid.pop("lead_responses"))
    grid["avg_satisfaction"] = ratio(grid.pop("satisfaction_total"), grid["satisfaction_responses"])
    return grid


def _targets(targets: pd.DataFrame, window: tuple[int, int] | None = None) -> pd.DataFrame:
    """`targets` (of the months lo..hi of `window`) pivoted to `<metric>_target` columns; the three contract
    targets always exist."""
    targets = targets.assign(p=period_codes(targets["period"]))
    if window is not None:
        targets = targets[targets["p"].between(*window)]
    wide = targets.pivot_table(index=["employee_id", "p"], columns="metric", values="target", aggfunc="first")
    wide.columns = [f"{m}_target" for m in wide.columns]
    wide = wide.reset_index()
    for name in BUILTIN_TARGETS:
        if name not in wide.columns:
            wide[name] = np.nan
    return wide


def _growth(grid: pd.DataFrame) -> pd.DataFrame:
    """Same month last year and the previous 6 months (exact integer sums, floats come later)."""
    # Nullable Int64 throughout: a float NaN detour would round large exact sums.
    base = grid[["employee_id", "p", "revenue"]].astype({"revenue": "Int64"})
    last = base.assign(p=base["p"] + 12).rename(columns={"revenue": "revenue_last_year"})
    grid = grid.merge(last, on=["employee_id", "p"], how="left")
    # Employment months are contiguous per employee, so 6 rows back = 6 calendar months back.
    grid = grid.sort_values(["employee_id", "p"], kind="stable").reset_index(drop=True)
    by = grid.groupby("employee_id", sort=False)
    cum = by["revenue"].cumsum().astype("Int64")
    pos = by.cumcount()
    cum_by = cum.groupby(grid["employee_id"], sort=False)
    total = cum_by.shift(1) - cum_by.shift(7).fillna(0)
    grid["revenue_trailing6_total"] = total.where(pos >= 6)
    return grid


def _team(grid: pd.DataFrame, orders: pd.DataFrame, employees: pd.DataFrame) -> pd.DataFrame:
    """Team revenue at close per month and a year earlier (teams of the closing employee)."""
    teams = orders[["employee_id", "p", "units"]].merge(
        employees[["employee_id", "team_id"]], on="employee_id", how="left"
    )
    totals = teams.groupby(["team_id", "p"], as_index=False)[["units"]].sum().rename(columns={"units": "team_revenue"})
    totals = totals.astype({"team_revenue": "Int64"})
    last = totals.assign(p=totals["p"] + 12).rename(columns={"team_revenue": "team_revenue_last_year"})
    grid = grid.merge(totals, on=["team_id", "p"], how="left").merge(last, on=["team_id", "p"], how="left")
    grid["team_revenue"] = grid["team_revenue"].fillna(0).astype("int64")
    # A team month with no sales a year ago is a zero base (growth undefined) when the team existed.
    existed = grid[["team_id", "p"]].drop_duplicates().assign(p=lambda d: d["p"] + 12, _was=True)
    grid = grid.merge(existed, on=["team_id", "p"], how="left")
    grid["team_revenue_last_year"] = (
        grid["team_revenue_last_year"]
        .astype("Int64")
        .mask(grid["team_revenue_last_year"].isna() & grid.pop("_was").fillna(False).astype(bool), 0)
    )
    return grid


def _extra_metrics(metrics: pd.DataFrame, taken: set[str]) -> pd.DataFrame:
    """The optional `metrics` table, one column per metric name."""
    if metrics.empty:
        return pd.DataFrame({"employee_id": pd.Series([], dtype="string"), "p": pd.Series([], dtype="int64")})
    clash = sorted(set(metrics["metric"]) & (taken | set(METRICS)))
    if clash:
        raise PerfmlError(f"metrics.metric: {', '.join(clash)} would shadow a computed metric; rename it")
    wide = metrics.assign(p=period_codes(metrics["period"])).pivot_table(
        index=["employee_id", "p"], columns="metric", values="value", aggfunc="first"
    )
    wide.columns = [str(c) for c in wide.columns]
    return wide.reset_index()
