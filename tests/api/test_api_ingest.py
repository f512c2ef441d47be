"""Ingest over HTTP: validated, all or nothing, idempotent; problems name the record and the field."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from perfml.store import CANONICAL


def _count(service, table: str, where=None) -> int:
    t = CANONICAL[table]
    stmt = sa.select(sa.func.count()).select_from(t)
    if where is not None:
        stmt = stmt.where(where(t))
    with service.ctx.engine.connect() as conn:
        return conn.execute(stmt).scalar_one()


def _batch(tag: str, employee: str) -> dict:
    return {
        "records": {
            "customers": [
                {
                    "customer_id": f"C-{tag}-1",
                    "created_at": "2026-04-01T09:00:00",
                    "segment": "smb",
                    "crm_source": "webform",
                },
                {"customer_id": f"C-{tag}-2", "created_at": "2026-04-02T09:00:00"},
            ],
            "orders": [
                {
                    "order_id": f"O-{tag}-1",
                    "customer_id": f"C-{tag}-1",
                    "employee_id": employee,
                    "closed_at": "2026-04-20T15:30:00",
                    "amount": "12500.10",
                    "order_type": "new",
                },
                {
                    "order_id": f"O-{tag}-2",
                    "customer_id": f"C-{tag}-1",
                    "employee_id": employee,
                    "closed_at": "2026-04-25T10:00:00",
                    "amount": 800,
                },
            ],
            "activities": [
                {
                    "activity_id": f"A-{tag}-1",
                    "employee_id": employee,
                    "customer_id": f"C-{tag}-2",
                    "type": "visit",
                    "occurred_at": "2026-04-03T10:00:00",
                    "duration_minutes": 45,
                }
            ],
        }
    }


@pytest.mark.writes
def test_ingest_twice_writes_no_duplicates(service):
    c, h = service.client, service.h("system")
    before = {t: _count(service, t) for t in ("customers", "orders", "activities")}
    batch = _batch("idem", service.employee_a)
    r = c.post("/v1/ingest", json=batch, headers=h)
    assert r.status_code == 200, r.text[:500]
    assert r.json() == {"rows": {"customers": 2, "orders": 2, "activities": 1}, "total": 5}
    after = {t: _count(service, t) for t in before}
    assert after == {
        "customers": before["customers"] + 2,
        "orders": before["orders"] + 2,
        "activities": before["activities"] + 1,
    }
    assert c.post("/v1/ingest", json=batch, headers=h).status_code == 200
    assert {t: _count(service, t) for t in before} == after  # upsert by key: same rows, no duplicates
    with service.ctx.engine.connect() as conn:
        orders = CANONICAL["orders"]
        rows = dict(
            conn.execute(
                sa.select(orders.c.order_id, orders.c.order_type).where(orders.c.order_id.like("O-idem-%"))
            ).all()
        )
        extra = conn.execute(
            sa.select(CANONICAL["customers"].c.extra).where(CANONICAL["customers"].c.customer_id == "C-idem-1")
        ).scalar_one()
    assert rows == {"O-idem-1": "new", "O-idem-2": "repeat"}  # missing order_type derived
    assert extra == {"crm_source": "webform"}  # unknown columns kept
    # a record referring to a customer that is only in the store (not in the batch) is fine
    later = {
        "records": {
            "orders": [
                {
                    "order_id": "O-idem-3",
                    "customer_id": "C-idem-2",
                    "employee_id": service.employee_a,
                    "closed_at": "2026-04-28T10:00:00",
                    "amount": 10,
                }
            ]
        }
    }
    assert c.post("/v1/ingest", json=later, headers=h).status_code == 200
    audit = c.get("/v1/audit?action=ingest&limit=5", headers=service.h("admin")).json()["items"]
    assert audit and audit[0]["details"]["rows"] == {"orders": 1}


@pytest.mark.writes
def test_bad_batch_writes_nothing_and_names_record_and_field(service):
    c, h = service.client, service.h("system")
    batch = _batch("bad", service.employee_a)
    batch["records"]["orders"][1]["amount"] = -5  # the second order
    batch["records"]["activities"][0]["type"] = "teleport"
    before = {t: _count(service, t) for t in ("customers", "orders", "activities")}
    r = c.post("/v1/ingest", json=batch, headers=h)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    paths = {e["path"]: e for e in body["errors"]}
    assert "records.orders[1].amount" in paths and "records.activities[0].type" in paths
    e = paths["records.orders[1].amount"]
    assert e["loc"] == ["body", "records", "orders", 1, "amount"] and e["table"] == "orders" and ">= 0" in e["msg"]
    assert "nothing written" in body["detail"]
    assert {t: _count(service, t) for t in before} == before  # the valid customers were not written either
    assert _count(service, "customers", lambda t: t.c.customer_id.like("C-bad-%")) == 0


@pytest.mark.writes
def test_references_checked_against_batch_and_store(service):
    c, h = service.client, service.h("system")
    batch = {
        "records": {
            "orders": [
                {
                    "order_id": "O-ref-1",
                    "customer_id": "C-does-not-exist",
                    "employee_id": service.employee_a,
                    "closed_at": "2026-04-20T15:30:00",
                    "amount": 10,
                },
                {
                    "order_id": "O-ref-2",
                    "customer_id": "C-idem-1",
                    "employee_id": "E-nobody",
                    "closed_at": "2026-04-20T15:30:00",
                    "amount": 10,
                },
            ]
        }
    }
    r = c.post("/v1/ingest", json=batch, headers=h)
    assert r.status_code == 422
    paths = {e["path"] for e in r.json()["errors"]}
    assert {"records.orders[0].customer_id", "records.orders[1].employee_id"} <= paths
    assert _count(service, "orders", lambda t: t.c.order_id.like("O-ref-%")) == 0
    dup = {
        "records": {
            "customers": [
                {"customer_id": "C-dup", "created_at": "2026-04-01"},
                {"customer_id": "C-dup", "created_at": "2026-04-02"},
            ]
        }
    }
    r = c.post("/v1/ingest", json=dup, headers=h)
    assert r.status_code == 422 and any("unique" in e["msg"] for e in r.json()["errors"])
    r = c.post("/v1/ingest", json={"records": {"nonsense": []}}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["path"].startswith("records")
    r = c.post(
        "/v1/ingest", json={"records": {"customers": [{"customer_id": "C-x", "created_at": "yesterday"}]}}, headers=h
    )
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "records.customers[0].created_at"
