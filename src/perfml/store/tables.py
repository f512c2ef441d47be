"""The store's tables: canonical tables generated from the data contract, and the service tables.

One SQLAlchemy Core `metadata` holds everything. The canonical tables are built from
`perfml.schema.TABLES` (never restated here): primary key = `Table.key`, SQL types by
`Column.kind`, foreign keys from `Table.references`, plus `extra` (JSON: unknown and `attr_*`
columns, so nothing supplied is lost) and `ingested_at`.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from perfml.money import to_decimal
from perfml.schema import TABLES, Table

EXACT_COLUMNS = {
    "orders": ("amount",),
    "targets": ("target",),
    "order_adjustments": ("amount",),
    "order_credits": ("share",),
    "fx_rates": ("rate",),
}
"""Money-like columns stored exactly (the rule engine reads them as `Decimal`)."""

ALERT_TYPES = ("transfer_anomaly", "decline", "low_performer", "review_list", "reminder")
ALERT_STATUSES = ("open", "confirmed", "dismissed")
REVIEW_DECISIONS = ("confirm", "dismiss")
API_ROLES = ("hr_admin", "hr_system", "manager", "employee")
DISPUTE_STATUSES = ("open", "accepted", "rejected")
_BOOKKEEPING = ("extra", "ingested_at")


def utcnow() -> datetime:
    """Naive UTC now, the store's convention for every timestamp."""
    return datetime.now(UTC).replace(tzinfo=None)


# -- types -------------------------------------------------------------------------------
class ExactDecimal(sa.types.TypeDecorator):
    """A `Decimal`: unconstrained NUMERIC on PostgreSQL, decimal text elsewhere.

    SQLite has no exact numeric type (NUMERIC affinity stores a REAL), and a fixed scale such
    as NUMERIC(18, 2) would silently round an amount with more decimals, so SQLite keeps the
    canonical text and PostgreSQL an arbitrary-precision NUMERIC. Either way reads give `Decimal`.
    """

    impl = sa.String
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.Numeric(asdecimal=True))
        return dialect.type_descriptor(sa.String(64))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        exact = to_decimal(value)
        return exact if dialect.name == "postgresql" else format(exact, "f")

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value) if not isinstance(value, Decimal) else value


_JSON = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
# A row's extra columns keep the order of the export's columns: PostgreSQL's `json` keeps key order, `jsonb` sorts.
_ROW_JSON = sa.JSON(none_as_null=True)


def _sql_type(table: str, column) -> sa.types.TypeEngine:
    if column.name in EXACT_COLUMNS.get(table, ()):
        return ExactDecimal()
    if column.kind in ("timestamp", "date"):
        return sa.DateTime()
    if column.kind == "float":
        return sa.Float()
    if column.kind in ("flag", "int"):
        return sa.Integer()
    return sa.String()  # id, text, enum, period


# -- tables ------------------------------------------------------------------------------
metadata = sa.MetaData()


def _canonical_table(spec: Table) -> sa.Table:
    """One SQL table for one contract table."""
    clashes = set(spec.names) & set(_BOOKKEEPING)
    assert not clashes, f"{spec.name}: contract column(s) {clashes} clash with store bookkeeping"
    columns = [
        sa.Column(
            c.name,
            _sql_type(spec.name, c),
            primary_key=c.name in spec.key,
            nullable=c.nullable and c.name not in spec.key,
        )
        for c in spec.columns
    ]
    # Deferred foreign keys are checked at COMMIT: a transaction may write tables in any order
    # (employees whose manager comes later in the same batch, API ingest of several tables),
    # yet the store never commits a dangling reference.
    fks = [
        sa.ForeignKeyConstraint(
            [r.column], [f"{r.target_table}.{r.target_column}"], deferrable=True, initially="DEFERRED"
        )
        for r in spec.references
    ]
    return sa.Table(
        spec.name,
        metadata,
        *columns,
        sa.Column("extra", _ROW_JSON, nullable=True, comment="unknown and attr_* columns of the row"),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        *fks,
    )


CANONICAL: dict[str, sa.Table] = {name: _canonical_table(spec) for name, spec in TABLES.items()}


def _in(table: str, column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=f"ck_{table}_{column}")


alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("type", sa.String(32), nullable=False),  # one of ALERT_TYPES; not a CHECK so new types need no migration
    # No foreign keys to the canonical tables: the service may score records it has not stored yet.
    sa.Column("subject_id", sa.String, nullable=False, comment="change_id for transfer alerts, else employee_id"),
    sa.Column("change_id", sa.String),
    sa.Column("employee_id", sa.String),
    sa.Column("team_id", sa.String),
    sa.Column("period", sa.String),
    sa.Column("as_of", sa.DateTime),
    # NULLs never collide in a UNIQUE constraint, so the key uses a non-null window text.
    sa.Column("window_key", sa.String, nullable=False, comment="period, or as_of as ISO date, or ''"),
    sa.Column("score", sa.Float),
    sa.Column("model_name", sa.String),
    sa.Column("model_version", sa.String),
    sa.Column("explanation", _JSON),
    sa.Column("status", sa.String(16), nullable=False, default="open"),
    sa.Column("created_at", sa.DateTime, nullable=False, default=utcnow),
    sa.Column("updated_at", sa.DateTime, nullable=False, default=utcnow, onupdate=utcnow),
    sa.UniqueConstraint("type", "subject_id", "window_key", name="uq_alerts_subject_window"),
    _in("alerts", "status", ALERT_STATUSES),
    sa.Index("ix_alerts_type", "type"),
    sa.Index("ix_alerts_team_status", "team_id", "status"),
    sa.Index("ix_alerts_status", "status"),
    sa.Index("ix_alerts_created_at", "created_at"),
)

alert_reviews = sa.Table(
    "alert_reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("reviewer", sa.String, nullable=False, comment="principal who decided"),
    sa.Column("reviewed_at", sa.DateTime, nullable=False, default=utcnow),
    _in("alert_reviews", "decision", REVIEW_DECISIONS),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True, comment="sha256 hex of the key; never the key"),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("team_id", sa.String),
    sa.Column("employee_id", sa.String),
    sa.Column("label", sa.String),
    sa.Column("created_at", sa.DateTime, nullable=False, default=utcnow),
    sa.Column("revoked_at", sa.DateTime),
    _in("api_keys", "role", API_ROLES),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False, default=utcnow, index=True),
    sa.Column("principal", sa.String, nullable=False),
    sa.Column("action", sa.String, nullable=False),
    sa.Column("target", sa.String),
    sa.Column("model_or_plan_version", sa.String),
    sa.Column("request_id", sa.String),
    sa.Column("details", _JSON),
)

untracked_tables = sa.Table(
    "untracked_tables",
    metadata,
    sa.Column("table_name", sa.String(64), primary_key=True, comment="a contract table the company does not track"),
    sa.Column("declared_at", sa.DateTime, nullable=False, default=utcnow, comment="import that declared it"),
)

pay_adjustments = sa.Table(
    "pay_adjustments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("plan_id", sa.String(64), nullable=False),
    sa.Column("employee_id", sa.String, nullable=False),
    sa.Column("period", sa.String(7), nullable=False, comment="the open period the line is paid in (YYYY-MM)"),
    sa.Column("for_period", sa.String(7), nullable=False, comment="the period it corrects (YYYY-MM)"),
    sa.Column("amount", sa.String(40), nullable=False, comment="exact decimal text, in the plan's currency"),
    sa.Column("source", sa.String(64), nullable=False, comment="what made it, e.g. 'dispute:12'"),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_by", sa.String, nullable=False, comment="principal"),
    sa.Column("created_at", sa.DateTime, nullable=False, default=utcnow),
    sa.Index("ix_pay_adjustments_plan_period", "plan_id", "period"),
)

statements = sa.Table(
    "statements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("plan_id", sa.String(64), nullable=False),
    sa.Column("plan_version", sa.String(64), nullable=False),
    sa.Column("period", sa.String(7), nullable=False, comment="the closed period (YYYY-MM)"),
    sa.Column("content_hash", sa.String(64), nullable=False, comment="sha256 hex of `content`"),
    sa.Column("content", sa.Text, nullable=False, comment="the frozen statement: canonical JSON, UTF-8"),
    sa.Column("closed_by", sa.String, nullable=False, comment="principal"),
    sa.Column("closed_at", sa.DateTime, nullable=False, default=utcnow),
    # One closed statement per plan and period: closing again is refused, never a second version.
    sa.UniqueConstraint("plan_id", "period", name="uq_statements_plan_period"),
)

disputes = sa.Table(
    "disputes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # The statement line disputed, as it read when the dispute was opened.
    sa.Column("plan_id", sa.String(64), nullable=False),
    sa.Column("plan_version", sa.String(64), nullable=False),
    sa.Column("plan_hash", sa.String(64), nullable=False, comment="sha256 of the plan evaluated"),
    sa.Column("period", sa.String(7), nullable=False, comment="the disputed period (YYYY-MM)"),
    sa.Column("employee_id", sa.String, nullable=False),
    sa.Column("team_id", sa.String, comment="the employee's team in that period: its manager resolves"),
    sa.Column("line", sa.String(64), nullable=False, comment="line name, e.g. commission"),
    sa.Column("rule", sa.String, nullable=False, comment="the line's rule id, e.g. segments.veteran.commission"),
    sa.Column("line_value", sa.String(40), nullable=False, comment="exact decimal text of the line when opened"),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="open"),
    sa.Column("opened_by", sa.String, nullable=False, comment="principal"),
    sa.Column("opened_at", sa.DateTime, nullable=False, default=utcnow),
    sa.Column("resolved_by", sa.String, comment="principal"),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("reason", sa.Text, comment="why it was accepted or rejected"),
    sa.Column("amount", sa.String(40), comment="accepted: the adjustment, exact decimal text"),
    sa.Column("pay_period", sa.String(7), comment="accepted: the open period the adjustment is paid in"),
    sa.Column("adjustment_id", sa.Integer, sa.ForeignKey("pay_adjustments.id"), comment="accepted: its pay line"),
    _in("disputes", "status", DISPUTE_STATUSES),
    sa.Index("ix_disputes_employee_period", "employee_id", "period"),
    sa.Index("ix_disputes_team_status", "team_id", "status"),
)

data_changes = sa.Table(
    "data_changes",
    metadata,
    # Ids are taken under a table lock held to COMMIT (`perfml.store.changes`): they commit in id order.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("table_name", sa.String(64), nullable=False, comment="the contract table written"),
    sa.Column("keys", _ROW_JSON, comment="the keys of the rows upserted; null: too many, re-read the whole store"),
    sa.Column("at", sa.DateTime, nullable=False, default=utcnow, index=True),
)

SERVICE_TABLES = (
    alerts,
    alert_reviews,
    api_keys,
    audit_log,
    untracked_tables,
    pay_adjustments,
    statements,
    disputes,
    data_changes,
)


def hash_key(key: str) -> str:
    """The sha256 hex digest stored in `api_keys.key_hash` for an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


def import_order() -> list[str]:
    """Canonical table names with every referenced table before the tables referring to it."""
    done: list[str] = []

    def visit(name: str, path: tuple[str, ...] = ()) -> None:
        if name in done:
            return
        assert name not in path, f"reference cycle through {path + (name,)}"
        for ref in TABLES[name].references:
            if ref.target_table != name:  # self references are covered by deferred FKs
                visit(ref.target_table, path + (name,))
        done.append(name)

    for name in TABLES:
        visit(name)
    return done
