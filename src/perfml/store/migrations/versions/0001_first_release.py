"""The schema of the first release (stores made by `create_all` before migrations existed).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the store's column types as they were (migrations never import live table code).
EXACT = sa.String(64).with_variant(sa.Numeric(asdecimal=True), "postgresql")  # exact money: text / NUMERIC
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    """Create every table of the first release."""
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(), nullable=False, comment="change_id for transfer alerts, else employee_id"),
        sa.Column("change_id", sa.String(), nullable=True),
        sa.Column("employee_id", sa.String(), nullable=True),
        sa.Column("team_id", sa.String(), nullable=True),
        sa.Column("period", sa.String(), nullable=True),
        sa.Column("as_of", sa.DateTime(), nullable=True),
        sa.Column("window_key", sa.String(), nullable=False, comment="period, or as_of as ISO date, or ''"),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("model_name", sa.String(), nullable=True),
        sa.Column("model_version", sa.String(), nullable=True),
        sa.Column("explanation", JSON, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("status IN ('open', 'confirmed', 'dismissed')", name="ck_alerts_status"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("type", "subject_id", "window_key", name="uq_alerts_subject_window"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_alerts_status", ["status"], unique=False)
        batch_op.create_index("ix_alerts_team_status", ["team_id", "status"], unique=False)
        batch_op.create_index("ix_alerts_type", ["type"], unique=False)

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False, comment="sha256 hex of the key; never the key"),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("team_id", sa.String(), nullable=True),
        sa.Column("employee_id", sa.String(), nullable=True),
        sa.Column("label", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("role IN ('hr_admin', 'hr_system', 'manager', 'employee')", name="ck_api_keys_role"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("principal", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=True),
        sa.Column("model_or_plan_version", sa.String(), nullable=True),
        sa.Column("request_id", sa.String(), nullable=True),
        sa.Column("details", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("segment", sa.String(), nullable=True),
        sa.Column("region", sa.String(), nullable=True),
        sa.Column("extra", JSON, nullable=True, comment="unknown and attr_* columns of the row"),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_table(
        "employees",
        sa.Column("employee_id", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("job_function", sa.String(), nullable=True),
        sa.Column("team_id", sa.String(), nullable=False),
        sa.Column("manager_id", sa.String(), nullable=True),
        sa.Column("hire_date", sa.DateTime(), nullable=False),
        sa.Column("probation_end_date", sa.DateTime(), nullable=True),
        sa.Column("termination_date", sa.DateTime(), nullable=True),
        sa.Column("extra", JSON, nullable=True, comment="unknown and attr_* columns of the row"),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["manager_id"], ["employees.employee_id"], initially="DEFERRED", deferrable=True),
        sa.PrimaryKeyConstraint("employee_id"),
    )
    op.create_table(
        "untracked_tables",
        sa.Column(
            "table_name", sa.String(length=64), nullable=False, comment="a contract table the company does not track"
        ),
        sa.Column("declared_at", sa.DateTime(), nullable=False, comment="import that declared it"),
        sa.PrimaryKeyConstraint("table_name"),
    )
    op.create_table(
        "alert_reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reviewer", sa.String(), nullable=False, comment="principal who decided"),
        sa.Column("reviewed_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("decision IN ('confirm', 'dismiss')", name="ck_alert_reviews_decision"),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_reviews_alert_id"), ["alert_id"], unique=False)

    op.create_table(
        "demographics",
        sa.Column("employee_id", sa.String(), nullable=False),
        sa.Column("extra", JSON, nullable=True, comment="unknown and attr_* columns of the row"),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["employee_id"], ["employees.employee_id"], initially="DEFERRED", deferrable=True),
        sa.PrimaryKeyConstraint("employee_id"),
    )
    op.create_table(
        "leads",
        sa.Column("lead_id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=True),
        sa.Column("owner_id", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("first_contact_at", sa.DateTime(), nullable=True),
        sa.Column("converted_at", sa.DateTime(), nullable=True),
        sa.Column("lost_at", sa.DateTime(), nullable=True),
        sa.Column("extra", JSON, nullable=True, comment="unknown and attr_* columns of the row"),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.customer_id"], initially="DEFERRED", deferrable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["employees.employee_id"], initially="DEFERRED", deferrable=True),
        sa.PrimaryKeyConstraint("lead_id"),
    )
    op.create_table(
        "metrics",
        sa.Column("employee_id", sa.String(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("extra", JSON, nullable=True, comment="unknown and attr_* columns of the row"),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["employee_id"], ["employees.employee_id"], initially="DEFERRED", deferrable=True),
        sa.PrimaryKeyConstraint("employee_id", "period", "metric"),
    )
    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("employee_id", sa.String(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=False),
        sa.Column("amount", EXACT, nullable=False),
        sa.Column("order_type", sa.String(), nullable=True),
        sa.Column("extra", JSON, nullable=True, comment="unknown and attr_* columns of the row"),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.customer_id"], initially="DEFERRED", deferrable=True),
        sa.ForeignKeyConstraint(["employee_id"], ["employees.employee_id"], initially="DEFERRED", deferrable=True),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_table(
        "ownership_changes",
        sa.Column("change_id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("from_employee_id", sa.String(), nullable=True),
        sa.Column("to_employee_id", sa.String(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("extra", JSON, nullable=True, comment="unknown and attr_* columns of the row"),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.customer_id"], initially="DEFERRED", deferrable=True),
        sa.ForeignKeyConstraint(["from_employee_id"], ["employees.employee_id"], initially="DEFERRED", deferrable=True),
        sa.ForeignKeyConstraint(["to_employee_id"], ["employees.employee_id"], initially="DEFERRED", deferrable=True),
        sa.PrimaryKeyConstraint("change_id"),
    )
    op.create_table(
        "satisfaction",
        sa.Column("survey_id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("employee_id", sa.String(), nullable=True),
        sa.Column("responded_at", sa.DateTime(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("extra", JSON, nullable=True, comment="unknown and attr_* columns of the row"),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.customer_id"], initially="DEFERRED", deferrable=True),
        sa.ForeignKeyConstraint(["employee_id"], ["employees.employee_id"], initially="DEFERRED", deferrable=True),
        sa.PrimaryKeyConstraint("survey_id"),
    )
    op.create_table(
        "targets",
        sa.Column("employee_id", sa.String(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("target", EXACT, nullable=False),
        sa.Column("extra", JSON, nullable=True, comment="unknown and attr_* columns of the row"),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["employee_id"], ["employees.employee_id"], initially="DEFERRED", deferrable=True),
        sa.PrimaryKeyConstraint("employee_id", "period", "metric"),
    )
    op.create_table(
        "activities",
        sa.Column("activity_id", sa.String(), nullable=False),
        sa.Column("employee_id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=True),
        sa.Column("lead_id", sa.String(), nullable=True),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("duration_minutes", sa.Float(), nullable=True),
        sa.Column("extra", JSON, nullable=True, comment="unknown and attr_* columns of the row"),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.customer_id"], initially="DEFERRED", deferrable=True),
        sa.ForeignKeyConstraint(["employee_id"], ["employees.employee_id"], initially="DEFERRED", deferrable=True),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.lead_id"], initially="DEFERRED", deferrable=True),
        sa.PrimaryKeyConstraint("activity_id"),
    )
    op.create_table(
        "transfer_labels",
        sa.Column("change_id", sa.String(), nullable=False),
        sa.Column("is_anomalous", sa.Integer(), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(), nullable=True),
        sa.Column("extra", JSON, nullable=True, comment="unknown and attr_* columns of the row"),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["change_id"], ["ownership_changes.change_id"], initially="DEFERRED", deferrable=True),
        sa.PrimaryKeyConstraint("change_id"),
    )


def downgrade() -> None:
    """The first schema has nothing below it."""
    raise NotImplementedError("the first schema cannot be downgraded")
