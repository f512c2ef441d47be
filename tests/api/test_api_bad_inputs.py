"""Inputs that used to answer 500 answer problem+json 4xx; scoped counts; refresh defaults; zh summaries."""

from __future__ import annotations

import pytest

PROBLEM = "application/problem+json"


def _period(service) -> str:
    return str(service.ctx.data.dataset().date_range()[1])[:7]


def _problem(r, status: int = 422) -> dict:
    assert r.status_code == status, r.text[:400]
    assert r.headers["content-type"].startswith(PROBLEM)
    return r.json()


@pytest.mark.parametrize(
    "metric, value, why",
    [
        ("revenue", 1e30, "out of range"),
        ("revenue", -1e13, "out of range"),
        ("revenue_target", 1e-300, "more than 6 decimal places"),
    ],
)
def test_what_if_values_out_of_range_are_422(service, metric, value, why):
    body = {"period": _period(service), "employee_id": service.employee_a, "overrides": {metric: value}}
    problem = _problem(service.client.post("/v1/kpi/what-if", json=body, headers=service.h("admin")))
    assert problem["errors"][0]["path"] == f"overrides.{metric}" and why in problem["errors"][0]["msg"]
    assert problem["type"].endswith("invalid-overrides")


def test_what_if_within_range_still_answers(service):
    body = {"period": _period(service), "employee_id": service.employee_a, "overrides": {"revenue": 999_999_999_999.5}}
    assert service.client.post("/v1/kpi/what-if", json=body, headers=service.h("admin")).status_code == 200


@pytest.mark.parametrize("day", ["0001-01-01", "1600-01-01", "2300-01-01"])
def test_ingest_dates_outside_what_can_be_held_are_422_and_write_nothing(service, day):
    import sqlalchemy as sa

    from perfml.store import CANONICAL

    records = {
        "customers": [
            {"customer_id": f"C-date-{day}", "created_at": "2026-04-01"},
            {"customer_id": f"C-date2-{day}", "created_at": day},
        ]
    }
    problem = _problem(service.client.post("/v1/ingest", json={"records": records}, headers=service.h("system")))
    assert problem["errors"][0]["path"].startswith("records.customers")
    assert "nothing written" in problem["detail"]
    customers = CANONICAL["customers"]
    with service.ctx.engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(customers).where(customers.c.customer_id.like("C-date%"))
            ).scalar_one()
            == 0
        )


def test_deeply_nested_plan_yaml_is_422_naming_the_plan(service):
    deep = "id: x\nversion: 1\nsegments: " + "[" * 20_000 + "]" * 20_000
    body = {"period": _period(service), "plan_yaml": deep}
    problem = _problem(service.client.post("/v1/kpi/evaluate", json=body, headers=service.h("admin")))
    assert "plan request is nested too deeply" in problem["detail"]
    assert problem["errors"][0]["path"] == "plan_yaml"


def test_deeply_nested_plan_file_is_refused_by_name(tmp_path):
    from perfml.rules import check_plan, load_plan
    from perfml.rules.loading import PlanInvalid

    plan = tmp_path / "deep.yaml"
    plan.write_text("segments:\n" + "".join("  " * i + "a:\n" for i in range(1, 5000)))
    report = check_plan(plan)
    assert not report.ok and f"plan {plan} is nested too deeply" in report.errors[0].message
    with pytest.raises(PlanInvalid, match="nested too deeply"):
        load_plan(plan)


def test_scoped_callers_count_only_the_holds_they_see(service):
    """summary.holds (and skipped) count what the caller may see, not the company."""
    from perfml.alerts import transfer_scores

    c = service.client
    scored = transfer_scores(service.ctx.engine)
    changes = service.ctx.data.dataset().ownership_changes
    held = changes[changes["change_id"].isin(scored.loc[scored["score"] >= 0.5, "change_id"])]
    periods = sorted(held["changed_at"].dt.strftime("%Y-%m").unique(), reverse=True)
    checked = 0
    for period in periods[:6]:
        company = c.post("/v1/kpi/evaluate", json={"period": period}, headers=service.h("admin")).json()
        if not company.get("holds"):
            continue
        assert company["summary"]["holds"] == len(company["holds"])
        for who in ("manager_a", "manager_b", "employee_a"):
            run = c.post("/v1/kpi/evaluate", json={"period": period}, headers=service.h(who)).json()
            assert run["summary"]["holds"] == len(run["holds"]) <= len(company["holds"])
            assert run["summary"]["skipped"] == len(run["skipped"])
            checked += run["summary"]["holds"] < company["summary"]["holds"]
        if checked:
            break
    assert checked, "no period where a scoped caller sees fewer holds than the company"


@pytest.mark.writes
def test_refresh_without_a_body_uses_the_defaults(service):
    c, h = service.client, service.h("system")
    r = c.post("/v1/alerts/refresh", headers=h)
    assert r.status_code == 200, r.text[:300]
    default = c.post("/v1/alerts/refresh", json={}, headers=h)
    assert default.status_code == 200
    assert r.json()["as_of"] == default.json()["as_of"] and r.json()["alerts"] == default.json()["alerts"]
    assert r.json()["plan"]["id"] == "sales-default"
    assert c.post("/v1/alerts/refresh", json={"plan": "nope"}, headers=h).status_code == 404  # a body still counts


def test_alert_summary_in_the_requested_language(service):
    c, h = service.client, service.h("admin")
    for kind, en_word, zh_word in (
        ("transfer_anomaly", "anomaly score", "异常分"),
        ("decline", "decline risk", "业绩下滑风险"),
    ):
        en = c.get(f"/v1/alerts?type={kind}&limit=3", headers=h).json()["items"]
        zh = c.get(f"/v1/alerts?type={kind}&limit=3&lang=zh", headers=h).json()["items"]
        assert en and [a["id"] for a in en] == [a["id"] for a in zh]
        for a, b in zip(en, zh, strict=True):
            assert en_word in a["summary"] and zh_word in b["summary"] and en_word not in b["summary"]
            assert f"{a['score']:.2f}" in b["summary"] and a["employee_id"] in b["summary"]
        detail = c.get(f"/v1/alerts/{zh[0]['id']}?lang=zh", headers=h).json()
        assert detail["summary"] == zh[0]["summary"]
