"""Schema migrations: a store of the first release upgrades with its rows intact, and the migrations build
exactly the schema the table definitions describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from perfml import store
from perfml.cli import app
from perfml.dataset import Dataset
from perfml.errors import StoreOutdated
from perfml.store import migrate
from test_store import tiny_frames

FIRST_RELEASE_DUMP = Path(__file__).parent / "data" / "store_first_release.sql"
FIRST_RELEASE_KEY_HASH = "6a78981610684be08646d1aa3749e5213a9ebaca1a15370c3e08823788d2ecf5"


@pytest.fixture
def first_release_store(tmp_path) -> str:
    """A SQLite store exactly as the first release wrote it (no revision table)."""
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as con:
        con.executescript(FIRST_RELEASE_DUMP.read_text())
    return f"sqlite:///{db}"


def test_a_first_release_store_is_refused_until_upgraded_then_keeps_every_row(first_release_store, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["db", "current", "--store-url", first_release_store])
    assert result.exit_code == 1 and "0001 (a store of the first release)" in result.output
    assert f"needs {migrate.head()}" in result.output and "perfml db upgrade" in result.output

    with pytest.raises(StoreOutdated, match="perfml db upgrade"):
        store.read_dataset(first_release_store)
    data = Dataset.from_frames(tiny_frames()).save(tmp_path / "data")
    result = runner.invoke(app, ["import", str(data), "--store-url", first_release_store])
    assert result.exit_code == 1 and "schema revision 0001" in result.output and "perfml db upgrade" in result.output
    assert migrate.current(store.get_engine(first_release_store)) == migrate.FIRST_RELEASE  # nothing written

    result = runner.invoke(app, ["db", "upgrade", "--store-url", first_release_store])
    assert result.exit_code == 0, result.output
    assert f"from schema revision 0001 to {migrate.head()}" in result.output
    assert runner.invoke(app, ["db", "upgrade", "--store-url", first_release_store]).output.startswith(
        "the store is already at schema revision"
    )

    ds = store.read_dataset(first_release_store)
    assert ds.rows()["orders"] == 3 and ds.rows()["employees"] == 3 and ds.rows()["transfer_labels"] == 1
    amounts = store.read_table("orders", first_release_store).set_index("order_id")["amount"]
    assert amounts.to_dict() == {"o1": Decimal("1234.56"), "o2": Decimal("0.1"), "o3": Decimal("9999999999.99")}
    assert store.read_table("targets", first_release_store)["target"].tolist() == [
        Decimal("10000.005"),
        Decimal("20.0"),
    ]
    assert ds.employees.set_index("employee_id").loc["e1", "attr_school"] == "a"  # row extras kept
    assert ds.orders["currency"].isna().all()  # the new column, empty on old rows
    engine = store.get_engine(first_release_store)
    with engine.connect() as conn:
        hashes = conn.execute(sa.select(store.api_keys.c.key_hash)).scalars().all()
        audit = conn.execute(sa.select(store.audit_log.c.action).order_by(store.audit_log.c.id)).scalars().all()
    assert hashes == [FIRST_RELEASE_KEY_HASH] and audit == ["key.create", "import"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migrations_build_the_schema_the_tables_describe(backend, request, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 's.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres").create_database()
    )
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "head")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), store.metadata)
    engine.dispose()
    assert diff == [], "a schema change without a migration: run scripts/migration"


def test_a_first_release_store_on_postgresql_upgrades_in_place(postgres):
    url = postgres.create_database()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), migrate.FIRST_RELEASE)
        conn.execute(sa.text("DELETE FROM alembic_version"))  # the first release wrote no revision
        conn.execute(
            sa.text(
                "INSERT INTO employees (employee_id, role, team_id, hire_date, ingested_at) "
                "VALUES ('e1', 'sales', 't1', '2023-01-01', now())"
            )
        )
        conn.execute(
            sa.text("INSERT INTO customers (customer_id, created_at, ingested_at) VALUES ('c1', '2023-01-05', now())")
        )
        conn.execute(
            sa.text(
                "INSERT INTO orders (order_id, customer_id, employee_id, closed_at, amount, ingested_at) "
                "VALUES ('o1', 'c1', 'e1', '2023-04-01', 1234.567891, now())"
            )
        )
    engine.dispose()
    with pytest.raises(StoreOutdated):
        store.create_all(url)
    assert migrate.upgrade(store.get_engine(url)) == (migrate.FIRST_RELEASE, migrate.head())
    store.create_all(url)
    orders = store.read_table("orders", url)
    assert orders["amount"].tolist() == [Decimal("1234.567891")] and orders["currency"].isna().all()
    store.get_engine(url).dispose()


def test_a_new_store_is_made_at_head_and_a_newer_one_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    store.create_all(url)
    assert migrate.current(store.get_engine(url)) == migrate.head()
    with store.get_engine(url).begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    other = sa.create_engine(url)  # a fresh engine: create_all checks once per engine
    with pytest.raises(StoreOutdated, match="newer perfml"):
        migrate.ensure_schema(other)
    other.dispose()


def test_db_copy_moves_a_sqlite_store_into_an_empty_postgresql_one(first_release_store, postgres):
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade", "--store-url", first_release_store]).exit_code == 0
    target = postgres.create_database()
    result = runner.invoke(app, ["db", "copy", "--store-url", first_release_store, "--to", target])
    assert result.exit_code == 0, result.output
    assert "copied" in result.output and migrate.current(store.get_engine(target)) == migrate.head()
    assert store.table_counts(target) == store.table_counts(first_release_store)
    orders = store.read_table("orders", target).set_index("order_id")["amount"]
    assert orders["o3"] == Decimal("9999999999.99")
    again = runner.invoke(app, ["db", "copy", "--store-url", first_release_store, "--to", target])
    assert again.exit_code == 1 and "already has rows" in again.output
    store.get_engine(target).dispose()
