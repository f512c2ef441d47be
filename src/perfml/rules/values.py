"""Exact metric values of one employee-period, each with its provenance, and the derived ratios.

Derived metrics (attainment, growth) are recomputed from their parts in Decimal, so a what-if
override of `revenue` moves attainment and growth with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from perfml.money import to_decimal
from perfml.rules.trace import Input

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
    """Metric values of one employee-period (Decimal or None) with an `Input` for each."""

    def __init__(
        self,
        employee_id: str,
        period: str,
        data: Mapping[str, Decimal | None],
        source: Callable[[str], Input] | None = None,
        not_tracked: frozenset[str] = frozenset(),
    ):
        self.employee_id = employee_id
        self.period = period
        self.not_tracked = not_tracked  # metrics of tables the company does not track: unknown, never 0
        self._data = dict(data)
        self._source = source  # builds a metric's provenance on first use (most are never asked for)
        self._inputs: dict[str, Input] = {}
        self._overridden: set[str] = set()

    def override(self, changes: Mapping[str, object]) -> Values:
        """A copy with some metrics replaced (what-if); derived metrics follow unless overridden too."""
        out = Values(self.employee_id, self.period, self._data, self._source, self.not_tracked)
        out._overridden = set(self._overridden)
        for name, value in changes.items():
            out._data[name] = as_decimal(value)
            out._inputs[name] = Input(name, out._data[name], "what-if")
            out._overridden.add(name)
        return out

    def get(self, name: str) -> Decimal | None:
        """The exact value of a metric (derived ones computed from their parts)."""
        if name in DERIVED and name not in self._overridden:
            parts, fn, _ = DERIVED[name]
            args = [self.get(p) for p in parts]
            return None if any(a is None for a in args) else fn(*args)
        return self._data.get(name)

    def input(self, name: str) -> Input:
        """Provenance of a metric for a trace (built once per metric, shared by the lines citing it)."""
        found = self._inputs.get(name)
        if found is None:
            if name in DERIVED and name not in self._overridden:
                found = Input(name, self.get(name), "derived", note=DERIVED[name][2])
            elif self._source is not None:
                found = self._source(name)
                found.value = self.get(name)
            else:
                found = Input(name, self.get(name), "metrics layer" if name in self._data else "missing")
            self._inputs[name] = found
        return found

    def inputs(self, *names: str) -> list[Input]:
        """Inputs of several metrics, plus the parts of derived ones."""
        out: list[Input] = []
        seen: set[str] = set()
        for name in names:
            for n in (name,) + (DERIVED[name][0] if name in DERIVED and name not in self._overridden else ()):
                if n not in seen:
                    seen.add(n)
                    out.append(self.input(n))
        return out
