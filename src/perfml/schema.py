"""The data contract: the canonical tables, their columns, types, ranges and rules.

This module only *describes* the contract; `perfml.validation` enforces it and
`perfml.dataset` loads data through it. Everything that needs to know a table's
columns (loader, store, simulator tests, API ingest) reads it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["id", "text", "timestamp", "date", "float", "int", "period", "enum", "flag"]

PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
ROLES = ("sales", "assistant", "manager")
ACTIVITY_TYPES = ("visit", "call", "email", "meeting", "message", "other")
ORDER_TYPES = ("new", "repeat")
ATTR_PREFIX = "attr_"

# Bounds every value must respect, whatever the table (documented in the README's data contract).
TIME_RANGE = ("1900-01-01", "2100-01-01")  # timestamps and dates: from the first, strictly before the second
MONEY_MAX = 1e12  # amounts and targets, in currency units
MONEY_PLACES = 6  # decimal places of amounts and targets (the rule engine credits them exactly)
MINUTES_PER_DAY = 1440  # longest activity
METRIC_BOUND = 1e12  # |metrics.value|: any per-period measure (score, count, money) fits well inside

# The manifest of a dataset folder, and the tables it may not declare untracked: without them
# there is nobody to score and nothing sold.
MANIFEST = "dataset.yaml"
ALWAYS_TRACKED = ("employees", "customers", "orders")


@dataclass(frozen=True)
class Column:
    """One column of a canonical table."""

    name: str
    kind: Kind
    required: bool = False
    nullable: bool = True
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    places: int | None = None  # most decimal places a number may be written with


@dataclass(frozen=True)
class Reference:
    """`column` of this table must exist as `target_column` of `target_table` (when not empty)."""

    column: str
    target_table: str
    target_column: str


@dataclass(frozen=True)
class Table:
    """A canonical table: columns, unique key, references and the column that dates a record."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    optional: bool = False
    references: tuple[Reference, ...] = ()
    time_column: str | None = None
    keep_attr_columns: bool = False
    notes: str = ""

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _req(name: str, kind: Kind, **kw) -> Column:
    return Column(name, kind, required=True, nullable=False, **kw)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "employees",
            (
                _req("employee_id", "id"),
                _req("role", "enum", choices=ROLES),
                Column("job_function", "text"),
                _req("team_id", "id"),
                Column("manager_id", "id"),
                _req("hire_date", "date"),
                Column("probation_end_date", "date"),
                Column("termination_date", "date"),
            ),
            key=("employee_id",),
            references=(Reference("manager_id", "employees", "employee_id"),),
            time_column="hire_date",
            keep_attr_columns=True,
            notes="attr_* columns are optional HR attributes, typed numeric or categorical",
        ),
        Table(
            "customers",
            (
                _req("customer_id", "id"),
                _req("created_at", "timestamp"),
                Column("segment", "text"),
                Column("region", "text"),
            ),
            key=("customer_id",),
            time_column="created_at",
        ),
        Table(
            "ownership_changes",
            (
                _req("change_id", "id"),
                _req("customer_id", "id"),
                Column("from_employee_id", "id"),
                _req("to_employee_id", "id"),
                _req("changed_at", "timestamp"),
                Column("reason", "text"),
            ),
            key=("change_id",),
            references=(
                Reference("customer_id", "customers", "customer_id"),
                Reference("from_employee_id", "employees", "employee_id"),
                Reference("to_employee_id", "employees", "employee_id"),
            ),
            time_column="changed_at",
            notes="empty from_employee_id = first assignment",
        ),
        Table(
            "activities",
            (
                _req("activity_id", "id"),
                _req("employee_id", "id"),
                Column("customer_id", "id"),
                Column("lead_id", "id"),
                _req("type", "enum", choices=ACTIVITY_TYPES),
                _req("occurred_at", "timestamp"),
                Column("duration_minutes", "float", min=0, max=MINUTES_PER_DAY),
            ),
            key=("activity_id",),
            references=(
                Reference("employee_id", "employees", "employee_id"),
                Reference("customer_id", "customers", "customer_id"),
                Reference("lead_id", "leads", "lead_id"),
            ),
            time_column="occurred_at",
        ),
        Table(
            "leads",
            (
                _req("lead_id", "id"),
                Column("customer_id", "id"),
                _req("owner_id", "id"),
                _req("created_at", "timestamp"),
                Column("first_contact_at", "timestamp"),
                Column("converted_at", "timestamp"),
                Column("lost_at", "timestamp"),
            ),
            key=("lead_id",),
            references=(
                Reference("customer_id", "customers", "customer_id"),
                Reference("owner_id", "employees", "employee_id"),
            ),
            time_column="created_at",
        ),
        Table(
            "orders",
            (
                _req("order_id", "id"),
                _req("customer_id", "id"),
                _req("employee_id", "id"),
                _req("closed_at", "timestamp"),
                _req("amount", "float", min=0, max=MONEY_MAX, places=MONEY_PLACES),
                Column("order_type", "enum", choices=ORDER_TYPES),
                Column("currency", "text"),
                Column("product", "text"),
            ),
            key=("order_id",),
            references=(
                Reference("customer_id", "customers", "customer_id"),
                Reference("employee_id", "employees", "employee_id"),
            ),
            time_column="closed_at",
            notes="missing order_type is derived: a customer's first order is new; "
            "currency is an ISO 4217 code (empty = the plan's currency)",
        ),
        Table(
            "order_adjustments",
            (
                _req("adjustment_id", "id"),
                _req("order_id", "id"),
                _req("adjusted_at", "timestamp"),
                _req("amount", "float", min=-MONEY_MAX, max=MONEY_MAX, places=MONEY_PLACES),
                Column("reason", "text"),
            ),
            key=("adjustment_id",),
            optional=True,
            references=(Reference("order_id", "orders", "order_id"),),
            time_column="adjusted_at",
            notes="a later change to an order's amount in its currency: negative for a refund or cancellation",
        ),
        Table(
            "order_credits",
            (
                _req("order_id", "id"),
                _req("employee_id", "id"),
                _req("share", "float", min=0, max=100, places=2),
            ),
            key=("order_id", "employee_id"),
            optional=True,
            references=(
                Reference("order_id", "orders", "order_id"),
                Reference("employee_id", "employees", "employee_id"),
            ),
            notes="split credit: the shares (percent) of one order sum to 100; without rows the closer gets 100%",
        ),
        Table(
            "fx_rates",
            (
                _req("date", "date"),
                _req("from_currency", "text"),
                _req("to_currency", "text"),
                _req("rate", "float", min=0, max=MONEY_MAX, places=MONEY_PLACES),
            ),
            key=("date", "from_currency", "to_currency"),
            optional=True,
            time_column="date",
            notes="1 from_currency = rate to_currency; "
            "an order converts at its close date's rate or the last earlier one",
        ),
        Table(
            "plan_assignments",
            (
                _req("employee_id", "id"),
                _req("plan_id", "text"),
                _req("effective_from", "date"),
                Column("effective_to", "date"),
            ),
            key=("employee_id", "plan_id", "effective_from"),
            optional=True,
            references=(Reference("employee_id", "employees", "employee_id"),),
            time_column="effective_from",
            notes="which plan pays whom when (effective_to inclusive; empty = open); one plan per person per day",
        ),
        Table(
            "targets",
            (
                _req("employee_id", "id"),
                _req("period", "period"),
                _req("metric", "text"),
                _req("target", "float", min=0, max=MONEY_MAX, places=MONEY_PLACES),
            ),
            key=("employee_id", "period", "metric"),
            references=(Reference("employee_id", "employees", "employee_id"),),
        ),
        Table(
            "satisfaction",
            (
                _req("survey_id", "id"),
                _req("customer_id", "id"),
                Column("employee_id", "id"),
                _req("responded_at", "timestamp"),
                _req("score", "float", min=0, max=100),
            ),
            key=("survey_id",),
            references=(
                Reference("customer_id", "customers", "customer_id"),
                Reference("employee_id", "employees", "employee_id"),
            ),
            time_column="responded_at",
        ),
        Table(
            "transfer_labels",
            (_req("change_id", "id"), _req("is_anomalous", "flag"), Column("reviewed_at", "timestamp")),
            key=("change_id",),
            optional=True,
            references=(Reference("change_id", "ownership_changes", "change_id"),),
            notes="audit outcomes; also written by reviewed transfer alerts",
        ),
        Table(
            "demographics",
            (_req("employee_id", "id"),),
            key=("employee_id",),
            optional=True,
            references=(Reference("employee_id", "employees", "employee_id"),),
            notes="protected group columns; read only by the bias audit, never a model input",
        ),
        Table(
            "metrics",
            (
                _req("employee_id", "id"),
                _req("period", "period"),
                _req("metric", "text"),
                _req("value", "float", min=-METRIC_BOUND, max=METRIC_BOUND),
            ),
            key=("employee_id", "period", "metric"),
            optional=True,
            references=(Reference("employee_id", "employees", "employee_id"),),
            notes="extra per-period metrics for non-sales plans (e.g. teaching score)",
        ),
    )
}

REQUIRED_TABLES = tuple(name for name, t in TABLES.items() if not t.optional)
