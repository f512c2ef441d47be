"""POST /v1/ingest applies the same contract rules as `perfml validate` and `perfml import`: non-finite,
too large and too precise numbers, dates outside 1900-2100 and NUL characters are a 422 naming the record,
the field and the value (never a 500), whether the JSON carries them as text or as numbers."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from perfml.store import CANONICAL

BASE = {
    "employees": [{"employee_id": "EMP 001", "role": "sales", "team_id": "TEAM 1", "hire_date": "2016-01-04"}],
    "customers": [{"customer_id": "CUST 1", "created_at": "2016-02-01"}],
}
ORDER = {
    "order_id": "ORD 1",
    "customer_id": "CUST 1",
    "employee_id": "EMP 001",
    "closed_at": "2017-01-05",
    "amount": "100.50",
}
CHANGE = {"change_id": "CHG 1", "customer_id": "CUST 1", "to_employee_id": "EMP 001", "changed_at": "2017-01-05"}
ACTIVITY = {"activity_id": "ACT 1", "employee_id": "EMP 001", "type": "call", "occurred_at": "2017-01-05"}
TARGET = {"employee_id": "EMP 001", "period": "2017-01", "metric": "revenue", "target": 1000}


@pytest.fixture
def ingest(home):
    """POST a batch (records merged over a clean order) with an hr_system key on a fresh home."""
    from api.main import create_app
    from perfml.keys import create_key

    headers = {"Authorization": f"Bearer {create_key(role='hr_system', engine=home.engine).key}"}
    app = create_app(home, model_names=(), load_models=False, background=False, watch_interval=None, warm=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/v1/ingest", json={"records": BASE}, headers=headers).status_code == 200

        def post(records):
            return client.post("/v1/ingest", json={"records": records}, headers=headers)

        post.engine = app.state.ctx.engine
        post.raw = lambda body: client.post(
            "/v1/ingest", content=body, headers={**headers, "Content-Type": "application/json"}
        )
        yield post


def _count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(CANONICAL[table])).scalar_one()


@pytest.mark.parametrize(
    "table, record, column, value, rule",
    [
        ("orders", ORDER, "amount", "inf", "must be a finite number"),
        ("orders", ORDER, "amount", "1e400", "must be a finite number"),
        ("orders", ORDER, "amount", 1e300, "must be <= 1e12"),
        ("orders", ORDER, "amount", 5_000_000_000_000, "must be <= 1e12"),
        ("orders", ORDER, "amount", "0.0000001", "must have at most 6 decimal places"),
        ("orders", ORDER, "amount", 1e-7, "must have at most 6 decimal places"),
        ("orders", ORDER, "closed_at", "1600-01-01", "must be between 1900-01-01 and 2100-01-01"),
        ("orders", ORDER, "closed_at", "0001-01-01", "must be between 1900-01-01 and 2100-01-01"),
        ("orders", ORDER, "closed_at", "2300-01-01", "must be between 1900-01-01 and 2100-01-01"),
        ("ownership_changes", CHANGE, "reason", "客户要求\x00", "must not contain a NUL character"),
        ("activities", ACTIVITY, "duration_minutes", 1441, "must be <= 1440"),
        ("targets", TARGET, "target", "inf", "must be a finite number"),
    ],
)
def test_ingest_refuses_what_validate_refuses(ingest, table, record, column, value, rule):
    r = ingest({table: [dict(record), {**record, record_key(table): "K 2", column: value}]})
    assert r.status_code == 422, r.text[:300]
    assert r.headers["content-type"].startswith("application/problem+json")
    (error,) = r.json()["errors"]
    assert error["path"] == f"records.{table}[1].{column}"
    assert error["msg"].startswith(rule) and "e.g." in error["msg"]
    assert _count(ingest.engine, table) == 0  # the valid first record was not written either
    assert ingest({table: [dict(record)]}).status_code == 200  # and the clean record alone is fine


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN", "1e400"])
def test_non_finite_json_number_literals_are_refused(ingest, literal):
    """`1e400` is a valid JSON number that overflows to infinity; `Infinity`/`NaN` are common extensions."""
    body = json.dumps({"records": {"orders": [ORDER]}}).replace('"100.50"', literal)
    assert literal in body
    r = ingest.raw(body.encode())
    assert r.status_code == 422 and "amount" in r.text and _count(ingest.engine, "orders") == 0


def record_key(table: str) -> str:
    return {"orders": "order_id", "ownership_changes": "change_id", "activities": "activity_id", "targets": "metric"}[
        table
    ]


def test_one_answer_lists_row_and_reference_problems_together(ingest):
    """A bad value in one record and an unknown customer in another: both in the first 422."""
    r = ingest({"orders": [{**ORDER, "amount": "inf"}, {**ORDER, "order_id": "ORD 2", "customer_id": "CUST 404"}]})
    assert r.status_code == 422, r.text[:300]
    paths = {e["path"]: e["msg"] for e in r.json()["errors"]}
    assert paths.keys() == {"records.orders[0].amount", "records.orders[1].customer_id"}
    assert paths["records.orders[1].customer_id"].startswith("must reference an existing customers.customer_id")
    assert _count(ingest.engine, "orders") == 0
