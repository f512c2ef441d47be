"""Canonical data in and out: upsert frames by primary key, import a `Dataset`, read frames back.

Writes are upserts by primary key: re-importing the same rows is idempotent and a changed
row replaces the stored one. Nothing is ever deleted by an import.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from perfml.dataset import Dataset
from perfml.errors import DataValidationError, PerfmlError, Problem
from perfml.schema import TABLES
from perfml.store.changes import Key, changes_since, feed_position, record_changes
from perfml.store.engine import create_all, engine_for
from perfml.store.tables import CANONICAL, EXACT_COLUMNS, SERVICE_TABLES, import_order, untracked_tables, utcnow
from perfml.validation import SPLIT_RULE, parse_table

CHUNK_ROWS = 10_000
"""Rows per executemany call: big enough to amortise round trips, small enough for progress."""


class StoreIntegrityError(PerfmlError):
    """The database refused the write (key or reference conflict); nothing was written."""


def _column_values(series: pd.Series, kind: str | None) -> list | np.ndarray:
    """A column as Python values for the driver (None for every kind of missing); timestamps as datetime64[us]."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.to_numpy(dtype="datetime64[us]")  # writers turn it into datetimes or text
    values = series.astype(object).where(series.notna(), None).tolist()
    if kind in ("flag", "int"):
        return [None if v is None else int(v) for v in values]
    return values


def _json_value(value):
    """A JSON-safe scalar (numpy scalars unwrapped, NaN as null, timestamps as ISO text)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def _sqlite_text(values: np.ndarray) -> list:
    """datetime64[us] -> 'YYYY-MM-DD HH:MM:SS.ffffff' (None for NaT), vectorised: 5x faster than per-value binding."""
    return [None if t == "NaT" else t.replace("T", " ", 1) for t in np.datetime_as_string(values, unit="us").tolist()]


def _columns(name: str, frame: pd.DataFrame, ingested_at: datetime) -> dict[str, list | np.ndarray]:
    """Typed frame -> one value list per SQL column; columns outside the contract folded into `extra`."""
    spec = TABLES[name]
    missing = [k for k in spec.key if k not in frame.columns]
    if missing:
        raise ValueError(f"{name}: key column(s) missing: {', '.join(missing)}")
    n = len(frame)
    cols = {
        c.name: _column_values(frame[c.name], c.kind) if c.name in frame.columns else [None] * n for c in spec.columns
    }
    extra_names = [c for c in frame.columns if c not in spec.names]
    if extra_names:
        # Nulls are kept as JSON null so an all-empty supplied column still comes back.
        extra_cols = [[_json_value(v) for v in frame[c].astype(object).tolist()] for c in extra_names]
        cols["extra"] = [dict(zip(extra_names, row, strict=True)) for row in zip(*extra_cols, strict=True)]
    else:
        cols["extra"] = [None] * n
    cols["ingested_at"] = np.full(n, np.datetime64(ingested_at, "us"))
    return cols


def dialect_insert(conn: Connection, table: sa.Table):
    """The dialect's own INSERT construct, which knows ON CONFLICT (same API for SQLite and PostgreSQL)."""
    dialects = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
    if conn.dialect.name not in dialects:
        raise NotImplementedError(f"upsert is implemented for SQLite and PostgreSQL, not {conn.dialect.name}")
    return dialects[conn.dialect.name](table)


def _upsert_statement(conn: Connection, table: sa.Table):
    """INSERT ... ON CONFLICT (primary key) DO UPDATE every other column."""
    stmt = dialect_insert(conn, table)
    key = [c.name for c in table.primary_key.columns]
    return stmt.on_conflict_do_update(
        index_elements=key, set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in key}
    )


class _ChunkWriter:
    """Executes one upsert statement for chunks of column lists.

    SQLAlchemy's executemany costs ~15 µs a row in Python (parameter dicts, per-value type
    processing), more than SQLite's own C executemany. On SQLite we therefore compile the
    statement once and hand the driver tuples, running each column's own SQLAlchemy bind
    processor column-wise, and formatting timestamps with numpy when that gives the very
    text SQLAlchemy's DateTime would (checked on a probe value; a test compares whole stores).
    Server databases keep SQLAlchemy's path, whose "insertmanyvalues" batches rows per round trip.
    """

    def __init__(self, conn: Connection, table: sa.Table, fast: bool | None = None):
        self.conn, self.table = conn, table
        self.stmt = _upsert_statement(conn, table)
        self.fast = conn.dialect.name == "sqlite" if fast is None else fast
        if self.fast:
            compiled = self.stmt.compile(dialect=conn.dialect)
            assert compiled.positional and set(compiled.positiontup) <= set(table.c.keys())
            self.sql, self.names = str(compiled), list(compiled.positiontup)
            self.processors = [
                table.c[n].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for n in self.names
            ]
            probe = datetime(2001, 2, 3, 4, 5, 6, 7)
            self.as_text = {
                n
                for n, proc in zip(self.names, self.processors, strict=True)
                if isinstance(table.c[n].type, sa.DateTime)
                and proc
                and proc(probe) == _sqlite_text(np.array([probe], dtype="datetime64[us]"))[0]
            }

    def write(self, cols: dict[str, list | np.ndarray], start: int, stop: int) -> None:
        chunk = {name: values[start:stop] for name, values in cols.items()}
        if not self.fast:
            keys = list(chunk)
            lists = [v.tolist() if isinstance(v, np.ndarray) else v for v in chunk.values()]
            self.conn.execute(self.stmt, [dict(zip(keys, row, strict=True)) for row in zip(*lists, strict=True)])
            return
        bound = []
        for name, proc in zip(self.names, self.processors, strict=True):
            values = chunk[name]
            if name in self.as_text and isinstance(values, np.ndarray):
                bound.append(_sqlite_text(values))
                continue
            values = values.tolist() if isinstance(values, np.ndarray) else values
            bound.append([None if v is None else proc(v) for v in values] if proc else values)
        self.conn.exec_driver_sql(self.sql, list(zip(*bound, strict=True)))


def upsert_records(
    session: Session | Connection,
    table_name: str,
    frame: pd.DataFrame,
    *,
    ingested_at: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Upsert a validated, typed frame of one canonical table inside the caller's transaction; return rows written.

    The frame is as `Dataset` types it (e.g. `Dataset.from_frames(batch).table(name)`). The
    caller owns the transaction: nothing is committed here, and deferred foreign keys are
    checked at the caller's commit. `progress(rows_done)` is called after each chunk.
    """
    if table_name not in CANONICAL:
        raise KeyError(f"unknown table {table_name!r}")
    conn = session.connection() if isinstance(session, Session) else session
    cols = _columns(table_name, frame, ingested_at or utcnow())
    writer = _ChunkWriter(conn, CANONICAL[table_name])
    for start in range(0, len(frame), CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, len(frame))
        writer.write(cols, start, stop)
        if progress:
            progress(stop)
    return len(frame)


def check_split_shares(conn: Connection, credits: pd.DataFrame, first_row: int = 2) -> None:
    """After `credits` (order_credits rows) were upserted in `conn`'s transaction: every order they name still
    has stored shares summing to exactly 100, else `DataValidationError` (the caller's transaction rolls back).

    Writes add or replace rows and never delete, so a split restated with other holders in a later batch or
    import would keep the earlier holders' shares too: 60/40 to r1/r2, then 50/50 to r1/r3, stores 140%.
    """
    table = CANONICAL["order_credits"]
    ids = sorted(set(credits["order_id"].dropna().tolist()))
    sums: dict[str, Decimal] = {}
    for start in range(0, len(ids), 500):  # bound the IN list of one statement
        chosen = sa.select(table.c.order_id, table.c.share).where(table.c.order_id.in_(ids[start : start + 500]))
        for order_id, share in conn.execute(chosen):
            sums[order_id] = sums.get(order_id, Decimal(0)) + Decimal(share)
    off = {order_id: total for order_id, total in sums.items() if total != 100}
    if not off:
        return
    bad = credits.index[credits["order_id"].isin(list(off))]
    shown = "; ".join(
        f"order {oid} sums to {total.normalize():f} with its stored rows" for oid, total in list(off.items())[:5]
    )
    more = f" (+{len(off) - 5} more orders)" if len(off) > 5 else ""
    rule = f"{SPLIT_RULE} (with the rows already stored: restate an order's split with the same holders)"
    rows = tuple(int(i) + first_row for i in bad[:5])
    raise DataValidationError([Problem("order_credits", "share", rule, rows, len(bad), shown + more)])


def import_dataset(
    dataset: Dataset, url_or_engine: str | Engine, *, progress: Callable[[str, float], None] | None = None
) -> dict[str, int]:
    """Upsert every supplied table of a validated `Dataset` in one transaction (all or nothing); rows per table."""
    engine = engine_for(url_or_engine)
    create_all(engine)
    supplied = dataset.rows()
    order = [name for name in import_order() if name in supplied]
    total = max(sum(supplied.values()), 1)
    done = 0
    counts: dict[str, int] = {}
    ingested_at = utcnow()  # one stamp per import, so an import's rows can be told apart
    try:
        with engine.begin() as conn:
            for name in order:
                report = None
                if progress:
                    progress(name, done / total)
                    report = lambda rows, name=name, base=done: progress(name, (base + rows) / total)  # noqa: E731
                counts[name] = upsert_records(conn, name, dataset.table(name), ingested_at=ingested_at, progress=report)
                done += counts[name]
            if "order_credits" in counts:
                check_split_shares(conn, dataset.table("order_credits"))
            # The export's own manifest says what the company tracks; the latest import's word stands.
            stored = {
                t: conn.execute(sa.select(sa.func.count()).select_from(CANONICAL[t])).scalar_one()
                for t in sorted(dataset.untracked)
            }
            if any(stored.values()):
                raise StoreIntegrityError(
                    "import rolled back, store unchanged: dataset.yaml declares untracked what the store holds ("
                    + ", ".join(f"{t}: {n:,} rows" for t, n in stored.items() if n)
                    + ")"
                )
            conn.execute(sa.delete(untracked_tables))
            if dataset.untracked:
                conn.execute(
                    sa.insert(untracked_tables),
                    [{"table_name": t, "declared_at": ingested_at} for t in sorted(dataset.untracked)],
                )
            # A whole dataset (and its untracked tables) changed: followers re-read the store.
            record_changes(conn, dict.fromkeys(order))
    except sa.exc.IntegrityError as exc:
        raise StoreIntegrityError(f"import rolled back, store unchanged: {exc.orig}") from exc
    if progress:
        progress("done", 1.0)
    return {name: counts[name] for name in TABLES if name in counts}  # contract order for display


# -- reading ---------------------------------------------------------------------------------
def _read_table(conn: Connection, name: str, where: sa.ColumnElement[bool] | None = None) -> pd.DataFrame:
    table = CANONICAL[name]
    spec = TABLES[name]
    query = sa.select(*[table.c[c] for c in spec.names], table.c.extra).order_by(*[table.c[k] for k in spec.key])
    rows = conn.execute(query if where is None else query.where(where)).all()
    data = {c: [r[i] for r in rows] for i, c in enumerate(spec.names)}
    frame = pd.DataFrame(data, columns=list(spec.names))
    for col in spec.columns:  # typed as `Dataset` types them, even when empty or all-null
        if col.name in EXACT_COLUMNS.get(name, ()):
            continue  # stays Decimal objects: exact
        if col.kind in ("timestamp", "date"):
            frame[col.name] = pd.to_datetime(frame[col.name]).astype("datetime64[ns]")
        elif col.kind in ("float", "int", "flag"):
            frame[col.name] = pd.to_numeric(frame[col.name]).astype("float64")
        else:
            frame[col.name] = frame[col.name].astype("string")
    extras = [r[-1] for r in rows]
    if any(e is not None for e in extras):
        # Union of keys in first-appearance order restores the supplied column order.
        extra = pd.DataFrame([e or {} for e in extras], index=frame.index)
        frame = pd.concat([frame, extra], axis=1)
    return frame


@contextmanager
def snapshot(url_or_engine: str | Engine) -> Iterator[Connection]:
    """A read-only transaction whose reads all see the same committed state of the store.

    SQLite (WAL): one BEGIN for every read, so a writer committing in between is invisible;
    PostgreSQL: REPEATABLE READ, its snapshot isolation. Rolled back at the end: nothing is written.
    """
    engine = engine_for(url_or_engine)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin() as tx:
            yield conn
            tx.rollback()


def read_table(name: str, url_or_engine: str | Engine | Connection) -> pd.DataFrame:
    """One canonical table with the contract's column names (extra columns expanded, amounts as `Decimal`)."""
    if isinstance(url_or_engine, Connection):
        return _read_table(url_or_engine, name)
    with engine_for(url_or_engine).connect() as conn:
        return _read_table(conn, name)


def read_tables(url_or_engine: str | Engine) -> dict[str, pd.DataFrame]:
    """Every required table, and every optional table that has rows, as frames, all from ONE snapshot."""
    return read_snapshot(url_or_engine)[0]


def read_snapshot(url_or_engine: str | Engine) -> tuple[dict[str, pd.DataFrame], frozenset[str]]:
    """(`read_tables`, the tables declared untracked by the latest import), all from ONE snapshot.

    Reading table by table in separate transactions would let an ingest commit in between: orders
    naming customers the customers read did not see.
    """
    frames, untracked, _ = _read_all(url_or_engine)
    return frames, untracked


def _read_all(url_or_engine: str | Engine) -> tuple[dict[str, pd.DataFrame], frozenset[str], int]:
    """`read_snapshot` and the change feed's position, from one snapshot."""
    engine = engine_for(url_or_engine)
    create_all(engine)
    with snapshot(engine) as conn:
        frames = {name: _read_table(conn, name) for name in TABLES}
        untracked = frozenset(conn.execute(sa.select(untracked_tables.c.table_name)).scalars())
        position = feed_position(conn)
    frames = {name: df for name, df in frames.items() if not TABLES[name].optional or not df.empty}
    return frames, untracked, position


def read_dataset(url_or_engine: str | Engine) -> Dataset:
    """Every table back from the store as a validated `Dataset` (one snapshot; untracked tables carried)."""
    return read_dataset_at(url_or_engine)[0]


def read_dataset_at(url_or_engine: str | Engine) -> tuple[Dataset, int]:
    """(`read_dataset`, the change feed's position it includes), from one snapshot: `read_changes` continues there."""
    frames, untracked, position = _read_all(url_or_engine)
    return Dataset.from_frames(frames, first_row=1, source="store", untracked=untracked), position


_KEYS_PER_QUERY = 500  # keys per IN (...): well under SQLite's bound-parameter limit


def _read_rows(conn: Connection, name: str, keys: set[Key]) -> pd.DataFrame:
    """The stored rows of `name` with these keys (`_read_table`'s columns), read in chunks of keys."""
    table, key = CANONICAL[name], TABLES[name].key
    column = table.c[key[0]] if len(key) == 1 else sa.tuple_(*[table.c[k] for k in key])
    ordered = list(keys)
    if not ordered:
        return _read_table(conn, name, sa.false())
    parts = [
        _read_table(conn, name, column.in_(ordered[i : i + _KEYS_PER_QUERY]))
        for i in range(0, len(ordered), _KEYS_PER_QUERY)
    ]
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def read_changes(url_or_engine: str | Engine, position: int) -> tuple[int, dict[str, pd.DataFrame] | None]:
    """The rows written since the feed's `position`, as they are now: (new position, table -> rows typed as
    `Dataset` types them), from one snapshot. Rows None: a write too big to list (an import): re-read the store."""
    engine = engine_for(url_or_engine)
    with snapshot(engine) as conn:
        changes = changes_since(conn, position)
        if not changes:
            return position, {}
        if any(c.keys is None for c in changes):
            return changes[-1].id, None
        keys: dict[str, set[Key]] = {}
        for change in changes:
            keys.setdefault(change.table, set()).update(change.keys or ())
        frames = {name: _read_rows(conn, name, wanted) for name, wanted in keys.items()}
    typed = {}
    for name, frame in frames.items():
        typed[name], problems = parse_table(TABLES[name], frame, first_row=1)
        if problems:  # the store checked these rows when they were written: this is a bug, not bad data
            raise PerfmlError(f"rows read back from the store's {name} do not parse: {problems[0]}")
    return changes[-1].id, typed


def table_counts(url_or_engine: str | Engine) -> dict[str, int]:
    """Rows per canonical and service table."""
    engine = engine_for(url_or_engine)
    create_all(engine)
    with engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in [*CANONICAL.values(), *SERVICE_TABLES]
        }
