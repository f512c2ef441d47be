"""The change feed (`data_changes`): the keys each write of contract rows upserted, for the service's workers
to follow the store by key.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the change feed."""
    op.create_table(
        "data_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False, comment="the contract table written"),
        sa.Column(
            "keys",
            sa.JSON(none_as_null=True),
            nullable=True,
            comment="the keys of the rows upserted; null: too many, re-read the whole store",
        ),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("data_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_changes_at"), ["at"], unique=False)


def downgrade() -> None:
    """Drop the change feed."""
    with op.batch_alter_table("data_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_changes_at"))
    op.drop_table("data_changes")
