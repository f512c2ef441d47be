"""Reads during writes: one consistent snapshot per read, writes reflected incrementally, reviews answer what
they saved.

Runs against a copy of the session's store (writes here must not disturb other tests); the MLflow
registry is shared read-only.
"""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from helpers.service import app_over, copy_store
from perfml.schema import TABLES

pytestmark = pytest.mark.slow  # threads racing ingests against reads until enough of both happened

WRITES = 6  # batches per writer thread: bounded, a few seconds on the small company


@pytest.fixture(scope="module")
def twin(shared_service, tmp_path_factory):
    """A second app over a copy of the session store (same models), and its client."""
    url = copy_store(shared_service, tmp_path_factory.mktemp("twin") / "perfml.db")
    with app_over(shared_service, url, warm=False) as (app, client):
        yield app, client


def _batch(tag: str, employees: list[str], day: str) -> dict:
    """New customers with orders and activities naming them: a snapshot read across a commit would
    see the orders without their customers."""
    customers = [{"customer_id": f"C-{tag}-{i}", "created_at": f"{day}T08:00:00"} for i in range(5)]
    orders = [
        {
            "order_id": f"O-{tag}-{i}",
            "customer_id": f"C-{tag}-{i % 5}",
            "employee_id": employees[i % len(employees)],
            "closed_at": f"{day}T15:00:00",
            "amount": 100 + i,
        }
        for i in range(10)
    ]
    activities = [
        {
            "activity_id": f"A-{tag}-{i}",
            "employee_id": employees[i % len(employees)],
            "customer_id": f"C-{tag}-{i % 5}",
            "type": "call",
            "occurred_at": f"{day}T10:00:00",
        }
        for i in range(20)
    ]
    return {"records": {"customers": customers, "orders": orders, "activities": activities}}


def _same_tables(left, right) -> None:
    """Two datasets hold the same rows per table (order aside)."""
    assert left.rows() == right.rows()
    for name in left.rows():
        key = list(TABLES[name].key)
        a = left.table(name).sort_values(key).reset_index(drop=True)
        b = right.table(name).sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(a[sorted(a.columns)], b[sorted(b.columns)], obj=name)


def test_reads_racing_ingests_never_fail_and_the_snapshot_follows_the_store(twin, service):
    """Writers ingest while readers list and open employees; every answer is 200, and the service's
    incrementally updated snapshot ends equal to a fresh read of the store."""
    from perfml.store import read_dataset

    app, c = twin
    data = app.state.ctx.data
    ds = data.dataset()
    employees = sorted(ds.employees["employee_id"].astype(str))[:10]
    day = (ds.date_range()[1].normalize() - pd.Timedelta(days=2)).strftime("%Y-%m-%d")
    before = data.generation
    writes_done = threading.Event()
    statuses: list[tuple[str, int, str]] = []

    def writer(w: int) -> None:
        for n in range(WRITES):
            r = c.post("/v1/ingest", json=_batch(f"race{w}-{n}", employees, day), headers=service.h("system"))
            statuses.append(("ingest", r.status_code, r.text[:200]))

    def reader(k: int) -> None:
        i = 0
        while not writes_done.is_set() or i < 4:
            path = "/v1/employees?limit=20" if (i + k) % 2 else f"/v1/employees/{employees[i % len(employees)]}"
            r = c.get(path, headers=service.h("admin"))
            statuses.append((path, r.status_code, r.text[:200]))
            i += 1

    writers = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
    readers = [threading.Thread(target=reader, args=(k,)) for k in range(2)]
    for t in writers + readers:
        t.start()
    for t in writers:
        t.join(timeout=300)
    writes_done.set()
    for t in readers:
        t.join(timeout=300)
    failed = [s for s in statuses if s[1] != 200]
    assert not failed, failed[:3]
    assert sum(1 for s in statuses if s[0] == "ingest") == 2 * WRITES
    assert sum(1 for s in statuses if s[0] != "ingest") >= 8
    assert data.generation == before + 2 * WRITES  # one incremental update per batch, no rebuild
    snap = data.dataset()
    assert snap.orders["order_id"].astype(str).str.startswith("O-race").sum() == 2 * WRITES * 10
    _same_tables(snap, read_dataset(app.state.ctx.engine))


def test_snapshot_rebuilt_in_the_background_keeps_writes(twin, service):
    """A snapshot past max_age is rebuilt while readers keep the old one; a write during that rebuild
    is not lost; a write from outside the service shows up after the rebuild."""
    import time

    from perfml.ingest import ingest_records
    from perfml.store import read_dataset

    app, c = twin
    data = app.state.ctx.data
    ds = data.dataset()
    employees = sorted(ds.employees["employee_id"].astype(str))[:3]
    day = (ds.date_range()[1].normalize() - pd.Timedelta(days=2)).strftime("%Y-%m-%d")
    ingest_records(_batch("outside", employees, day)["records"], app.state.ctx.engine)  # another process, say
    assert "C-outside-0" not in set(data.dataset().customers["customer_id"])
    data.max_age = 0.0
    try:
        for n in range(3):  # each read finds the snapshot stale and starts (at most one) rebuild
            assert (
                c.post("/v1/ingest", json=_batch(f"bg{n}", employees, day), headers=service.h("system")).status_code
                == 200
            )
            assert c.get("/v1/employees?limit=5", headers=service.h("admin")).status_code == 200
        data.max_age = 3600.0
        deadline = time.monotonic() + 120
        while "C-outside-0" not in set(data.dataset().customers["customer_id"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        while data._refreshing and time.monotonic() < deadline:  # let a running rebuild finish
            time.sleep(0.2)
    finally:
        data.max_age = 3600.0
    customers = set(data.dataset().customers["customer_id"])
    assert {"C-outside-0", "C-bg0-0", "C-bg1-0", "C-bg2-0"} <= customers
    _same_tables(data.dataset(), read_dataset(app.state.ctx.engine))


def test_review_answers_what_it_saved_while_ingests_run(twin, service):
    """Reviews racing ingests: every review answers 200 with the decision it stored, and the transfer
    label it wrote is in the service's snapshot at once."""
    import sqlalchemy as sa

    from perfml.store import CANONICAL, alerts

    app, c = twin
    engine = app.state.ctx.engine
    with engine.connect() as conn:
        ids = [
            r[0]
            for r in conn.execute(
                sa.select(alerts.c.id).where(alerts.c.type == "transfer_anomaly").order_by(alerts.c.id).limit(8)
            )
        ]
    assert len(ids) == 8
    ds = app.state.ctx.data.dataset()
    employees = sorted(ds.employees["employee_id"].astype(str))[:5]
    day = (ds.date_range()[1].normalize() - pd.Timedelta(days=2)).strftime("%Y-%m-%d")
    answers: dict[int, object] = {}

    def reviewer(part: list[int]) -> None:
        for alert_id in part:
            decision = "confirm" if alert_id % 2 else "dismiss"
            answers[alert_id] = (
                decision,
                c.post(
                    f"/v1/alerts/{alert_id}/review",
                    json={"decision": decision, "note": "t"},
                    headers=service.h("admin"),
                ),
            )

    def writer() -> None:
        for n in range(WRITES):
            c.post("/v1/ingest", json=_batch(f"rev{n}", employees, day), headers=service.h("system"))

    threads = [threading.Thread(target=reviewer, args=(ids[k::2],)) for k in range(2)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    labels = app.state.ctx.data.dataset().transfer_labels.set_index("change_id")["is_anomalous"]
    with engine.connect() as conn:
        stored = dict(
            conn.execute(
                sa.select(CANONICAL["transfer_labels"].c.change_id, CANONICAL["transfer_labels"].c.is_anomalous)
            ).all()
        )
    for alert_id, (decision, r) in answers.items():
        assert r.status_code == 200, r.text[:300]
        body = r.json()
        assert body["id"] == alert_id and body["status"] == {"confirm": "confirmed", "dismiss": "dismissed"}[decision]
        assert body["reviews"][-1]["decision"] == decision
        expected = 1.0 if decision == "confirm" else 0.0
        assert labels[body["change_id"]] == expected and float(stored[body["change_id"]]) == expected
    assert len(answers) == 8
