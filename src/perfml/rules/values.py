"""Exact metric values of one employee-period, each with its provenance, and the derived ratios.

Derived metrics (attainment, growth) are recomputed from their parts in Decimal, so a what-if
override of `revenue` moves attainment and growth with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from perfml.metrics import DERIVED_FROM, METRICS, parse_period, period_label
from perfml.money import to_decimal
from perfml.rules.trace import Input, Provenance

ONE = Decimal(1)


def _div(a: Decimal, b: Decimal) -> Decimal | None:
    return a / b if b != 0 else None


# name -> (parts, exact formula, formula text); None when a part is missing or a denominator is 0
DERIVED: dict[str, tuple[tuple[str, ...], Callable[..., Decimal | None], str]] = {
    "attainment": (("revenue", "revenue_target"), _div, "revenue / revenue_target"),
    "revenue_growth_yoy": (
        ("revenue", "revenue_last_year"),
        lambda a, b: None if b == 0 else a / b - ONE,
        "revenue / revenue_last_year - 1",
    ),
    "revenue_growth_trailing6": (
        ("revenue", "revenue_trailing6_mean"),
        lambda a, b: None if b == 0 else a / b - ONE,
        "revenue / revenue_trailing6_mean - 1",
    ),
    "team_revenue_growth_yoy": (
        ("team_revenue", "team_revenue_last_year"),
        lambda a, b: None if b == 0 else a / b - ONE,
        "team_revenue / team_revenue_last_year - 1",
    ),
}


def as_decimal(value) -> Decimal | None:
    """Exact Decimal of a metric value (None for missing); whole floats become integers."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        if value.is_integer():
            return Decimal(int(value))
    return to_decimal(value)


def from_units(units: int, digits: int) -> Decimal:
    """Exact Decimal of an integer money amount in 10**-digits, without trailing zeros (1234.5, 100)."""
    value = Decimal(int(units)).scaleb(-digits)
    return value.quantize(ONE) if value == value.to_integral_value() else value.normalize()


class Values:
    """Metric values of one employee-period (Decimal or None); a cited metric becomes an `Input` whose
    provenance (`provenance.describe`) is looked up only when read."""

    __slots__ = ("employee_id", "period", "not_tracked", "_data", "_origin", "_provenance", "_inputs", "_overridden")

    def __init__(
        self,
        employee_id: str,
        period: str,
        data: dict[str, Decimal | None],
        provenance: Provenance | None = None,
        not_tracked: frozenset[str] = frozenset(),
    ):
        self.employee_id = employee_id
        self.period = period
        self.not_tracked = not_tracked  # metrics of tables the company does not track: unknown, never 0
        self._data = data  # owned: callers hand over a fresh dict
        self._provenance = provenance
        self._origin = None if provenance is None else (provenance, employee_id, period)  # shared by its inputs
        self._inputs: dict[str, Input] = {}
        self._overridden: frozenset[str] = frozenset()

    def override(self, changes: Mapping[str, object]) -> Values:
        """A copy with some metrics replaced (what-if); derived metrics follow unless overridden too."""
        out = Values(self.employee_id, self.period, dict(self._data), self._provenance, self.not_tracked)
        out._overridden = self._overridden | frozenset(changes)
        for name, value in changes.items():
            out._data[name] = as_decimal(value)
            out._inputs[name] = Input(name, out._data[name], "what-if")
        return out

    def get(self, name: str) -> Decimal | None:
        """The exact value of a metric (derived ones computed from their parts)."""
        derived = DERIVED.get(name)
        if derived is not None and name not in self._overridden:
            parts, fn, _ = derived
            args = [self.get(p) for p in parts]
            return None if None in args else fn(*args)
        return self._data.get(name)

    def input(self, name: str) -> Input:
        """A metric cited by a trace (built once per metric, shared by the lines citing it)."""
        found = self._inputs.get(name)
        if found is None:
            if self._origin is not None and name not in self._overridden:
                found = Input(name, self.get(name), origin=self._origin)
            elif name in DERIVED and name not in self._overridden:
                found = Input(name, self.get(name), "derived", note=DERIVED[name][2])
            else:
                found = Input(name, self.get(name), "metrics layer" if name in self._data else "missing")
            self._inputs[name] = found
        return found

    def inputs(self, *names: str) -> list[Input]:
        """Inputs of several metrics, plus the parts of derived ones."""
        out: list[Input] = []
        for name in names:
            out.append(self.input(name))
            if name in DERIVED and name not in self._overridden:
                out += (self.input(p) for p in DERIVED[name][0])
        if len(out) == 1:
            return out
        unique: dict[str, Input] = {}
        for i in out:
            unique.setdefault(i.name, i)
        return list(unique.values())


# Row-counted metrics of the metrics layer and the table their rows come from.
ROW_SOURCES = {
    "revenue": "orders",
    "new_revenue": "orders",
    "repeat_revenue": "orders",
    "transferred_revenue": "orders",
    "revenue_at_close": "orders",
    "orders": "orders",
    "new_customers": "orders",
    "visits": "activities",
    "calls": "activities",
    "emails": "activities",
    "meetings": "activities",
    "messages": "activities",
    "activities": "activities",
    "leads": "leads",
    "leads_converted": "leads",
    "leads_lost": "leads",
    "leads_due_24h": "leads",
    "lead_responses": "leads",
    "satisfaction_responses": "satisfaction",
}
_CREDITED = ("revenue", "new_revenue", "repeat_revenue", "transferred_revenue")


class RunProvenance:
    """Where the metrics of one run came from; source row ids are read from the metrics layer on the
    first request (`evidence()` -> {(employee_id, period, metric): (table, ids)}), once for the run.

    `more(name, period)` describes further computed columns (an `Input`, or None for other names);
    `target_notes` holds a note on the targets of some employee-periods (e.g. prorated).
    """

    def __init__(
        self,
        columns: frozenset[str],
        evidence: Callable[[], dict],
        more: Callable[[str, str], Input | None] | None = None,
    ):
        self.columns = columns  # metric columns the run's metric table has
        self.target_notes: dict[tuple[str, str], str] = {}
        self._load = evidence
        self._more = more
        self._evidence: dict | None = None

    def _rows(self, employee_id: str, period: str, metric: str) -> tuple[str, list[str]]:
        if self._evidence is None:
            self._evidence = self._load()
        return self._evidence.get((employee_id, period, metric), (ROW_SOURCES.get(metric, "derived"), []))

    def describe(self, employee_id: str, period: str, name: str) -> tuple:
        """(source, ids, key, period, note) of one metric of one employee-period."""
        if name in DERIVED:
            return "derived", None, None, None, DERIVED[name][2]
        if name in ROW_SOURCES:
            table, ids = self._rows(employee_id, period, name)
            note = "as credited (crediting rules applied)" if name in _CREDITED else None
            return table, ids, None, period, note
        if name in DERIVED_FROM:
            parts = DERIVED_FROM[name]
            ids = sorted({i for part in parts for i in self._rows(employee_id, period, part)[1]})
            return ROW_SOURCES.get(parts[0], "derived"), ids, None, period, f"rate from {', '.join(parts)}"
        if name == "revenue_last_year":
            last = period_label(parse_period(period) - 12)
            table, ids = self._rows(employee_id, last, "revenue")
            return table, ids, None, last, "credited revenue a year earlier"
        if name.endswith("_target"):
            key = {"employee_id": employee_id, "period": period, "metric": name[: -len("_target")]}
            return "targets", None, key, None, self.target_notes.get((employee_id, period))
        if name.startswith("team_revenue"):
            return "orders", None, None, None, "team total at close (before crediting)"
        if name == "revenue_trailing6_mean" or "_best" in name or name.endswith(("_last_year", "_trailing6_mean")):
            return "metrics layer", None, None, None, "from earlier periods of the same employee"
        more = self._more(name, period) if self._more is not None else None
        if more is not None:
            return more.source, more.ids, more.key, more.period, more.note
        if name not in self.columns:
            return "missing", None, None, None, "not in the data for this period"
        if name in METRICS:
            return "metrics layer", None, None, None, None
        return "metrics", None, {"employee_id": employee_id, "period": period, "metric": name}, None, None
