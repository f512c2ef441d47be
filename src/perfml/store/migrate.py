"""Schema migrations (Alembic): every store records its schema revision, and `perfml db upgrade` moves it to head.

A new, empty store is created from the table definitions and stamped with the head revision; a
store at an older revision is refused by every reader and writer (`StoreOutdated`) until
`perfml db upgrade` runs the migrations in `perfml/store/migrations/versions/`. Stores made by
the first release have no revision table: they are recognised by their tables and upgraded from
revision `0001`. Every change to `perfml.store.tables` (or to the contract in `perfml.schema`)
comes with a migration; `tests/test_migrations.py` checks that the migrations build exactly the
schema the table definitions describe.
"""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from perfml.errors import StoreOutdated
from perfml.store.tables import metadata

MIGRATIONS = Path(__file__).parent / "migrations"
FIRST_RELEASE = "0001"  # the schema of stores made before migrations existed


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration for perfml's migrations, running on `connection` (scripts and tests use it too)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head() -> str:
    """The newest schema revision this version of perfml writes."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None, "no migrations found"
    return revision


def revision_of(connection: sa.Connection) -> str | None:
    """The store's schema revision: its Alembic stamp, FIRST_RELEASE for an unstamped store that has the
    first release's tables, None for an empty database."""
    stamped = MigrationContext.configure(connection).get_current_revision()
    if stamped is not None:
        return stamped
    return FIRST_RELEASE if sa.inspect(connection).has_table("employees") else None


def current(engine: Engine) -> str | None:
    """The schema revision of the store behind `engine` (None when it is empty)."""
    with engine.connect() as conn:
        return revision_of(conn)


def ensure_schema(engine: Engine) -> None:
    """Create an empty store at head; refuse (`StoreOutdated`) a store whose schema is older or newer."""
    with engine.begin() as conn:
        found = revision_of(conn)
        if found is None:
            metadata.create_all(conn, checkfirst=True)
            command.stamp(alembic_config(conn), head())
        elif found != head():
            raise StoreOutdated(found, head(), engine.url.render_as_string(hide_password=True))


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Run the migrations from the store's revision to head, in one transaction where the database allows it;
    (revision before, revision after). An empty store is created at head."""
    with engine.begin() as conn:
        before = revision_of(conn)
        if before is None:
            metadata.create_all(conn, checkfirst=True)
            command.stamp(alembic_config(conn), head())
        else:
            if MigrationContext.configure(conn).get_current_revision() is None:
                command.stamp(alembic_config(conn), FIRST_RELEASE)
            command.upgrade(alembic_config(conn), "head")
    return before, head()
