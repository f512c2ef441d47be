"""Pay statements over HTTP: scoped reads, closing (hr_admin only, once), audit entries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from helpers.rule_data import make_dataset
from perfml.home import Home
from perfml.keys import create_key
from perfml.services.ingest import import_dataset

EMPLOYEES = [
    dict(employee_id="r1", role="sales", team_id="t1", hire_date="2020-01-01"),
    dict(employee_id="r2", role="sales", team_id="t1", hire_date="2020-01-01"),
    dict(employee_id="r3", role="sales", team_id="t2", hire_date="2020-01-01"),
]
CUSTOMERS = [dict(customer_id=c, created_at="2022-01-01") for c in ("c1", "c2", "c3")]
ORDERS = [
    dict(order_id="o1", customer_id="c1", employee_id="r1", closed_at="2024-03-10", amount="130000"),
    dict(order_id="o2", customer_id="c2", employee_id="r2", closed_at="2024-03-12", amount="80000"),
    dict(order_id="o3", customer_id="c3", employee_id="r3", closed_at="2024-03-14", amount="50000"),
]
TARGETS = [dict(employee_id=e, period="2024-03", metric="revenue", target="100000") for e in ("r1", "r2", "r3")]
URL = "/v1/kpi/statements/sales-default/2024-03"


@dataclass
class Api:
    client: TestClient
    home: Home
    keys: dict[str, str]

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


@pytest.fixture
def api(home) -> Iterator[Api]:
    from api.main import create_app

    ds = make_dataset(employees=EMPLOYEES, customers=CUSTOMERS, orders=ORDERS, targets=TARGETS)
    import_dataset(home=home, dataset=ds)
    keys = {
        "admin": create_key(role="hr_admin", label="tests", engine=home.engine).key,
        "manager_t1": create_key(role="manager", team_id="t1", engine=home.engine).key,
        "employee_r1": create_key(role="employee", employee_id="r1", engine=home.engine).key,
    }
    app = create_app(home, load_models=False, background=False, watch_interval=None, warm=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, home, keys)


def people(body) -> list[str]:
    return [e["employee_id"] for e in body["employees"]]


def test_statement_is_scoped_to_what_the_caller_may_see(api):
    admin = api.client.get(URL, headers=api.h("admin"))
    assert admin.status_code == 200, admin.text[:300]
    body = admin.json()
    assert (body["status"], body["period"], body["closed_by"]) == ("open", "2024-03", None)
    assert people(body) == ["r1", "r2", "r3"]
    r1 = body["employees"][0]
    commission = next(ln for ln in r1["lines"] if ln["name"] == "commission")
    assert (commission["id"], commission["value"]) == ("segments.veteran.commission", "14500.00")
    assert Decimal(body["total"]) == sum(Decimal(e["total"]) for e in body["employees"])
    manager = api.client.get(URL, headers=api.h("manager_t1")).json()
    assert people(manager) == ["r1", "r2"] and manager["hash"] == body["hash"]
    own = api.client.get(URL, headers=api.h("employee_r1")).json()
    assert people(own) == ["r1"] and own["total"] == r1["total"]


def test_only_hr_closes_a_period_once_and_every_step_is_audited(api):
    refused = api.client.post(f"{URL}/close", headers=api.h("manager_t1"))
    assert refused.status_code == 403
    closed = api.client.post(f"{URL}/close", headers=api.h("admin"))
    assert closed.status_code == 200, closed.text[:300]
    body = closed.json()
    assert body["status"] == "closed" and body["closed_by"] and len(body["hash"]) == 64
    again = api.client.post(f"{URL}/close", headers=api.h("admin"))
    assert again.status_code == 409 and "already closed" in again.json()["detail"]
    read = api.client.get(URL, headers=api.h("employee_r1")).json()
    assert read["status"] == "closed" and read["hash"] == body["hash"] and people(read) == ["r1"]
    api.client.app.state.ctx.audit.flush()
    entries = api.client.get("/v1/audit?limit=10", headers=api.h("admin")).json()["items"]
    actions = [(e["action"], e["details"].get("status")) for e in entries if e["action"].startswith("statement.")]
    assert ("statement.close", "closed") in actions and ("statement.read", "closed") in actions
    close_entry = next(e for e in entries if e["action"] == "statement.close")
    assert close_entry["details"]["hash"] == body["hash"] and close_entry["details"]["period"] == "2024-03"


def test_unknown_plan_and_bad_period(api):
    assert api.client.get("/v1/kpi/statements/nope/2024-03", headers=api.h("admin")).status_code == 404
    assert api.client.get("/v1/kpi/statements/sales-default/2024-13", headers=api.h("admin")).status_code == 422
