"""The SQL store (SQLAlchemy Core): SQLite embedded by default, PostgreSQL by URL with the same code.

- `tables`: canonical tables generated from `perfml.schema.TABLES`, plus alerts, reviews, API keys, audit log.
- `engine`: `get_engine` (cached per URL), `create_all`, `session_scope`.
- `data`: `upsert_records` (one table, caller's transaction), `import_dataset` (all tables, one
  transaction, all or nothing), `read_tables` (frames back from one
  snapshot), `read_dataset` (a validated `Dataset` from them), `snapshot` (a consistent read transaction).
- `alert_rows`: `upsert_alert` (idempotent refresh per type, subject and period/as_of).
- `changes`: the change feed, `record_changes` (last in every write of contract rows) and what a
  follower reads; `read_changes` gives the rows written since a position, `read_dataset_at` the position.
- `copy`: `copy_store` (every table into an empty store, e.g. SQLite -> PostgreSQL).
"""

from perfml.store.alert_rows import upsert_alert
from perfml.store.changes import record_changes
from perfml.store.copy import copy_store
from perfml.store.data import (
    CHUNK_ROWS,
    StoreIntegrityError,
    check_split_shares,
    import_dataset,
    read_changes,
    read_dataset,
    read_dataset_at,
    read_snapshot,
    read_table,
    read_tables,
    snapshot,
    table_counts,
    upsert_records,
)
from perfml.store.engine import create_all, engine_for, get_engine, session_scope
from perfml.store.tables import (
    ALERT_STATUSES,
    ALERT_TYPES,
    API_ROLES,
    CANONICAL,
    EXACT_COLUMNS,
    REVIEW_DECISIONS,
    SERVICE_TABLES,
    ExactDecimal,
    alert_reviews,
    alerts,
    api_keys,
    audit_log,
    hash_key,
    import_order,
    metadata,
    utcnow,
)

__all__ = [
    "ALERT_STATUSES",
    "ALERT_TYPES",
    "API_ROLES",
    "CANONICAL",
    "CHUNK_ROWS",
    "EXACT_COLUMNS",
    "REVIEW_DECISIONS",
    "SERVICE_TABLES",
    "ExactDecimal",
    "StoreIntegrityError",
    "alert_reviews",
    "alerts",
    "api_keys",
    "audit_log",
    "copy_store",
    "create_all",
    "engine_for",
    "get_engine",
    "hash_key",
    "check_split_shares",
    "import_dataset",
    "import_order",
    "metadata",
    "read_changes",
    "read_dataset",
    "read_dataset_at",
    "read_snapshot",
    "read_table",
    "read_tables",
    "record_changes",
    "session_scope",
    "snapshot",
    "table_counts",
    "upsert_alert",
    "upsert_records",
    "utcnow",
]
