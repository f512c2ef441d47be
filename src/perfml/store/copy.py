"""Copy a whole store into an empty one: e.g. a home's SQLite file into PostgreSQL when it outgrows one machine.

Every table (contract data, alerts and reviews, API keys, audit log, ...) is copied row by row in
foreign-key order, in one transaction on the target: all of it lands or none. Identity columns
keep their values, and PostgreSQL's sequences are moved past them so new rows get fresh ids.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perfml.errors import PerfmlError
from perfml.store.engine import create_all
from perfml.store.tables import metadata

BATCH_ROWS = 5_000  # rows held in memory per insert


def copy_store(source: Engine, target: Engine) -> dict[str, int]:
    """Copy every table of `source` into `target`, which must hold no rows; rows copied per table. Both stores
    must be at this perfml's schema (`StoreOutdated` otherwise: `perfml db upgrade` the source first)."""
    create_all(source)
    create_all(target)
    counts: dict[str, int] = {}
    with source.connect() as src, target.begin() as dst:
        for table in metadata.sorted_tables:
            if dst.execute(sa.select(sa.func.count()).select_from(table)).scalar_one():
                raise PerfmlError(f"cannot copy the store: the target's table {table.name} already has rows")
            counts[table.name] = 0
            rows = src.execution_options(yield_per=BATCH_ROWS).execute(sa.select(table))
            for part in rows.partitions():
                dst.execute(table.insert(), [dict(r._mapping) for r in part])
                counts[table.name] += len(part)
        if target.dialect.name == "postgresql":
            _advance_sequences(dst)
    return counts


def _advance_sequences(conn: sa.Connection) -> None:
    """Set each serial column's sequence to the largest copied id (explicit ids do not advance it)."""
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            if column.autoincrement is True:  # the service tables' `id`s; contract keys are the data's own
                sql = f"SELECT setval(pg_get_serial_sequence(:t, :c), COALESCE(MAX({column.name}), 0) + 1, false) "
                conn.execute(sa.text(sql + f"FROM {table.name}"), {"t": table.name, "c": column.name})
