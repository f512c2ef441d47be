"""Who may see what: the per-role access matrix, cross-team 404s, own-results-only, no demographics."""

from __future__ import annotations

import json

import pytest

PROBLEM = "application/problem+json"
ROLES = ("admin", "system", "manager_a", "employee_a")

# (method, path, body) -> expected status per role (admin, system, manager_a, employee_a).
# {team_a}/{employee_a}/{alert_a} are filled in from the session's data.
MATRIX = [
    ("GET", "/v1/alerts", None, (200, 403, 200, 403)),
    ("GET", "/v1/alerts/{alert_a}", None, (200, 403, 200, 403)),
    ("POST", "/v1/alerts/refresh", {"plan": "no-such-plan"}, (404, 404, 403, 403)),
    ("POST", "/v1/scores/decline", {"rows": [{}]}, (200, 200, 403, 403)),
    ("POST", "/v1/scores/decline/by-id", {"ids": ["{employee_a}"]}, (200, 200, 200, 403)),
    ("POST", "/v1/ingest", {"records": {}}, (200, 200, 403, 403)),
    ("GET", "/v1/models", None, (200, 200, 403, 403)),
    ("GET", "/v1/models/decline", None, (200, 200, 403, 403)),
    ("POST", "/v1/models/reload", None, (200, 403, 403, 403)),
    ("GET", "/v1/audit", None, (200, 403, 403, 403)),
    ("GET", "/v1/kpi/plans", None, (200, 200, 200, 200)),
    ("POST", "/v1/kpi/evaluate", {"period": "{period}", "employee_id": "{employee_a}"}, (200, 403, 200, 200)),
    (
        "POST",
        "/v1/kpi/what-if",
        {"period": "{period}", "employee_id": "{employee_a}", "overrides": {"revenue": 1000}},
        (200, 403, 200, 200),
    ),
    ("GET", "/v1/employees", None, (200, 403, 200, 200)),
    ("GET", "/v1/employees/{employee_a}", None, (200, 403, 200, 200)),
]


@pytest.fixture(scope="module")
def names(shared_service) -> dict:
    """The session data's values for the {placeholders} of MATRIX."""
    from perfml.alerts import list_alerts

    items, _ = list_alerts(shared_service.ctx.engine, team_id=shared_service.team_a, limit=1)
    period = str(shared_service.ctx.data.dataset().date_range()[1])[:7]
    return dict(
        team_a=shared_service.team_a, employee_a=shared_service.employee_a, alert_a=items[0]["id"], period=period
    )


def _fill(names: dict, text: str) -> str:
    for k, v in names.items():
        text = text.replace("{" + k + "}", str(v))
    return text


def _request(service, names, method, path, body, who):
    path = _fill(names, path)
    payload = json.loads(_fill(names, json.dumps(body))) if body is not None else None
    return service.client.request(method, path, json=payload, headers=service.h(who))


@pytest.mark.parametrize("method,path,body,expected", MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_access_matrix(service, names, method, path, body, expected):
    for who, want in zip(ROLES, expected, strict=True):
        r = _request(service, names, method, path, body, who)
        assert r.status_code == want, (who, r.status_code, r.text[:300])
        if want >= 400:
            assert r.headers["content-type"].startswith(PROBLEM)
            assert r.json()["status"] == want and r.json()["detail"]


@pytest.mark.writes
def test_every_route_needs_a_valid_key(service):
    """No key, a malformed key, an unknown key and a revoked key all answer 401 problem+json."""
    from perfml.keys import create_key, revoke_key

    revoked = create_key(role="hr_admin", label="to revoke", engine=service.engine)
    assert service.client.get("/v1/models", headers={"Authorization": f"Bearer {revoked.key}"}).status_code == 200
    revoke_key(revoked.principal.key_id, engine=service.engine)
    headers = [
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer pfm_unknown_key_000000000000000"},
        {"Authorization": f"Bearer {revoked.key}"},
    ]
    for template, operations in service.app.openapi()["paths"].items():
        if not template.startswith("/v1/"):
            continue
        path = (
            template.replace("{alert_id}", "1")
            .replace("{model}", "decline")
            .replace("{name}", "decline")
            .replace("{employee_id}", "E0001")
        )
        for method in (m.upper() for m in operations):
            for h in headers:
                r = service.client.request(method, path, headers=h, json={})
                assert r.status_code == 401, (method, path, h, r.status_code)
                assert r.headers["content-type"].startswith(PROBLEM)
                assert r.headers.get("www-authenticate") == "Bearer"


def test_health_routes_need_no_key(service):
    assert service.client.get("/healthz").status_code == 200
    assert service.client.get("/readyz").status_code == 200
    assert service.client.get("/metrics").status_code == 200


def test_manager_sees_only_own_team_alerts(service):
    c, a, b = service.client, service.team_a, service.team_b
    mine = c.get("/v1/alerts?limit=200", headers=service.h("manager_a")).json()
    assert mine["total"] > 0 and {i["team_id"] for i in mine["items"]} == {a}
    # another team's alerts by list filter: absent, not an error
    other = c.get(f"/v1/alerts?team_id={b}", headers=service.h("manager_a"))
    assert other.status_code == 200 and other.json()["items"] == [] and other.json()["total"] == 0
    # ...while the admin sees them
    theirs = c.get(f"/v1/alerts?team_id={b}&limit=5", headers=service.h("admin")).json()
    assert theirs["total"] > 0
    # another team's alert by id: 404, exactly like a missing alert
    alert_b = theirs["items"][0]["id"]
    r = c.get(f"/v1/alerts/{alert_b}", headers=service.h("manager_a"))
    missing = c.get("/v1/alerts/999999999", headers=service.h("manager_a"))
    assert r.status_code == 404 and missing.status_code == 404
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["detail"] == f"alert {alert_b} not found"
    # and cannot review it
    r = c.post(f"/v1/alerts/{alert_b}/review", json={"decision": "dismiss"}, headers=service.h("manager_a"))
    assert r.status_code == 404
    assert c.get(f"/v1/alerts/{alert_b}", headers=service.h("manager_b")).status_code == 200


def test_manager_cannot_reach_other_teams_people(service, names):
    c = service.client
    assert c.get(f"/v1/employees/{service.employee_b}", headers=service.h("manager_a")).status_code == 404
    assert c.get(f"/v1/employees/{service.employee_a}", headers=service.h("manager_a")).status_code == 200
    listed = c.get("/v1/employees?limit=200", headers=service.h("manager_a")).json()
    assert listed["total"] > 0 and all(e["team_id"] == service.team_a for e in listed["items"])
    assert c.get(f"/v1/employees?team_id={service.team_b}", headers=service.h("manager_a")).json()["total"] == 0
    r = c.post("/v1/scores/decline/by-id", json={"ids": [service.employee_b]}, headers=service.h("manager_a"))
    assert r.status_code == 404 and service.employee_b in r.json()["detail"]
    period = names["period"]
    r = c.post(
        "/v1/kpi/evaluate", json={"period": period, "employee_id": service.employee_b}, headers=service.h("manager_a")
    )
    assert r.status_code == 404
    team_run = c.post("/v1/kpi/evaluate?limit=200", json={"period": period}, headers=service.h("manager_a")).json()
    assert team_run["total"] > 0 and {r["team_id"] for r in team_run["results"]} == {service.team_a}


def test_employee_sees_only_own_results(service, names):
    c, me, other = service.client, service.employee_a, service.employee_b
    period = names["period"]
    assert c.get(f"/v1/employees/{other}", headers=service.h("employee_a")).status_code == 404
    mine = c.get(f"/v1/employees/{me}", headers=service.h("employee_a"))
    assert mine.status_code == 200 and mine.json()["employee_id"] == me and mine.json()["trajectory"]
    assert [e["employee_id"] for e in c.get("/v1/employees", headers=service.h("employee_a")).json()["items"]] == [me]
    r = c.post("/v1/kpi/evaluate", json={"period": period, "employee_id": other}, headers=service.h("employee_a"))
    assert r.status_code == 404
    run = c.post("/v1/kpi/evaluate", json={"period": period}, headers=service.h("employee_a")).json()
    assert [x["employee_id"] for x in run["results"]] == [me]
    assert run["results"][0]["lines"] and run["results"][0]["scorecard"]  # the trace
    r = c.post(
        "/v1/kpi/what-if",
        json={"period": period, "employee_id": other, "overrides": {"revenue": 1}},
        headers=service.h("employee_a"),
    )
    assert r.status_code == 404
    for path in ("/v1/alerts", f"/v1/alerts/{names['alert_a']}"):
        assert c.get(path, headers=service.h("employee_a")).status_code == 403


def test_responses_never_carry_demographics(service, names, small_dataset):
    """No route returns the demographics table or its group columns; employee records carry no attr_* columns."""
    groups = [c for c in small_dataset.demographics.columns if c != "employee_id"]
    assert groups  # the simulator writes some
    c = service.client
    period = names["period"]
    alert = names["alert_a"]
    bodies = [
        c.get(f"/v1/employees/{service.employee_a}", headers=service.h("manager_a")).text,
        c.get("/v1/employees?limit=200", headers=service.h("admin")).text,
        c.get(f"/v1/alerts/{alert}", headers=service.h("manager_a")).text,
        c.get("/v1/alerts?limit=200", headers=service.h("manager_a")).text,
        c.post("/v1/kpi/evaluate?limit=200", json={"period": period}, headers=service.h("manager_a")).text,
        c.post("/v1/scores/decline/by-id", json={"ids": [service.employee_a]}, headers=service.h("manager_a")).text,
        c.post("/v1/scores/high-performer/by-id", json={"ids": [service.employee_a]}, headers=service.h("admin")).text,
    ]
    for text in bodies:
        assert "demographics" not in text
        for g in groups:
            assert f'"{g}"' not in text
    # HR attributes may be model inputs (high-performer factors) but employee records do not carry them
    assert '"attr_' not in bodies[0] and '"attr_' not in bodies[1]
