"""The SQL store: contract-generated tables, all-or-nothing idempotent import, exact round trip."""

from __future__ import annotations

import shutil
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable
from typer.testing import CliRunner

from perfml import store
from perfml.dataset import Dataset
from perfml.schema import TABLES


# -- fixtures ----------------------------------------------------------------------------
def tiny_frames() -> dict[str, pd.DataFrame]:
    """A hand-made company touching every table, extra/attr columns, empty values and awkward amounts."""
    return {
        "employees": pd.DataFrame(
            {
                # e1's manager m1 comes after e1: the self reference is only checked at commit.
                "employee_id": ["e1", "e2", "m1"],
                "role": ["sales", "assistant", "manager"],
                "team_id": ["t1"] * 3,
                "manager_id": ["m1", "m1", ""],
                "hire_date": ["2023-01-01", "2023-02-01", "2020-01-01"],
                "attr_years": ["3", "", "10.5"],
                "attr_school": ["a", "b", ""],
                "attr_empty": ["", "", ""],
            }
        ),
        "customers": pd.DataFrame(
            {
                "customer_id": ["c1", "c2"],
                "created_at": ["2023-01-05T10:00:00", "2023-02-01"],
                "segment": ["smb", ""],
                "crm_source": ["web", ""],
            }
        ),
        "ownership_changes": pd.DataFrame(
            {
                "change_id": ["x1"],
                "customer_id": ["c1"],
                "from_employee_id": ["e1"],
                "to_employee_id": ["e2"],
                "changed_at": ["2023-03-01T08:00:00+02:00"],
            }
        ),
        "activities": pd.DataFrame(
            {
                "activity_id": ["a1", "a2"],
                "employee_id": ["e1", "e2"],
                "lead_id": ["l1", ""],
                "type": ["visit", "call"],
                "occurred_at": ["2023-03-01T09:30:15", "2023-03-02"],
                "duration_minutes": ["30", ""],
            }
        ),
        "leads": pd.DataFrame({"lead_id": ["l1"], "owner_id": ["e1"], "created_at": ["2023-01-01"]}),
        "orders": pd.DataFrame(
            {
                "order_id": ["o1", "o2", "o3"],
                "customer_id": ["c1", "c1", "c2"],
                "employee_id": ["e2", "e2", "e1"],
                "closed_at": ["2023-04-01", "2023-05-01", "2023-05-02"],
                "amount": ["1234.56", "0.1", "9999999999.99"],
            }
        ),
        "targets": pd.DataFrame(
            {
                "employee_id": ["e1", "e1"],
                "period": ["2023-04", "2023-04"],
                "metric": ["revenue", "visits"],
                "target": ["10000.005", "20"],
            }
        ),
        "satisfaction": pd.DataFrame(
            {"survey_id": ["s1"], "customer_id": ["c1"], "responded_at": ["2023-05-01"], "score": ["88.5"]}
        ),
        "transfer_labels": pd.DataFrame({"change_id": ["x1"], "is_anomalous": ["1"]}),
        "demographics": pd.DataFrame({"employee_id": ["e1", "e2"], "gender": ["f", "m"], "age_band": ["30-39", ""]}),
    }


@pytest.fixture
def tiny() -> Dataset:
    return Dataset.from_frames(tiny_frames())


@pytest.fixture
def url(store_url) -> str:
    """An empty store on each backend (`store_url` in tests/conftest.py)."""
    return store_url


def _sorted(df: pd.DataFrame, key) -> pd.DataFrame:
    return df.sort_values(list(key)).reset_index(drop=True)


def assert_same_dataset(a: Dataset, b: Dataset) -> None:
    assert set(a.rows()) == set(b.rows())
    for name in a.rows():
        key = TABLES[name].key
        pd.testing.assert_frame_equal(_sorted(a.table(name), key), _sorted(b.table(name), key), obj=name)


def stored_state(url: str, *, with_ingested_at: bool = True) -> dict[str, list[tuple]]:
    """Every table's rows in key order exactly as SQLite holds them (raw driver rows: fast, no type processing)."""
    state = {}
    with store.get_engine(url).connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        for table in store.metadata.sorted_tables:
            if table.name == "data_changes":
                continue  # the change feed: one more entry per write, whatever the write changed
            cols = ", ".join(c.name for c in table.columns if with_ingested_at or c.name != "ingested_at")
            key = ", ".join(c.name for c in table.primary_key.columns)
            state[table.name] = cursor.execute(f"SELECT {cols} FROM {table.name} ORDER BY {key}").fetchall()
    return state


# -- tables ------------------------------------------------------------------------------
def test_create_all_is_idempotent_and_makes_every_table(url):
    store.create_all(url)
    store.create_all(url)  # second call must not fail or change anything
    inspector = sa.inspect(store.get_engine(url))
    assert set(inspector.get_table_names()) == set(TABLES) | {
        "alerts",
        "alert_reviews",
        "api_keys",
        "audit_log",
        "untracked_tables",
        "pay_adjustments",
        "statements",
        "disputes",
        "data_changes",
        "alembic_version",  # the schema revision (perfml.store.migrate)
    }
    alert_indexes = {tuple(i["column_names"]) for i in inspector.get_indexes("alerts")}
    assert {("type",), ("team_id", "status"), ("status",), ("created_at",)} <= alert_indexes
    assert {tuple(i["column_names"]) for i in inspector.get_indexes("audit_log")} == {("at",)}
    assert inspector.get_unique_constraints("alerts")[0]["column_names"] == ["type", "subject_id", "window_key"]
    assert [fk["referred_table"] for fk in inspector.get_foreign_keys("alert_reviews")] == ["alerts"]


def test_canonical_tables_follow_the_contract():
    for name, spec in TABLES.items():
        table = store.CANONICAL[name]
        assert [c.name for c in table.columns] == [*spec.names, "extra", "ingested_at"]
        assert tuple(c.name for c in table.primary_key.columns) == spec.key
        assert {(fk.parent.name, fk.column.table.name) for fk in table.foreign_keys} == {
            (r.column, r.target_table) for r in spec.references
        }
    orders, targets = store.CANONICAL["orders"], store.CANONICAL["targets"]
    assert isinstance(orders.c.amount.type, store.ExactDecimal) and isinstance(
        targets.c.target.type, store.ExactDecimal
    )
    assert isinstance(orders.c.closed_at.type, sa.DateTime) and isinstance(
        store.CANONICAL["employees"].c.hire_date.type, sa.DateTime
    )
    assert isinstance(store.CANONICAL["satisfaction"].c.score.type, sa.Float)
    assert isinstance(store.CANONICAL["transfer_labels"].c.is_anomalous.type, sa.Integer)


def test_postgresql_ddl_and_upsert_compile():
    """The PostgreSQL DDL: exact money, row extras as order-keeping `json`, deferrable references."""
    dialect = postgresql.dialect()
    ddl = "\n".join(str(CreateTable(t).compile(dialect=dialect)) for t in store.metadata.sorted_tables)
    ddl += "\n".join(
        str(CreateIndex(i).compile(dialect=dialect)) for t in store.metadata.sorted_tables for i in t.indexes
    )
    assert "amount NUMERIC NOT NULL" in ddl and "extra JSON," in ddl and "DEFERRABLE INITIALLY DEFERRED" in ddl
    stmt = postgresql.insert(store.CANONICAL["orders"])
    sql = str(
        stmt.on_conflict_do_update(index_elements=["order_id"], set_={"amount": stmt.excluded.amount}).compile(
            dialect=dialect
        )
    )
    assert "ON CONFLICT (order_id) DO UPDATE SET amount = excluded.amount" in sql


def test_engine_is_cached_with_sqlite_pragmas(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = store.get_engine(url)
    assert store.get_engine(url) is engine
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_default_store_is_under_perfml_home(perfml_home, home):
    store.create_all(home.engine)
    assert (perfml_home / "perfml.db").is_file()


# -- import ------------------------------------------------------------------------------
def test_import_counts_and_exact_round_trip(tiny, url, monkeypatch):
    monkeypatch.setattr(store.data, "CHUNK_ROWS", 2)  # several executemany chunks per table
    fractions = []
    counts = store.import_dataset(tiny, url, progress=lambda stage, f: fractions.append(f))
    assert (
        counts
        == tiny.rows()
        == {
            "employees": 3,
            "customers": 2,
            "ownership_changes": 1,
            "activities": 2,
            "leads": 1,
            "orders": 3,
            "targets": 2,
            "satisfaction": 1,
            "transfer_labels": 1,
            "demographics": 2,
        }
    )
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert 18 / 18 in fractions and 2 / 18 in fractions  # 18 rows: progress after each chunk (employees 2 of 3)

    frames = store.read_tables(url)
    assert "metrics" not in frames  # empty optional table omitted
    assert frames["orders"]["amount"].tolist() == [Decimal("1234.56"), Decimal("0.1"), Decimal("9999999999.99")]
    assert frames["targets"]["target"].tolist() == [Decimal("10000.005"), Decimal("20.0")]
    assert list(frames["employees"].columns[-3:]) == ["attr_years", "attr_school", "attr_empty"]
    assert frames["customers"]["crm_source"].fillna("<missing>").tolist() == ["web", "<missing>"]
    assert frames["ownership_changes"]["changed_at"].tolist() == [pd.Timestamp("2023-03-01 06:00:00")]  # as UTC

    back = store.read_dataset(url)
    assert_same_dataset(tiny, back)
    assert back.employees["attr_school"].dtype == "category" and back.employees["attr_years"].dtype == "float64"


def test_read_tables_on_an_empty_store_gives_typed_empty_required_tables(url):
    frames = store.read_tables(url)
    assert set(frames) == {n for n, t in TABLES.items() if not t.optional}
    assert all(df.empty for df in frames.values())
    assert frames["orders"]["closed_at"].dtype == "datetime64[ns]"


def test_import_twice_is_idempotent_and_round_trips(small_dataset, url):
    first = store.import_dataset(small_dataset, url)
    state = stored_state(url, with_ingested_at=False)
    second = store.import_dataset(small_dataset, url)
    assert first == second == small_dataset.rows()
    assert sum(first.values()) > 100_000  # the small simulation: ~140k activities
    counts = store.table_counts(url)
    assert {n: counts[n] for n in first} == small_dataset.rows()  # no duplicates
    # Only ingested_at may differ: every contract value and extra is unchanged.
    assert stored_state(url, with_ingested_at=False) == state
    # And the store reads back as the very dataset that was imported.
    assert_same_dataset(small_dataset, store.read_dataset(url))


def test_changed_row_updates_in_place(tiny, url):
    store.import_dataset(tiny, url)
    frames = tiny_frames()
    frames["orders"].loc[0, "amount"] = "1300.10"
    frames["customers"].loc[1, "segment"] = "enterprise"
    frames["employees"].loc[0, "attr_years"] = "4"
    store.import_dataset(Dataset.from_frames(frames), url)
    assert store.table_counts(url)["orders"] == 3
    back = store.read_dataset(url)
    assert back.orders.set_index("order_id").loc["o1", "amount"] == 1300.10
    assert store.read_table("orders", url).set_index("order_id").loc["o1", "amount"] == Decimal("1300.1")
    assert back.customers.set_index("customer_id").loc["c2", "segment"] == "enterprise"
    assert back.employees.set_index("employee_id").loc["e1", "attr_years"] == 4.0


def test_a_failing_table_rolls_back_the_whole_import(small_dataset, url, monkeypatch):
    store.import_dataset(small_dataset, url)
    before = stored_state(url)
    # A second import that changes rows in early tables, then fails on a later one.
    tables = {n: small_dataset.table(n).copy() for n in small_dataset.rows()}
    tables["employees"]["team_id"] = "changed"
    tables["customers"] = pd.concat([tables["customers"], tables["customers"].head(1).assign(customer_id="NEW")])
    real = store.upsert_records

    def failing(session, name, frame, **kw):
        if name == "orders":
            raise RuntimeError("disk on fire")
        return real(session, name, frame, **kw)

    monkeypatch.setattr(store.data, "upsert_records", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.import_dataset(Dataset(tables), url)
    assert stored_state(url) == before


def test_a_constraint_violation_rolls_back_and_is_a_perfml_error(tiny, url):
    store.import_dataset(tiny, url)
    before = stored_state(url)
    tables = {n: tiny.table(n).copy() for n in tiny.rows()}
    tables["customers"].loc[0, "segment"] = "changed before the failure"
    ghost = tables["orders"].head(1).assign(order_id="o9", employee_id="ghost")
    tables["orders"] = pd.concat([tables["orders"], ghost], ignore_index=True)
    with pytest.raises(store.StoreIntegrityError, match="store unchanged"):
        store.import_dataset(Dataset(tables), url)  # bypasses validation on purpose
    assert stored_state(url) == before


def test_upsert_records_joins_the_callers_transaction(tiny, url):
    store.create_all(url)
    with store.session_scope(url) as session:
        for name in store.import_order():
            if tiny.has(name):
                store.upsert_records(session, name, tiny.table(name))
    assert store.table_counts(url)["orders"] == 3
    batch = Dataset.from_frames(tiny_frames()).orders.assign(order_id=["n1", "n2", "n3"])
    with pytest.raises(ZeroDivisionError), store.session_scope(url) as session:
        assert store.upsert_records(session, "orders", batch) == 3
        raise ZeroDivisionError  # a failure after the upsert, inside the session
    assert store.table_counts(url)["orders"] == 3


def test_sqlite_fast_path_stores_what_sqlalchemy_would(tiny, tmp_path):
    """The driver-level executemany must bind exactly like SQLAlchemy's own path."""
    stamp = store.utcnow()
    urls = [f"sqlite:///{tmp_path / f'{fast}.db'}" for fast in ("fast", "slow")]
    for url, fast in zip(urls, (True, False), strict=True):
        store.create_all(url)
        with store.get_engine(url).begin() as conn:
            for name in store.import_order():
                if tiny.has(name):
                    cols = store.data._columns(name, tiny.table(name), stamp)
                    store.data._ChunkWriter(conn, store.CANONICAL[name], fast=fast).write(
                        cols, 0, len(tiny.table(name))
                    )
    raw = []
    for url in urls:
        with store.get_engine(url).connect() as conn:  # raw text as SQLite holds it, no type processing
            raw.append({n: conn.exec_driver_sql(f"SELECT * FROM {n} ORDER BY 1, 2").all() for n in TABLES})
    assert raw[0] == raw[1]
    assert raw[0]["orders"][0][4] == "1234.56"


# -- alerts ------------------------------------------------------------------------------
def test_refreshing_an_alert_is_idempotent_and_keeps_its_review(url):
    store.create_all(url)
    with store.session_scope(url) as s:
        first = store.upsert_alert(
            s,
            type="decline",
            employee_id="e1",
            team_id="t1",
            period="2024-03",
            score=0.4,
            model_name="decline",
            model_version="3",
            explanation={"top": ["visits"]},
        )
        s.execute(sa.update(store.alerts).where(store.alerts.c.id == first).values(status="confirmed"))
        s.execute(sa.insert(store.alert_reviews).values(alert_id=first, decision="confirm", reviewer="mgr"))
    with store.session_scope(url) as s:
        again = store.upsert_alert(
            s,
            type="decline",
            employee_id="e1",
            team_id="t1",
            period="2024-03",
            score=0.7,
            model_name="decline",
            model_version="4",
        )
        other = store.upsert_alert(s, type="transfer_anomaly", change_id="x1", employee_id="e1", score=0.9)
        row = s.execute(sa.select(store.alerts).where(store.alerts.c.id == first)).one()
    assert again == first and other != first
    assert (row.score, row.model_version, row.status) == (0.7, "4", "confirmed")
    assert store.table_counts(url)["alerts"] == 2
    with pytest.raises(sa.exc.IntegrityError), store.session_scope(url) as s:
        s.execute(sa.insert(store.alerts).values(type="decline", subject_id="e2", window_key="", status="maybe"))
    assert store.hash_key("secret") == "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"


# -- CLI ---------------------------------------------------------------------------------
def test_cli_import_good_then_corrupted_data(small_dir, small_dataset, perfml_home, tmp_path):
    from perfml.cli import app
    from perfml.home import Home

    runner = CliRunner()
    result = runner.invoke(app, ["import", str(small_dir)])
    assert result.exit_code == 0, result.output
    url = Home.at(perfml_home).store_url
    before = stored_state(url)
    assert {n: len(before[n]) for n in TABLES if before[n]} == small_dataset.rows()

    bad = tmp_path / "bad"
    shutil.copytree(small_dir, bad)
    orders = next(bad.glob("orders.*"))
    frame = pd.read_csv(orders, dtype=str) if orders.suffix == ".csv" else pd.read_parquet(orders)
    frame["amount"] = frame["amount"].astype(object)
    frame.loc[frame.index[3], "amount"] = "-5"
    frame.to_csv(orders, index=False) if orders.suffix == ".csv" else frame.to_parquet(orders, index=False)
    result = runner.invoke(app, ["import", str(bad)])
    assert result.exit_code == 1
    assert "orders.amount" in result.output
    assert stored_state(url) == before


# -- consistent reads and the incremental snapshot ------------------------------------------------
@pytest.mark.slow  # a writer thread races readers until enough of both happened: about 10 s
def test_read_tables_sees_one_snapshot_while_a_writer_commits(tiny, url):
    """A writer commits customers with orders naming them; every read of the store is one snapshot,
    so `read_dataset` (which checks references) never sees an order without its customer."""
    import threading

    from perfml.ingest import ingest_records

    store.import_dataset(tiny, url)
    stop = threading.Event()
    written = []

    def writer() -> None:
        n = 0
        while not stop.is_set() and n < 400:
            ingest_records(
                {
                    "customers": [{"customer_id": f"cw{n}", "created_at": "2023-06-01"}],
                    "orders": [
                        {
                            "order_id": f"ow{n}",
                            "customer_id": f"cw{n}",
                            "employee_id": "e1",
                            "closed_at": "2023-06-02",
                            "amount": 5,
                        }
                    ],
                },
                url,
            )
            written.append(n)
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    reads = []
    try:
        while len(reads) < 60 and thread.is_alive():
            ds = store.read_dataset(url)  # raises DataValidationError on a torn read
            orders = set(ds.orders["order_id"].astype(str))
            customers = set(ds.customers["customer_id"].astype(str))
            assert {f"cw{o[2:]}" for o in orders if o.startswith("ow")} <= customers
            reads.append(len(orders))
    finally:
        stop.set()
        thread.join()
    assert len(reads) >= 10 and len(written) >= 10 and reads[-1] > reads[0]  # reads really raced the writes


def test_snapshot_transaction_is_read_only_and_repeatable(tiny, url):
    from perfml.ingest import ingest_records

    store.import_dataset(tiny, url)
    with store.snapshot(url) as conn:
        first = store.read_table("customers", conn)
        ingest_records({"customers": [{"customer_id": "c-late", "created_at": "2023-06-01"}]}, url)
        again = store.read_table("customers", conn)
    pd.testing.assert_frame_equal(first, again)  # the commit in between is invisible inside the snapshot
    assert "c-late" in set(store.read_table("customers", url)["customer_id"])


def test_upserted_snapshot_equals_a_fresh_read_of_the_store(tiny, url):
    """The service's incremental update (typed batch rows upserted by key) gives exactly what the store holds."""
    from perfml.ingest import prepare_batch, write_batch
    from perfml.serving.snapshot import upserted

    store.import_dataset(tiny, url)
    before = store.read_dataset(url)
    records = {
        "employees": [
            {
                "employee_id": "e3",
                "role": "sales",
                "team_id": "t2",
                "hire_date": "2023-06-01",
                "attr_years": "x",
                "attr_new": "7",
            },
            {"employee_id": "e1", "role": "sales", "team_id": "t9", "hire_date": "2023-01-01"},
        ],
        "customers": [{"customer_id": "c3", "created_at": "2023-06-01", "crm_source": "fair"}],
        "orders": [
            {"order_id": "o9", "customer_id": "c3", "employee_id": "e3", "closed_at": "2023-06-02", "amount": "12.345"},
            {"order_id": "o1", "customer_id": "c1", "employee_id": "e2", "closed_at": "2023-04-01", "amount": "99"},
        ],
        "targets": [{"employee_id": "e1", "period": "2023-04", "metric": "revenue", "target": "5"}],
    }
    typed = prepare_batch(records, url)
    write_batch(typed, url)
    keys: dict[str, set] = {}  # kept across updates, as the service keeps them
    after = upserted(before, typed, keys)

    def same_as_store(ds) -> None:
        fresh = store.read_dataset(url)
        assert ds.rows() == fresh.rows()
        for name in fresh.rows():  # the same rows and columns (extra columns may come in another order)
            a, b = _sorted(ds.table(name), TABLES[name].key), _sorted(fresh.table(name), TABLES[name].key)
            pd.testing.assert_frame_equal(a[sorted(a.columns)], b[sorted(b.columns)], obj=name)

    same_as_store(after)
    assert "o9" in keys["orders"] and ("e1", "2023-04", "revenue") in keys["targets"]
    # a second batch on the updated snapshot: one row seen in the first batch changes again, one is new
    again = prepare_batch(
        {
            "orders": [
                {"order_id": "o9", "customer_id": "c3", "employee_id": "e3", "closed_at": "2023-06-02", "amount": "1"},
                {"order_id": "o10", "customer_id": "c3", "employee_id": "e3", "closed_at": "2023-06-03", "amount": "2"},
            ]
        },
        url,
    )
    write_batch(again, url)
    twice = upserted(after, again, keys)
    same_as_store(twice)
    assert twice.orders.set_index("order_id").loc["o9", "amount"] == 1.0
    assert after.employees["attr_new"].dtype == "float64" and after.employees["attr_years"].dtype == "category"
    assert after.employees.set_index("employee_id").loc["e1", "team_id"] == "t9"  # replaced, not duplicated
    assert len(after.orders) == len(before.orders) + 1 and len(before.employees) == 3  # the input is untouched


# -- owner-only files ---------------------------------------------------------------------------------
def test_store_file_and_its_wal_are_owner_only_whatever_the_umask(tmp_path, tiny):
    import os
    import stat

    old = os.umask(0o002)  # a permissive umask: the store must still be private
    try:
        url = f"sqlite:///{tmp_path / 'private' / 'perfml.db'}"
        store.import_dataset(tiny, url)
        with store.get_engine(url).connect() as conn:  # the WAL files exist while a connection is open
            conn.execute(sa.text("SELECT 1"))
            files = [p for p in (tmp_path / "private").iterdir() if p.name.startswith("perfml.db")]
            assert {p.name for p in files} >= {"perfml.db", "perfml.db-wal", "perfml.db-shm"}
            for p in files:
                assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    finally:
        os.umask(old)


def test_an_existing_world_readable_store_is_tightened(tmp_path):
    import stat

    db = tmp_path / "old.db"
    db.touch(mode=0o644)
    db.chmod(0o644)
    store.get_engine(f"sqlite:///{db}")
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


# -- split shares across writes -------------------------------------------------------------------------------
def test_a_split_restated_with_other_holders_is_refused_and_the_store_keeps_the_first(tiny, url):
    from perfml.errors import DataValidationError
    from perfml.ingest import ingest_records

    frames = tiny_frames() | {
        "order_credits": pd.DataFrame({"order_id": ["o1", "o1"], "employee_id": ["e1", "e2"], "share": ["60", "40"]})
    }
    store.import_dataset(Dataset.from_frames(frames), url)
    # 50/50 to e1/m1 sums to 100 in the batch, but e2's stored 40 stays (writes never delete): 140 stored
    restated = [dict(order_id="o1", employee_id="e1", share="50"), dict(order_id="o1", employee_id="m1", share="50")]
    with pytest.raises(DataValidationError) as info:
        ingest_records({"order_credits": restated}, url)
    (problem,) = info.value.problems
    assert (problem.table, problem.column, problem.rows, problem.count) == ("order_credits", "share", (0, 1), 2)
    assert "order o1 sums to 140 with its stored rows" in problem.detail and "same holders" in problem.rule
    stored = store.read_tables(url)["order_credits"].sort_values("employee_id")
    assert stored["employee_id"].tolist() == ["e1", "e2"] and stored["share"].tolist() == [Decimal(60), Decimal(40)]

    same_holders = [
        dict(order_id="o1", employee_id="e1", share="55"),
        dict(order_id="o1", employee_id="e2", share="45"),
    ]
    assert ingest_records({"order_credits": same_holders}, url) == {"order_credits": 2}
    stored = store.read_tables(url)["order_credits"].sort_values("employee_id")
    assert stored["share"].tolist() == [Decimal(55), Decimal(45)]


def test_an_import_that_breaks_a_stored_split_rolls_back_whole(tiny, url):
    from perfml.errors import DataValidationError

    first = tiny_frames() | {
        "order_credits": pd.DataFrame({"order_id": ["o1", "o1"], "employee_id": ["e1", "e2"], "share": ["60", "40"]})
    }
    store.import_dataset(Dataset.from_frames(first), url)
    before = store.read_tables(url)
    second = tiny_frames() | {
        "order_credits": pd.DataFrame({"order_id": ["o1", "o1"], "employee_id": ["e1", "m1"], "share": ["70", "30"]})
    }
    with pytest.raises(DataValidationError, match=r"row\(s\): 2, 3; order o1 sums to 140 with its stored rows"):
        store.import_dataset(Dataset.from_frames(second), url)
    after = store.read_tables(url)
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)
