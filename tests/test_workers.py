"""Several workers over one store: the change feed and a snapshot that follows it by key (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
import sqlalchemy as sa

from perfml.ingest import ingest_records
from perfml.schema import TABLES
from perfml.serving.snapshot import DatasetCache
from perfml.store import get_engine, read_dataset, record_changes
from perfml.store.changes import MAX_KEYS, changes_since
from perfml.store.tables import data_changes

SEED = {
    "employees": [
        {"employee_id": "e1", "role": "sales", "team_id": "t1", "hire_date": "2023-01-01"},
        {"employee_id": "e2", "role": "sales", "team_id": "t1", "hire_date": "2023-02-01"},
    ],
    "customers": [{"customer_id": "c1", "created_at": "2023-01-05"}],
    "orders": [{"order_id": "o1", "customer_id": "c1", "employee_id": "e1", "closed_at": "2023-04-01", "amount": "10"}],
    "targets": [{"employee_id": "e1", "period": "2023-04", "metric": "revenue", "target": "100"}],
}


def assert_same_dataset(a, b) -> None:
    """Every table of two datasets equal row for row (in key order)."""
    assert set(a.rows()) == set(b.rows())
    for name in a.rows():
        key = list(TABLES[name].key)
        left = a.table(name).sort_values(key).reset_index(drop=True)
        right = b.table(name).sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(left, right, obj=name)


@pytest.fixture
def seeded(store_url) -> str:
    ingest_records(SEED, store_url)
    return store_url


def test_a_follower_applies_another_writers_rows_by_key(seeded, monkeypatch):
    follower = DatasetCache(seeded, follow=True)
    before = follower.dataset()
    generation = follower.generation
    ingest_records(  # another worker's write: a changed order, a new order, a composite key, a new employee
        {
            "employees": [{"employee_id": "e3", "role": "assistant", "team_id": "t1", "hire_date": "2023-03-01"}],
            "orders": [
                {
                    "order_id": "o1",
                    "customer_id": "c1",
                    "employee_id": "e2",
                    "closed_at": "2023-04-01",
                    "amount": "12.5",
                },
                {"order_id": "o2", "customer_id": "c1", "employee_id": "e3", "closed_at": "2023-05-02", "amount": "7"},
            ],
            "targets": [{"employee_id": "e1", "period": "2023-04", "metric": "revenue", "target": "150"}],
        },
        seeded,
    )
    assert len(follower.dataset().orders) == 1  # nothing moves until it follows
    monkeypatch.setattr("perfml.serving.snapshot.read_dataset_at", lambda *a, **k: pytest.fail("re-read the store"))
    assert follower.follow() == 4
    after = follower.dataset()
    assert follower.generation == generation + 1
    orders = after.orders.set_index("order_id")
    assert orders.loc["o1", "employee_id"] == "e2" and str(orders.loc["o1", "amount"]) == "12.5"
    assert orders.loc["o2", "employee_id"] == "e3"
    assert after.targets["target"].tolist() == [150.0]
    assert sorted(after.employees["employee_id"]) == ["e1", "e2", "e3"]
    assert list(before.orders["order_id"]) == ["o1"]  # a reader's snapshot is never changed under it
    monkeypatch.undo()
    assert_same_dataset(after, read_dataset(seeded))
    assert follower.follow() == 0 and follower.generation == generation + 1  # caught up: nothing to do


def test_a_following_writer_sees_its_own_write_at_once(seeded):
    cache = DatasetCache(seeded, follow=True)
    cache.dataset()
    records = {"customers": [{"customer_id": "c2", "created_at": "2023-06-01"}]}
    cache.update(lambda: ingest_records(records, seeded), {})  # the rows come from the feed, not the caller
    assert sorted(cache.dataset().customers["customer_id"]) == ["c1", "c2"]
    assert cache.follow() == 0


def test_a_bulk_write_makes_followers_reread_the_store(seeded, monkeypatch):
    follower = DatasetCache(seeded, follow=True)
    follower.dataset()
    rereads = []
    monkeypatch.setattr(follower, "_refresh_in_background", lambda: rereads.append(1))
    many = [{"customer_id": f"c{i}", "created_at": "2023-06-01"} for i in range(2, MAX_KEYS + 3)]
    ingest_records({"customers": many}, seeded)
    with get_engine(seeded).connect() as conn:
        [change] = changes_since(conn, 0)[-1:]
    assert change.table == "customers" and change.keys is None  # too many keys to list
    assert follower.follow() == 0 and rereads == [1]
    assert len(follower.dataset().customers) == 1  # left to the re-read, never half-applied


def test_feed_writers_commit_in_id_order(seeded):
    """PostgreSQL: a second writer of the feed waits for the first one's COMMIT, so ids commit in order."""
    if not seeded.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time")
    engine = get_engine(seeded)
    frame = pd.DataFrame({"customer_id": pd.Series(["c1"], dtype="string")})
    first = engine.connect()
    tx = first.begin()
    record_changes(first, {"customers": frame})
    blocked = threading.Event()

    def second() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '300ms'")
            try:
                record_changes(conn, {"customers": frame})
            except sa.exc.OperationalError:
                blocked.set()
                raise

    worker = threading.Thread(target=lambda: pytest.raises(sa.exc.OperationalError, second))
    worker.start()
    worker.join()
    assert blocked.is_set()  # it could not take an id while the first writer's is uncommitted
    tx.commit()
    first.close()
    with engine.begin() as conn:  # once the first committed, the next writer goes through
        record_changes(conn, {"customers": frame})
    with engine.connect() as conn:
        names = conn.execute(sa.select(data_changes.c.table_name).order_by(data_changes.c.id)).scalars().all()
    assert names == [*SEED, "customers", "customers"]  # one per table of the seed, then the two writers
