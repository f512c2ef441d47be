"""Alembic environment: migrations run on the connection perfml hands over (`perfml.store.migrate`)."""

from alembic import context

from perfml.store.tables import ExactDecimal, metadata


def render_item(kind, obj, autogen_context):
    """Write perfml's exact-money type as the plain column types it stands for, so migrations stay frozen."""
    if kind == "type" and isinstance(obj, ExactDecimal):
        return 'sa.String(64).with_variant(sa.Numeric(asdecimal=True), "postgresql")'
    return False


connection = context.config.attributes["connection"]
# SQLite cannot ALTER most things in place: batch mode rebuilds the table (copy, swap) instead.
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    render_item=render_item,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
