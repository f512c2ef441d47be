"""Two service workers over one store: a write through one is read through the other after one poll."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from helpers.service import Service, copy_store
from perfml.home import Home
from perfml.store import read_dataset
from test_workers import assert_same_dataset

HOUR = 3600.0  # the polling thread's interval: the tests call `follow()` themselves, no thread fires meanwhile


@pytest.fixture
def two_workers(shared_service: Service, tmp_path) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps (as two worker processes would build them) over one private copy of the session store."""
    url = copy_store(shared_service, tmp_path / "perfml.db")
    with ExitStack() as stack:
        clients = []
        for _ in range(2):
            home = Home.at(shared_service.home, store_url=url, snapshot_poll_seconds=HOUR)
            app = create_app(home, background=False, watch_interval=None, warm=False)
            clients.append(stack.enter_context(TestClient(app, raise_server_exceptions=False)))
        for client in clients:
            client.app.state.ctx.data.dataset()  # each worker's snapshot, built before the writes
        yield clients[0], clients[1]


def test_an_ingest_through_one_worker_is_read_through_the_other(two_workers, shared_service: Service):
    a, b = two_workers
    h = shared_service.h("admin")
    changed = shared_service.employee_a
    old = b.get(f"/v1/employees/{changed}", headers=h).json()
    assert old["probation_end_date"] != "2020-01-01"  # the ingest below changes it
    records = {
        "employees": [
            {**_record(b, changed), "manager_id": None, "probation_end_date": "2020-01-01"},
            {"employee_id": "E-NEW-1", "role": "sales", "team_id": old["team_id"], "hire_date": "2024-02-01"},
        ]
    }
    r = a.post("/v1/ingest", json={"records": records}, headers=shared_service.h("system"))
    assert r.status_code == 200, r.text[:300]
    assert a.get("/v1/employees/E-NEW-1", headers=h).status_code == 200  # the writer reads its own write at once
    assert b.get("/v1/employees/E-NEW-1", headers=h).status_code == 404  # the other one after its next poll

    assert b.app.state.ctx.data.follow() == 2
    new = b.get("/v1/employees/E-NEW-1", headers=h)
    assert new.status_code == 200 and new.json()["hire_date"] == "2024-02-01"
    now = b.get(f"/v1/employees/{changed}", headers=h).json()
    assert now["probation_end_date"] == "2020-01-01" and now["manager_id"] is None
    assert_same_dataset(b.app.state.ctx.data.dataset(), read_dataset(b.app.state.ctx.engine))


def test_a_review_through_one_worker_reaches_the_others_labels(two_workers, shared_service: Service):
    a, b = two_workers
    h = shared_service.h("admin")
    item = b.get("/v1/alerts?type=transfer_anomaly&status=open&limit=1", headers=h).json()["items"][0]
    change_id = item["change_id"]
    labels = a.app.state.ctx.data.dataset().transfer_labels
    assert b.post(f"/v1/alerts/{item['id']}/review", json={"decision": "confirm"}, headers=h).status_code == 200

    assert a.app.state.ctx.data.follow() == 1
    after = a.app.state.ctx.data.dataset().transfer_labels.set_index("change_id")
    assert after.loc[change_id, "is_anomalous"] == 1.0 and pd.notna(after.loc[change_id, "reviewed_at"])
    assert len(after) == len(labels) + (change_id not in set(labels["change_id"]))
    assert_same_dataset(a.app.state.ctx.data.dataset(), read_dataset(a.app.state.ctx.engine))


def _record(client: TestClient, employee_id: str) -> dict:
    """An employee's stored contract record as ingest takes it (dates as ISO text)."""
    row = client.app.state.ctx.data.dataset().employees.set_index("employee_id").loc[employee_id]
    out = {"employee_id": employee_id}
    for column, value in row.items():
        if pd.isna(value):
            continue
        out[column] = value.isoformat() if isinstance(value, pd.Timestamp) else value
    return out


@pytest.mark.slow
def test_serve_with_two_workers_on_postgresql(postgresql_service: Service, tmp_path):
    """`perfml serve --workers 2`: both worker processes answer on the one port, and each is ready."""
    url = copy_store(postgresql_service, tmp_path / "unused.db")
    port = _free_port()
    env = {**os.environ, "PERFML_STORE_URL": url, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("PERFML_SNAPSHOT_POLL_SECONDS", None)
    command = ["perfml", "serve", "--workers", "2", "--port", str(port), "--home", str(postgresql_service.home)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        pids: set[int] = set()
        deadline = time.monotonic() + 120
        while len(pids) < 2 and time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                with httpx.Client(timeout=10) as client:  # a new connection each time: either worker may take it
                    if client.get(f"{base}/readyz").status_code == 200:
                        pids.add(_worker_pid(client.get(f"{base}/metrics").text))
            except httpx.TransportError:
                time.sleep(0.2)  # not listening yet
        assert len(pids) == 2 and server.pid not in pids  # two workers, neither of them the supervisor
        with httpx.Client(timeout=10) as client:
            r = client.post(
                f"{base}/v1/scores/decline/by-id",
                json={"ids": [postgresql_service.employee_a]},
                headers=postgresql_service.h("admin"),
            )
            # Keep-alive requests after the first: with Nagle's algorithm on, each body would wait >= 40 ms
            # for the client's delayed ACK; the fastest of ten shows whether every one of them did.
            seconds = []
            for _ in range(10):
                started = time.perf_counter()
                client.get(f"{base}/healthz").raise_for_status()
                seconds.append(time.perf_counter() - started)
        assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "scored"
        assert min(seconds) < 0.030, seconds
    finally:
        server.terminate()
        server.wait(timeout=30)


def _worker_pid(metrics: str) -> int:
    line = next(x for x in metrics.splitlines() if x.startswith("perfml_worker_pid "))
    return int(float(line.split()[1]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
