"""The service's store snapshot: incremental updates, derived frames kept or dropped by the tables they read."""

from __future__ import annotations

import pytest

from perfml.ingest import ingest_records, prepare_batch, write_batch
from perfml.serving.snapshot import DatasetCache


@pytest.fixture
def cache(tmp_path) -> DatasetCache:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    ingest_records(
        {
            "employees": [{"employee_id": "e1", "role": "sales", "team_id": "t1", "hire_date": "2023-01-01"}],
            "customers": [{"customer_id": "c1", "created_at": "2023-01-05"}],
            "orders": [
                {"order_id": "o1", "customer_id": "c1", "employee_id": "e1", "closed_at": "2023-04-01", "amount": "10"}
            ],
        },
        url,
    )
    return DatasetCache(url)


def _write(cache: DatasetCache, records: dict):
    typed = prepare_batch(records, cache.engine)
    return cache.update(lambda: write_batch(typed, cache.engine), typed)


def test_update_reaches_readers_without_a_store_read(cache, monkeypatch):
    first = cache.dataset()
    monkeypatch.setattr(
        "perfml.serving.snapshot.read_dataset_at", lambda *a, **k: pytest.fail("rebuilt from the store")
    )
    rows = _write(
        cache,
        {
            "orders": [
                {"order_id": "o2", "customer_id": "c1", "employee_id": "e1", "closed_at": "2023-04-02", "amount": "5"}
            ]
        },
    )
    assert rows == {"orders": 1}
    assert sorted(cache.dataset().orders["order_id"]) == ["o1", "o2"]
    assert list(first.orders["order_id"]) == ["o1"]  # a reader holding the old snapshot still sees it whole


def test_derived_frames_follow_the_tables_they_read(cache):
    calls = {"employees": 0, "all": 0}

    def count(name):
        def build(ds):
            calls[name] += 1
            return len(ds.orders), len(ds.employees)

        return build

    assert cache.derived(("e",), count("employees"), tables=("employees",)) == (1, 1)
    assert cache.derived(("a",), count("all")) == (1, 1)
    _write(
        cache,
        {
            "orders": [
                {"order_id": "o2", "customer_id": "c1", "employee_id": "e1", "closed_at": "2023-04-02", "amount": "5"}
            ]
        },
    )
    assert cache.derived(("e",), count("employees"), tables=("employees",)) == (1, 1)  # kept: reads no orders
    assert cache.derived(("a",), count("all")) == (2, 1)  # rebuilt
    assert calls == {"employees": 1, "all": 2}
    _write(cache, {"employees": [{"employee_id": "e2", "role": "sales", "team_id": "t1", "hire_date": "2023-01-01"}]})
    assert cache.derived(("e",), count("employees"), tables=("employees",)) == (2, 2)
    assert calls["employees"] == 2


def test_stale_ok_answers_at_once_and_catches_up(cache, monkeypatch):
    import time

    monkeypatch.setattr(DatasetCache, "STALE_REBUILD_S", 0.0)
    build = lambda ds: len(ds.orders)  # noqa: E731
    assert cache.derived(("m",), build, stale_ok=True) == 1
    _write(
        cache,
        {
            "orders": [
                {"order_id": "o2", "customer_id": "c1", "employee_id": "e1", "closed_at": "2023-04-02", "amount": "5"}
            ]
        },
    )
    assert cache.derived(("m",), build, stale_ok=True) in (1, 2)  # the previous value, or the new one if quick
    deadline = time.monotonic() + 30
    while cache.derived(("m",), build, stale_ok=True) != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.derived(("m",), build, stale_ok=True) == 2


def test_a_committed_write_answers_even_if_the_snapshot_update_fails(cache):
    cache.dataset()
    before = cache.generation

    def broken(_result):
        raise RuntimeError("boom")

    typed = prepare_batch({"customers": [{"customer_id": "c9", "created_at": "2023-02-01"}]}, cache.engine)
    assert cache.update(lambda: write_batch(typed, cache.engine), broken) == {"customers": 1}
    assert cache.generation > before
    assert "c9" in set(cache.dataset().customers["customer_id"])  # re-read from the store


def test_a_failed_write_leaves_the_snapshot(cache):
    cache.dataset()
    before = cache.generation

    def fail():
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        cache.update(fail, {})
    assert cache.generation == before
