"""The pages under /ui/ without a browser: sign-in, cookie flags, CSRF, scoping (404 like the API), review, audit."""

from __future__ import annotations

import math
import re
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.main import create_app
from api.ui.changes import payout_changes
from api.ui.charts import sigmoid, waterfall_steps
from helpers.service import copy_store
from perfml.audit_log import read as read_audit
from perfml.config import Settings
from perfml.home import Home

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def signed_in(service, who: str) -> TestClient:
    """A fresh client (own cookie jar) signed in with the key of `who`."""
    client = TestClient(service.app, raise_server_exceptions=False)
    page = client.get("/ui/sign-in")
    token = CSRF.search(page.text).group(1)
    r = client.post(
        "/ui/sign-in", data={"csrf": token, "key": service.keys[who], "next": "/ui/"}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    return client


def csrf_of(client: TestClient, path: str) -> str:
    return CSRF.search(client.get(path).text).group(1)


def alert_ids(service, who: str, **query) -> list[tuple[int, str]]:
    """(id, team) of alerts the API lists for `who`."""
    r = service.client.get("/v1/alerts", params={"limit": 200, **query}, headers=service.h(who))
    assert r.status_code == 200
    return [(a["id"], a["team_id"]) for a in r.json()["items"]]


def test_sign_in_exchanges_the_key_for_a_strict_httponly_cookie(service):
    client = TestClient(service.app)
    page = client.get("/ui/sign-in")
    token = CSRF.search(page.text).group(1)
    r = client.post("/ui/sign-in", data={"csrf": token, "key": service.keys["manager_a"]}, follow_redirects=False)
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("perfml_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=28800" in cookie
    assert "Secure" not in cookie  # plain http here; https requests get Secure
    assert service.keys["manager_a"] not in cookie
    assert r.headers["location"] == "/ui/alerts"
    # an https request (a TLS-terminating server) gets a Secure cookie
    secure = TestClient(service.app, base_url="https://testserver")
    token = CSRF.search(secure.get("/ui/sign-in").text).group(1)
    r = secure.post("/ui/sign-in", data={"csrf": token, "key": service.keys["manager_a"]}, follow_redirects=False)
    assert "Secure" in next(
        v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("perfml_session=")
    )


def test_a_bad_key_or_a_missing_token_is_refused(service):
    client = TestClient(service.app, raise_server_exceptions=False)
    token = CSRF.search(client.get("/ui/sign-in").text).group(1)
    bad = client.post("/ui/sign-in", data={"csrf": token, "key": "pfm_nope"})
    assert bad.status_code == 401 and "not valid" in bad.text
    assert "perfml_session" not in client.cookies
    no_token = client.post("/ui/sign-in", data={"key": service.keys["admin"]})
    assert no_token.status_code == 403 and "perfml_session" not in client.cookies
    assert (
        client.get("/ui/alerts", follow_redirects=False).headers["location"].startswith("/ui/sign-in?next=/ui/alerts")
    )


def test_manager_inbox_is_their_team_and_other_teams_answer_404_like_the_api(service):
    client = signed_in(service, "manager_a")
    page = client.get("/ui/alerts?sort=score")
    assert page.status_code == 200
    teams = set(re.findall(r'data-team="([^"]*)"', page.text))
    assert teams == {service.team_a}
    assert re.search(r"(high|elevated|low) risk, 0\.\d\d", page.text)
    other = next(i for i, t in alert_ids(service, "admin") if t == service.team_b)
    assert client.get(f"/ui/alerts/{other}").status_code == 404
    assert service.client.get(f"/v1/alerts/{other}", headers=service.h("manager_a")).status_code == 404
    assert client.get("/ui/alerts/999999999").status_code == 404
    # a team filter naming another team does not widen the view
    assert set(re.findall(r'data-team="([^"]*)"', client.get(f"/ui/alerts?team={service.team_b}").text)) <= {
        service.team_a
    }
    assert client.get(f"/ui/team?team={service.team_b}").status_code == 404


def test_inbox_sorts_by_score_and_pages(service):
    client = signed_in(service, "admin")
    scores = [
        float(s) for s in re.findall(r"risk, (0\.\d\d)", client.get("/ui/alerts?sort=score&type=transfer_anomaly").text)
    ]
    assert scores and scores == sorted(scores, reverse=True)
    total = len(alert_ids(service, "admin"))
    if total > 50:
        assert "page=2" in client.get("/ui/alerts").text


@pytest.mark.writes
def test_review_needs_the_csrf_token_and_a_note_then_goes_through_the_api_path(service):
    client = signed_in(service, "manager_a")
    alert_id = next(i for i, _ in alert_ids(service, "manager_a", status="open", type="transfer_anomaly"))
    no_token = client.post(f"/ui/alerts/{alert_id}/review", data={"decision": "confirm", "note": "x"})
    assert no_token.status_code == 403
    wrong = client.post(f"/ui/alerts/{alert_id}/review", data={"decision": "confirm", "note": "x", "csrf": "forged"})
    assert wrong.status_code == 403
    token = csrf_of(client, f"/ui/alerts/{alert_id}")
    empty = client.post(f"/ui/alerts/{alert_id}/review", data={"decision": "confirm", "note": " ", "csrf": token})
    assert "note is required" in empty.text
    api = service.client.get(f"/v1/alerts/{alert_id}", headers=service.h("admin")).json()
    assert api["status"] == "open"
    done = client.post(f"/ui/alerts/{alert_id}/review", data={"decision": "confirm", "note": "seen it", "csrf": token})
    assert done.status_code == 200 and 'id="status" class="status-confirmed"' in done.text
    api = service.client.get(f"/v1/alerts/{alert_id}", headers=service.h("admin")).json()
    assert api["status"] == "confirmed" and api["reviews"][-1]["note"] == "seen it"
    # the label feeds the next training: the transfer_labels row exists in the service's snapshot
    labels = service.ctx.data.dataset().transfer_labels
    assert labels.loc[labels["change_id"] == api["change_id"], "is_anomalous"].tolist()[-1] == 1.0
    service.ctx.audit.flush()
    entries = read_audit(service.ctx.engine, target=f"alert:{alert_id}", limit=50).items
    actions = {e["action"] for e in entries}
    assert {"alert.review", "alert.view"} <= actions


def test_another_team_cannot_review_by_posting(service):
    client = signed_in(service, "manager_b")
    alert_id = next(i for i, _ in alert_ids(service, "manager_a", status="open"))
    token = csrf_of(client, "/ui/alerts")
    r = client.post(f"/ui/alerts/{alert_id}/review", data={"decision": "dismiss", "note": "n", "csrf": token})
    assert r.status_code == 404
    assert service.client.get(f"/v1/alerts/{alert_id}", headers=service.h("admin")).json()["status"] == "open"


def test_employee_sees_own_payout_and_trace_only(service):
    client = signed_in(service, "employee_a")
    own = client.get(f"/ui/payout/{service.employee_a}")
    assert own.status_code == 200 and 'id="trace"' in own.text and "Total" in own.text
    assert client.get(f"/ui/payout/{service.employee_b}").status_code == 404
    assert client.get("/ui/payout/NOBODY").status_code == 404
    assert client.get("/ui/alerts").status_code == 403
    assert client.get("/ui/models").status_code == 403


def test_language_switch_is_remembered_and_changes_the_summary(service):
    client = signed_in(service, "manager_a")
    alert_id = next(i for i, _ in alert_ids(service, "manager_a", type="transfer_anomaly"))
    en = client.get(f"/ui/alerts/{alert_id}").text
    token = CSRF.search(en).group(1)
    client.post("/ui/lang", data={"csrf": token, "lang": "zh", "next": f"/ui/alerts/{alert_id}"})
    zh = client.get(f"/ui/alerts/{alert_id}").text
    api_zh = service.client.get(f"/v1/alerts/{alert_id}?lang=zh", headers=service.h("manager_a")).json()
    assert api_zh["summary"] in zh and api_zh["summary"] not in en
    top = api_zh["explanation"]["factors"][0]["reason"].rsplit(":", 1)[0]  # the text, without the log-odds
    assert top in zh and top not in en
    inbox = client.get("/ui/alerts?type=transfer_anomaly").text  # remembered on the next page
    assert '<html lang="zh-CN">' in inbox and "主要原因" in inbox


@pytest.mark.writes
def test_the_session_lifetime_is_the_homes_setting(shared_service, tmp_path):
    url = copy_store(shared_service, tmp_path / "perfml.db")  # sign-in writes an audit entry
    home = Home.at(shared_service.home, store_url=url, session_seconds=600)
    client = TestClient(create_app(home, background=False, watch_interval=None, warm=False))
    token = CSRF.search(client.get("/ui/sign-in").text).group(1)
    r = client.post("/ui/sign-in", data={"csrf": token, "key": shared_service.keys["admin"]}, follow_redirects=False)
    assert r.status_code == 303
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("perfml_session="))
    assert "Max-Age=600" in cookie
    with pytest.raises(ValidationError, match="session_seconds"):
        Settings(session_seconds=59)


def test_sign_out_ends_the_session(service):
    client = signed_in(service, "admin")
    cookie = client.cookies.get("perfml_session")
    token = csrf_of(client, "/ui/models")
    assert client.post("/ui/sign-out", data={"csrf": token}, follow_redirects=False).status_code == 303
    stale = TestClient(service.app, raise_server_exceptions=False, cookies={"perfml_session": cookie})
    assert stale.get("/ui/alerts", follow_redirects=False).status_code == 303


def test_docs_are_served_without_a_cdn(service):
    for path in ("/docs", "/redoc"):
        html = service.client.get(path).text
        assert "cdn" not in html.lower() and "googleapis" not in html
        for asset in re.findall(r'(?:src|href)="(/docs-assets/[^"]+)"', html):
            assert service.client.get(asset).status_code == 200


def test_waterfall_steps_are_probability_points_that_add_up_to_the_score():
    factors = [{"display_name": "a", "contribution": 1.2}, {"display_name": "b", "contribution": -0.4}]
    steps = waterfall_steps(-0.5, factors, other=0.3, other_label="rest")
    assert [s.label for s in steps] == ["a", "b", "rest"]
    assert steps[0].start == pytest.approx(sigmoid(-0.5))
    assert steps[-1].end == pytest.approx(sigmoid(-0.5 + 1.2 - 0.4 + 0.3))
    assert sum(s.points for s in steps) == pytest.approx(100 * (sigmoid(0.6) - sigmoid(-0.5)))
    assert steps[0].points == pytest.approx(100 * (sigmoid(0.7) - sigmoid(-0.5)))
    assert math.isclose(steps[1].points, 100 * (sigmoid(0.3) - sigmoid(0.7)))


def test_payout_changes_name_the_line_the_rule_and_the_inputs():
    before = {
        "scorecard": None,
        "lines": [
            {
                "name": "commission",
                "rule": "commission.tiered",
                "value": "1000.00",
                "formula": "f",
                "inputs": [{"name": "revenue", "value": "20000"}, {"name": "rate", "value": "0.05"}],
            },
            {"name": "base_bonus", "rule": "base", "value": "500.00", "formula": "b", "inputs": []},
        ],
    }
    after = {
        "scorecard": None,
        "lines": [
            {
                "name": "commission",
                "rule": "commission.tiered",
                "value": "1500.00",
                "formula": "f",
                "inputs": [{"name": "revenue", "value": "30000"}, {"name": "rate", "value": "0.05"}],
            },
            {"name": "base_bonus", "rule": "base", "value": "500.00", "formula": "b", "inputs": []},
        ],
    }
    changes = payout_changes(before, after)
    assert len(changes) == 1
    c = changes[0]
    assert (c["name"], c["rule"], c["delta"]) == ("commission", "commission.tiered", Decimal("500.00"))
    assert c["inputs"] == [{"name": "revenue", "before": "20000", "after": "30000"}]
    assert payout_changes(None, after) == []
