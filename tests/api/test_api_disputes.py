"""Disputes over HTTP: open on a statement line, resolve (accept -> a pay adjustment, or reject), scope, audit;
and `POST /v1/kpi/diff`, two periods compared line by line."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from perfml.store.tables import pay_adjustments


def _period(service) -> str:
    return str(service.ctx.data.dataset().date_range()[1])[:7]


def _statement(service, who: str, employee_id: str, period: str) -> dict:
    r = service.client.post(
        "/v1/kpi/evaluate", json={"period": period, "employee_id": employee_id}, headers=service.h(who)
    )
    assert r.status_code == 200, r.text[:300]
    return r.json()["results"][0]


def _open(service, who: str = "employee_a", **body):
    return service.client.post("/v1/disputes", json=body, headers=service.h(who))


def _adjustments(service) -> list[dict]:
    with service.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(pay_adjustments).order_by(pay_adjustments.c.id))]


def _audit(service, dispute_id: int) -> list[dict]:
    r = service.client.get(f"/v1/audit?target=dispute:{dispute_id}", headers=service.h("admin"))
    assert r.status_code == 200, r.text[:300]
    return r.json()["items"]


@pytest.mark.writes
def test_open_then_accept_pays_the_exact_amount_once(service):
    c, period, rep = service.client, _period(service), service.employee_a
    line = _statement(service, "employee_a", rep, period)["lines"][0]
    opened = _open(service, period=period, line=line["name"], message="Order O-17 is missing from my revenue.")
    assert opened.status_code == 201, opened.text[:300]
    d = opened.json()
    assert (d["status"], d["employee_id"], d["period"], d["line"]) == ("open", rep, period, line["name"])
    assert (d["rule"], d["line_value"], d["plan_id"]) == (line["rule"], line["value"], "sales-default")
    assert d["team_id"] == service.team_a and d["opened_by"].endswith(f"employee:{rep}")
    assert _adjustments(service) == []
    # the same line cannot be disputed twice while a dispute is open
    again = _open(service, period=period, line=line["name"], message="again")
    assert again.status_code == 409 and f"dispute {d['id']}" in again.json()["detail"]

    body = {"decision": "accept", "amount": "-1234.50", "reason": "O-17 was credited twice."}
    r = c.post(f"/v1/disputes/{d['id']}/resolve", json=body, headers=service.h("manager_a"))
    assert r.status_code == 200, r.text[:300]
    done = r.json()
    assert (done["status"], done["amount"], done["pay_period"], done["reason"]) == (
        "accepted",
        "-1234.50",
        period,
        "O-17 was credited twice.",
    )
    assert done["resolved_by"].endswith(f"manager:{service.team_a}") and done["resolved_at"]
    [adj] = _adjustments(service)
    assert adj["id"] == done["adjustment_id"]
    assert (adj["plan_id"], adj["employee_id"], adj["period"], adj["for_period"]) == (
        "sales-default",
        rep,
        period,
        period,
    )
    assert (adj["amount"], adj["source"], adj["reason"]) == (
        "-1234.50",
        f"dispute:{d['id']}",
        "O-17 was credited twice.",
    )
    assert Decimal(adj["amount"]) == Decimal("-1234.50") and adj["created_by"] == done["resolved_by"]

    # resolved once: a second resolution (either way, by anyone) is a conflict, and pays nothing more
    for who, again_body in (("manager_a", body), ("admin", {"decision": "reject", "reason": "no"})):
        r = c.post(f"/v1/disputes/{d['id']}/resolve", json=again_body, headers=service.h(who))
        assert r.status_code == 409 and "already accepted" in r.json()["detail"], r.text[:300]
    assert len(_adjustments(service)) == 1

    # every step in the audit log, with the plan version and the amounts
    entries = sorted(_audit(service, d["id"]), key=lambda e: e["id"])
    assert [e["action"] for e in entries] == ["dispute.open", "dispute.resolve"]
    assert entries[0]["principal"] == d["opened_by"] and entries[0]["details"]["line"] == line["name"]
    assert entries[1]["details"]["amount"] == "-1234.50" and entries[1]["details"]["adjustment_id"] == adj["id"]
    assert entries[1]["model_or_plan_version"].startswith("sales-default v")

    # the statement's explanation lists the dispute with its resolution
    explained = _statement(service, "employee_a", rep, period)
    [listed] = explained["disputes"]
    assert (listed["id"], listed["status"], listed["amount"], listed["reason"]) == (
        d["id"],
        "accepted",
        "-1234.50",
        "O-17 was credited twice.",
    )
    # a later pay period is allowed, an earlier one is not
    line2 = _statement(service, "employee_a", rep, period)["lines"][1]
    second = _open(service, period=period, line=line2["name"], message="second").json()
    early = {"decision": "accept", "amount": "10", "reason": "r", "pay_period": "2001-01"}
    r = c.post(f"/v1/disputes/{second['id']}/resolve", json=early, headers=service.h("admin"))
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "pay_period"


@pytest.mark.writes
def test_reject_needs_a_reason_and_pays_nothing(service):
    c, period = service.client, _period(service)
    line = _statement(service, "employee_a", service.employee_a, period)["lines"][0]
    d = _open(service, period=period, line=line["name"], message="too low").json()
    url, h = f"/v1/disputes/{d['id']}/resolve", service.h("admin")
    for reason in ("", "   "):
        r = c.post(url, json={"decision": "reject", "reason": reason}, headers=h)
        assert r.status_code == 422 and r.json()["errors"][0]["path"] == "reason", r.text[:300]
    r = c.post(url, json={"decision": "reject"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "reason"
    r = c.post(url, json={"decision": "reject", "reason": "fine", "amount": "5"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "amount"
    r = c.post(url, json={"decision": "reject", "reason": "The order closed in the next month."}, headers=h)
    assert r.status_code == 200, r.text[:300]
    assert (r.json()["status"], r.json()["amount"], r.json()["adjustment_id"]) == ("rejected", None, None)
    assert _adjustments(service) == []
    assert [e["action"] for e in _audit(service, d["id"])] == ["dispute.resolve", "dispute.open"]  # newest first
    assert c.get(f"/v1/disputes/{d['id']}", headers=service.h("employee_a")).json()["reason"] == (
        "The order closed in the next month."
    )


@pytest.mark.writes
@pytest.mark.parametrize(
    ("amount", "why"),
    [
        ("1.005", "more than 2 decimal places"),
        ("1e10", "beyond"),
        ("-1000000000.01", "beyond"),
        ("NaN", "not a finite number"),
        ("Infinity", "not a finite number"),
        ("12,5", "not a decimal number"),
        ("0.00", "non-zero"),
        (None, "required"),
    ],
)
def test_an_invalid_amount_is_refused_naming_the_field(service, amount, why):
    period = _period(service)
    line = _statement(service, "employee_a", service.employee_a, period)["lines"][0]
    d = _open(service, period=period, line=line["name"], message="m").json()
    body = {"decision": "accept", "reason": "r", **({"amount": amount} if amount is not None else {})}
    r = service.client.post(f"/v1/disputes/{d['id']}/resolve", json=body, headers=service.h("admin"))
    assert r.status_code == 422, r.text[:300]
    assert r.headers["content-type"].startswith("application/problem+json")
    err = r.json()["errors"][0]
    assert err["path"] == "amount" and why in err["msg"]
    assert service.client.get(f"/v1/disputes/{d['id']}", headers=service.h("admin")).json()["status"] == "open"
    assert _adjustments(service) == []


@pytest.mark.writes
def test_an_invalid_dispute_is_refused_naming_the_field(service):
    period, rep = _period(service), service.employee_a
    line = _statement(service, "employee_a", rep, period)["lines"][0]["name"]
    cases = [
        ({"period": period, "line": line, "message": ""}, "message"),
        ({"period": period, "line": line, "message": "  \n "}, "message"),
        ({"period": period, "line": line, "message": "a\x00b"}, "message"),
        ({"period": period, "line": line, "message": "x" * 2001}, "message"),
        ({"period": period, "line": "bonus_of_my_dreams", "message": "m"}, "line"),
        ({"period": "2024-13", "line": line, "message": "m"}, "period"),
        ({"period": "1999-01", "line": line, "message": "m"}, "period"),
    ]
    for body, field in cases:
        r = _open(service, **body)
        assert r.status_code == 422, (body, r.text[:300])
        assert r.json()["errors"][0]["path"] == field, (body, r.json())
    r = _open(service, period=period, line="bonus_of_my_dreams", message="m")
    assert line in r.json()["errors"][0]["msg"]  # the statement's lines are named
    r = _open(service, "manager_a", period=period, line=line, message="m")  # a manager names the employee
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "employee_id"
    assert service.client.get("/v1/disputes", headers=service.h("admin")).json()["total"] == 0


@pytest.mark.writes
def test_scope_employee_own_manager_team_hr_all(service):
    c, period = service.client, _period(service)
    rep_a, rep_b = service.employee_a, service.employee_b
    line = _statement(service, "employee_a", rep_a, period)["lines"][0]["name"]
    d = _open(service, period=period, line=line, message="mine").json()
    # another employee can neither see it nor dispute that statement
    assert c.get(f"/v1/disputes/{d['id']}", headers=service.h("employee_b")).status_code == 404
    assert c.get("/v1/disputes", headers=service.h("employee_b")).json()["total"] == 0
    assert c.get(f"/v1/disputes?employee_id={rep_a}", headers=service.h("employee_b")).json()["total"] == 0
    r = _open(service, "employee_b", employee_id=rep_a, period=period, line=line, message="theirs")
    assert r.status_code == 404
    # an employee cannot resolve, not even their own
    body = {"decision": "accept", "amount": "100.00", "reason": "r"}
    assert c.post(f"/v1/disputes/{d['id']}/resolve", json=body, headers=service.h("employee_a")).status_code == 403
    # a manager of another team neither sees nor resolves it
    assert c.get(f"/v1/disputes/{d['id']}", headers=service.h("manager_b")).status_code == 404
    assert c.get("/v1/disputes", headers=service.h("manager_b")).json()["total"] == 0
    assert c.post(f"/v1/disputes/{d['id']}/resolve", json=body, headers=service.h("manager_b")).status_code == 404
    assert c.get(f"/v1/disputes/{d['id']}", headers=service.h("admin")).json()["status"] == "open"
    # a manager opens on behalf of their team; HR for anyone; everyone sees their scope
    line_b = _statement(service, "employee_b", rep_b, period)["lines"][0]["name"]
    assert _open(service, "manager_a", employee_id=rep_b, period=period, line=line_b, message="m").status_code == 404
    by_b = _open(service, "admin", employee_id=rep_b, period=period, line=line_b, message="for b")
    assert by_b.status_code == 201, by_b.text[:300]
    own = c.get("/v1/disputes", headers=service.h("employee_a")).json()
    assert [x["id"] for x in own["items"]] == [d["id"]]
    assert [x["id"] for x in c.get("/v1/disputes", headers=service.h("manager_a")).json()["items"]] == [d["id"]]
    everyone = c.get("/v1/disputes?status=open", headers=service.h("admin")).json()
    assert [x["id"] for x in everyone["items"]] == [by_b.json()["id"], d["id"]] and everyone["total"] == 2
    assert c.get("/v1/disputes", headers=service.h("system")).status_code == 403


def test_diff_of_two_periods_over_http(service):
    c, period = service.client, _period(service)
    year, month = map(int, period.split("-"))
    against = f"{year - (month == 1)}-{(month - 2) % 12 + 1:02d}"
    rep = service.employee_a
    body = {"period": period, "against": against, "employee_id": rep}
    r = c.post("/v1/kpi/diff", json=body, headers=service.h("manager_a"))
    assert r.status_code == 200, r.text[:300]
    d = r.json()
    now, before = (_statement(service, "admin", rep, p) for p in (period, against))
    old = {ln["name"]: Decimal(ln["value"]) for ln in before["lines"]}
    new = {ln["name"]: Decimal(ln["value"]) for ln in now["lines"]}
    # every line whose value moved is listed with its exact Δ, and only those
    moved = {
        n: new.get(n, Decimal(0)) - old.get(n, Decimal(0)) for n in old.keys() | new.keys() if old.get(n) != new.get(n)
    }
    assert moved and {ln["line"]: Decimal(ln["delta"]) for ln in d["lines"]} == moved
    assert all(
        ln["employee_id"] == rep and (ln["period"], ln["before_period"]) == (period, against) for ln in d["lines"]
    )
    assert Decimal(d["total_delta"]) == Decimal(now["total"]) - Decimal(before["total"])
    assert d["text"].startswith(f"{period} against {against}")
    # scoped like evaluate: another team's employee answers 404; an unknown plan 404
    assert c.post("/v1/kpi/diff", json=body, headers=service.h("manager_b")).status_code == 404
    assert c.post("/v1/kpi/diff", json={**body, "plan": "nope"}, headers=service.h("admin")).status_code == 404
    r = c.post("/v1/kpi/diff", json={**body, "against": "2024-13"}, headers=service.h("admin"))
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "against"
