"""KPI over HTTP: evaluation with traces, what-if, plans as data (YAML refused by path), audit entries."""

from __future__ import annotations

from decimal import Decimal


def _period(service) -> str:
    return str(service.ctx.data.dataset().date_range()[1])[:7]


def test_evaluate_with_traces_and_pages(service):
    c, h = service.client, service.h("admin")
    period = _period(service)
    first = c.post("/v1/kpi/evaluate?limit=3", json={"period": period}, headers=h)
    assert first.status_code == 200, first.text[:300]
    run = first.json()
    assert run["plan"]["id"] == "sales-default" and len(run["plan"]["hash"]) == 64 and run["periods"] == [period]
    assert run["total"] > 3 and len(run["results"]) == 3 and run["next_offset"] == 3
    second = c.post("/v1/kpi/evaluate?limit=3&offset=3", json={"period": period}, headers=h).json()
    assert not {r["employee_id"] for r in run["results"]} & {r["employee_id"] for r in second["results"]}
    result = run["results"][0]
    total = sum(Decimal(line["value"]) for line in result["lines"])
    assert Decimal(result["total"]) == total  # money as exact decimal text; lines add up
    for line in result["lines"]:
        assert line["rule"] and line["formula"] and "inputs" in line
    one = c.post("/v1/kpi/evaluate", json={"period": period, "employee_id": result["employee_id"]}, headers=h).json()
    assert one["total"] == 1 and one["results"][0] == result  # same data, same plan, same numbers
    entries = c.get("/v1/audit?action=plan.evaluate&limit=5", headers=h).json()["items"]
    assert entries and entries[0]["model_or_plan_version"].startswith("sales-default v")
    assert entries[0]["details"]["period"] == period


def test_what_if(service):
    c, h = service.client, service.h("manager_a")
    period = _period(service)
    base = c.post("/v1/kpi/evaluate", json={"period": period, "employee_id": service.employee_a}, headers=h).json()
    r = c.post(
        "/v1/kpi/what-if",
        json={"period": period, "employee_id": service.employee_a, "overrides": {"revenue": 10_000_000}},
        headers=h,
    )
    assert r.status_code == 200, r.text[:300]
    assert Decimal(r.json()["result"]["total"]) > Decimal(base["results"][0]["total"])
    entries = c.get("/v1/audit?action=plan.what_if&limit=1", headers=service.h("admin")).json()["items"]
    assert entries[0]["details"]["overrides"] == {"revenue": 10_000_000}


def test_plans_and_plan_errors(service):
    c = service.client
    plans = {p["id"]: p for p in c.get("/v1/kpi/plans", headers=service.h("employee_a")).json()}
    assert {"sales-default", "school-teachers"} <= set(plans)
    period = _period(service)
    r = c.post("/v1/kpi/evaluate", json={"plan": "nope", "period": period}, headers=service.h("admin"))
    assert r.status_code == 404 and "built-in plans" in r.json()["detail"]
    r = c.post("/v1/kpi/evaluate", json={"plan": "/etc/passwd", "period": period}, headers=service.h("admin"))
    assert r.status_code == 404  # never a file path
    r = c.post("/v1/kpi/evaluate", json={"period": "2024-13"}, headers=service.h("admin"))
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "period"
    bad_yaml = "id: x\nversion: 1\neffective_from: 2020-01-01\nsegments: {}\nindicators:\n  a: {kind: result}\n"
    r = c.post("/v1/kpi/evaluate", json={"plan_yaml": bad_yaml, "period": period}, headers=service.h("admin"))
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "plan_yaml" and "indicators" in r.text
    r = c.post("/v1/kpi/evaluate", json={"plan_yaml": bad_yaml, "period": period}, headers=service.h("manager_a"))
    assert r.status_code == 403
