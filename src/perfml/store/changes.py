"""The change feed: which contract rows each committed write upserted, in commit order.

Several service workers each hold a snapshot of the store (`perfml.serving.snapshot.DatasetCache`).
To see each other's writes without re-reading the store, every write of contract rows (`perfml
import`, `POST /v1/ingest`, an alert review) calls `record_changes` as the last statement of its
transaction: one `data_changes` row per table written, with the keys of the rows upserted (null
when there are more than `MAX_KEYS`: a bulk import, after which a follower re-reads the whole store).
A follower remembers the last id it applied and asks for the ones above it (`changes_since`).

That is only sound if ids become visible in id order. PostgreSQL hands out serial ids at INSERT,
so two concurrent writers could commit id 6 before id 5, and a follower that had read 6 would
skip 5 for ever. `record_changes` therefore takes a lock on the table that writers of the feed
queue behind and readers ignore, held until COMMIT; being the last statement, it is held for the
commit alone. SQLite has one writer at a time: its ids are in commit order already.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from perfml.schema import TABLES
from perfml.store.tables import data_changes, utcnow

MAX_KEYS = 10_000
"""More keys than this in one table of one write are recorded as 'whole table': followers re-read the store."""

KEEP = timedelta(hours=1)
"""How long feed rows are kept (`prune_changes`); a follower that fell further behind re-reads the store."""

Key = str | tuple
"""A row's key: its value for a one-column key, a tuple of values for a composite key."""


@dataclass(frozen=True)
class Change:
    """One table of one committed write: `keys` None means too many to list."""

    id: int
    table: str
    keys: frozenset[Key] | None


def _encode(value):
    """A key value as JSON: text as is, timestamps as ISO text."""
    return value.isoformat() if isinstance(value, (pd.Timestamp, datetime)) else value


def _decode(table: str, column: str, value):
    """A key value from JSON, typed as the store's column is (timestamps as `datetime`)."""
    spec = TABLES[table].column(column)
    assert spec is not None, f"{table}.{column} is not a contract column"
    return pd.Timestamp(value).to_pydatetime() if spec.kind in ("timestamp", "date") and value is not None else value


def key_values(table: str, frame: pd.DataFrame) -> list[Key]:
    """The keys of the rows of a typed frame of `table`."""
    key = TABLES[table].key
    columns = [[_encode(v) for v in frame[k].tolist()] for k in key]
    return columns[0] if len(key) == 1 else list(zip(*columns, strict=True))


def record_changes(conn: Connection, frames: Mapping[str, pd.DataFrame | None]) -> None:
    """Record, in the caller's transaction and as its last statement, the rows it upserted: table -> typed rows.

    A table given None (or more than `MAX_KEYS` rows) is recorded as wholly changed."""
    now = utcnow()
    rows = []
    for name, frame in frames.items():
        if frame is not None and frame.empty:
            continue
        keys = None if frame is None or len(frame) > MAX_KEYS else [_json_key(k) for k in key_values(name, frame)]
        rows.append({"table_name": name, "keys": keys, "at": now})
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        # Self-conflicting, so feed writers commit one after the other in id order; plain reads are not blocked.
        conn.exec_driver_sql("LOCK TABLE data_changes IN SHARE ROW EXCLUSIVE MODE")
    conn.execute(sa.insert(data_changes), rows)


def _json_key(key: Key):
    return list(key) if isinstance(key, tuple) else key


def feed_position(conn: Connection) -> int:
    """The id of the newest change (0 for none): a snapshot read in the same transaction includes it."""
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(data_changes.c.id), 0))).scalar_one())


def changes_since(conn: Connection, position: int) -> list[Change]:
    """The changes committed after `position` (as this transaction sees them), oldest first."""
    rows = conn.execute(
        sa.select(data_changes.c.id, data_changes.c.table_name, data_changes.c["keys"])
        .where(data_changes.c.id > position)
        .order_by(data_changes.c.id)
    ).all()
    out = []
    for id_, table, keys in rows:
        key = TABLES[table].key
        if keys is None:
            decoded = None
        elif len(key) == 1:
            decoded = frozenset(_decode(table, key[0], k) for k in keys)
        else:
            decoded = frozenset(tuple(_decode(table, c, v) for c, v in zip(key, k, strict=True)) for k in keys)
        out.append(Change(int(id_), table, decoded))
    return out


def prune_changes(conn: Connection, keep: timedelta = KEEP) -> int:
    """Delete changes older than `keep`; return how many."""
    return int(conn.execute(sa.delete(data_changes).where(data_changes.c.at < utcnow() - keep)).rowcount or 0)


__all__ = [
    "KEEP",
    "MAX_KEYS",
    "Change",
    "changes_since",
    "feed_position",
    "key_values",
    "prune_changes",
    "record_changes",
]
