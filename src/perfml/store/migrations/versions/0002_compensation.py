"""Compensation: order adjustments, split credits, fx rates, plan assignments, manual pay lines, closed
statements and disputes; orders' currency and product; row extras keep their column order on PostgreSQL
(json, not jsonb).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FIRST_RELEASE_TABLES = (
    "employees",
    "customers",
    "ownership_changes",
    "activities",
    "leads",
    "orders",
    "targets",
    "satisfaction",
    "transfer_labels",
    "demographics",
    "metrics",
)


def upgrade() -> None:
    """Add the compensation tables and columns."""
    op.create_table(
        "fx_rates",
        sa.Column("date", sa.DateTime(), nullable=False),
        sa.Column("from_currency", sa.String(), nullable=False),
        sa.Column("to_currency", sa.String(), nullable=False),
        sa.Column("rate", sa.String(64).with_variant(sa.Numeric(asdecimal=True), "postgresql"), nullable=False),
        sa.Column("extra", sa.JSON(none_as_null=True), nullable=True, comment="unknown and attr_* columns of the row"),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("date", "from_currency", "to_currency"),
    )
    op.create_table(
        "pay_adjustments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("employee_id", sa.String(), nullable=False),
        sa.Column(
            "period", sa.String(length=7), nullable=False, comment="the open period the line is paid in (YYYY-MM)"
        ),
        sa.Column("for_period", sa.String(length=7), nullable=False, comment="the period it corrects (YYYY-MM)"),
        sa.Column("amount", sa.String(length=40), nullable=False, comment="exact decimal text, in the plan's currency"),
        sa.Column("source", sa.String(length=64), nullable=False, comment="what made it, e.g. 'dispute:12'"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False, comment="principal"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("pay_adjustments", schema=None) as batch_op:
        batch_op.create_index("ix_pay_adjustments_plan_period", ["plan_id", "period"], unique=False)

    op.create_table(
        "statements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("plan_version", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False, comment="the closed period (YYYY-MM)"),
        sa.Column("content_hash", sa.String(length=64), nullable=False, comment="sha256 hex of `content`"),
        sa.Column("content", sa.Text(), nullable=False, comment="the frozen statement: canonical JSON, UTF-8"),
        sa.Column("closed_by", sa.String(), nullable=False, comment="principal"),
        sa.Column("closed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "period", name="uq_statements_plan_period"),
    )
    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("plan_version", sa.String(length=64), nullable=False),
        sa.Column("plan_hash", sa.String(length=64), nullable=False, comment="sha256 of the plan evaluated"),
        sa.Column("period", sa.String(length=7), nullable=False, comment="the disputed period (YYYY-MM)"),
        sa.Column("employee_id", sa.String(), nullable=False),
        sa.Column(
            "team_id", sa.String(), nullable=True, comment="the employee's team in that period: its manager resolves"
        ),
        sa.Column("line", sa.String(length=64), nullable=False, comment="line name, e.g. commission"),
        sa.Column("rule", sa.String(), nullable=False, comment="the line's rule id, e.g. segments.veteran.commission"),
        sa.Column(
            "line_value", sa.String(length=40), nullable=False, comment="exact decimal text of the line when opened"
        ),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_by", sa.String(), nullable=False, comment="principal"),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_by", sa.String(), nullable=True, comment="principal"),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True, comment="why it was accepted or rejected"),
        sa.Column(
            "amount", sa.String(length=40), nullable=True, comment="accepted: the adjustment, exact decimal text"
        ),
        sa.Column(
            "pay_period",
            sa.String(length=7),
            nullable=True,
            comment="accepted: the open period the adjustment is paid in",
        ),
        sa.Column("adjustment_id", sa.Integer(), nullable=True, comment="accepted: its pay line"),
        sa.CheckConstraint("status IN ('open', 'accepted', 'rejected')", name="ck_disputes_status"),
        sa.ForeignKeyConstraint(
            ["adjustment_id"],
            ["pay_adjustments.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index("ix_disputes_employee_period", ["employee_id", "period"], unique=False)
        batch_op.create_index("ix_disputes_team_status", ["team_id", "status"], unique=False)

    op.create_table(
        "plan_assignments",
        sa.Column("employee_id", sa.String(), nullable=False),
        sa.Column("plan_id", sa.String(), nullable=False),
        sa.Column("effective_from", sa.DateTime(), nullable=False),
        sa.Column("effective_to", sa.DateTime(), nullable=True),
        sa.Column("extra", sa.JSON(none_as_null=True), nullable=True, comment="unknown and attr_* columns of the row"),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["employee_id"], ["employees.employee_id"], initially="DEFERRED", deferrable=True),
        sa.PrimaryKeyConstraint("employee_id", "plan_id", "effective_from"),
    )
    op.create_table(
        "order_adjustments",
        sa.Column("adjustment_id", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("adjusted_at", sa.DateTime(), nullable=False),
        sa.Column("amount", sa.String(64).with_variant(sa.Numeric(asdecimal=True), "postgresql"), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("extra", sa.JSON(none_as_null=True), nullable=True, comment="unknown and attr_* columns of the row"),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.order_id"], initially="DEFERRED", deferrable=True),
        sa.PrimaryKeyConstraint("adjustment_id"),
    )
    op.create_table(
        "order_credits",
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("employee_id", sa.String(), nullable=False),
        sa.Column("share", sa.String(64).with_variant(sa.Numeric(asdecimal=True), "postgresql"), nullable=False),
        sa.Column("extra", sa.JSON(none_as_null=True), nullable=True, comment="unknown and attr_* columns of the row"),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["employee_id"], ["employees.employee_id"], initially="DEFERRED", deferrable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.order_id"], initially="DEFERRED", deferrable=True),
        sa.PrimaryKeyConstraint("order_id", "employee_id"),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("currency", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("product", sa.String(), nullable=True))

    if op.get_bind().dialect.name == "postgresql":
        for table in FIRST_RELEASE_TABLES:
            op.alter_column(table, "extra", type_=sa.JSON(none_as_null=True), postgresql_using="extra::json")


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("product")
        batch_op.drop_column("currency")

    op.drop_table("order_credits")
    op.drop_table("order_adjustments")
    op.drop_table("plan_assignments")
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index("ix_disputes_team_status")
        batch_op.drop_index("ix_disputes_employee_period")

    op.drop_table("disputes")
    op.drop_table("statements")
    with op.batch_alter_table("pay_adjustments", schema=None) as batch_op:
        batch_op.drop_index("ix_pay_adjustments_plan_period")

    op.drop_table("pay_adjustments")
    op.drop_table("fx_rates")
