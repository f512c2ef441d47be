"""Store schema commands: `perfml db current` and `perfml db upgrade` (Alembic migrations)."""

from __future__ import annotations

from typing import Annotated

import typer

from perfml.cli._app import HomeOption, app, console, handles_errors, home_of

db_app = typer.Typer(help="The store's schema: its revision, and migrations to the current one.", no_args_is_help=True)
app.add_typer(db_app, name="db")

StoreUrlOption = Annotated[str | None, typer.Option(help="SQLAlchemy URL (default: the configured store).")]


def _engine(home, store_url: str | None):
    from perfml.store import get_engine

    return get_engine(store_url or home_of(home).store_url)


@db_app.command("current")
@handles_errors
def current(store_url: StoreUrlOption = None, home: HomeOption = None) -> None:
    """Print the store's schema revision and the one this perfml needs (exit 1 when they differ)."""
    from perfml.store import migrate

    found, needed = migrate.current(_engine(home, store_url)), migrate.head()
    shown = "empty (no tables yet)" if found is None else found
    if found == migrate.FIRST_RELEASE and found != needed:
        shown += " (a store of the first release)"
    console.print(f"schema revision: {shown}; this perfml needs {needed}")
    if found is not None and found != needed:
        console.print("run `perfml db upgrade` to migrate it (back the store up first)")
        raise typer.Exit(code=1)


@db_app.command("upgrade")
@handles_errors
def upgrade(store_url: StoreUrlOption = None, home: HomeOption = None) -> None:
    """Migrate the store to the schema this perfml needs (an empty store is created at it). One transaction
    on PostgreSQL; on SQLite, back the file up first."""
    from perfml.store import migrate

    before, after = migrate.upgrade(_engine(home, store_url))
    if before == after:
        console.print(f"the store is already at schema revision {after}")
    else:
        console.print(f"migrated the store from schema revision {before or 'empty'} to {after}")


@db_app.command("copy")
@handles_errors
def copy(
    to: Annotated[str, typer.Option("--to", help="SQLAlchemy URL of an empty store, e.g. postgresql+psycopg://...")],
    store_url: StoreUrlOption = None,
    home: HomeOption = None,
) -> None:
    """Copy the whole store (data, alerts, reviews, keys, audit log, statements, ...) into an empty one, e.g. a
    home's SQLite file into PostgreSQL before serving with several workers. All or nothing."""
    from perfml.store import copy_store, get_engine

    source = _engine(home, store_url)
    counts = copy_store(source, get_engine(to))
    target = get_engine(to).url.render_as_string(hide_password=True)
    console.print(f"copied {sum(counts.values()):,} rows in {len(counts)} tables to {target}")
