"""Engines (cached per URL) and sessions; SQLite gets real transactions, foreign keys and WAL."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _sqlite_setup(engine: Engine) -> None:
    """Real transactions, enforced foreign keys and WAL for SQLite.

    pysqlite's legacy mode only opens a transaction before the first DML statement, so reads
    and DDL escape it; following SQLAlchemy's documented recipe, we emit BEGIN ourselves.
    """

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # the driver stops issuing its own BEGIN/COMMIT
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")  # readers (API) do not block the writer (import)
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN")


OWNER_ONLY = 0o600
"""The store holds HR records: its file (and SQLite's -wal/-shm, which take the file's mode) is the owner's alone."""


def _owner_only(database: Path) -> None:
    """Create the SQLite file owner-only (whatever the umask) before SQLite does, and tighten an existing one."""
    fd = os.open(database, os.O_CREAT | os.O_RDWR, OWNER_ONLY)  # the mode applies only if it is created here
    os.close(fd)
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        try:
            if path.exists() and path.stat().st_mode & 0o077:
                path.chmod(OWNER_ONLY)
        except PermissionError:  # not ours to change: leave it to its owner
            pass


def get_engine(url: str) -> Engine:
    """The (cached) engine for a SQLAlchemy URL (`Home.engine` is the one of a home's store)."""
    with _engines_lock:
        if url not in _engines:
            parsed = sa.make_url(url)
            if (
                parsed.get_backend_name() == "sqlite"
                and parsed.database not in (None, "", ":memory:")
                and not parsed.database.startswith("file:")
            ):
                database = Path(parsed.database).expanduser()
                database.parent.mkdir(parents=True, exist_ok=True)
                _owner_only(database)
            engine = sa.create_engine(url, pool_pre_ping=parsed.get_backend_name() != "sqlite")
            if engine.dialect.name == "sqlite":
                _sqlite_setup(engine)
            _engines[url] = engine
        return _engines[url]


def engine_for(url_or_engine: str | Engine) -> Engine:
    """An engine as given, or the cached engine of a URL."""
    if url_or_engine is None:
        raise TypeError("no store given: pass an engine or URL (a home's is `Home.engine`)")
    return url_or_engine if isinstance(url_or_engine, Engine) else get_engine(url_or_engine)


_created: weakref.WeakSet[Engine] = weakref.WeakSet()


def create_all(url_or_engine: Engine | str) -> None:
    """Make an empty store at the current schema, or check that an existing one is at it (`StoreOutdated` if
    not: `perfml db upgrade` migrates it). Never alters an existing table."""
    from perfml.store.migrate import ensure_schema  # Alembic costs ~0.1 s to import; only callers that write need it

    engine = engine_for(url_or_engine)
    if engine in _created:  # callers run this before every use; checking costs a few ms, so once per engine
        return
    ensure_schema(engine)
    _created.add(engine)


@contextmanager
def session_scope(url_or_engine: Engine | str) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    with Session(engine_for(url_or_engine)) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
