"""The audit log: every prediction, review, key creation, plan evaluation and model change is recorded
(who, when, what, version, request id); hr_admin reads it; retention purges old entries."""

from __future__ import annotations

from datetime import timedelta

import pytest


@pytest.mark.writes
def test_actions_are_audited_with_who_what_version_and_request_id(service):
    from perfml.keys import create_key

    c, admin = service.client, service.h("admin")
    create_key(role="employee", employee_id=service.employee_a, created_by="tests", engine=service.engine)
    rid = {"X-Request-ID": "audit-score-1"}
    r = c.post(
        "/v1/scores/decline/by-id", json={"ids": [service.employee_a]}, headers={**service.h("manager_a"), **rid}
    )
    assert r.status_code == 200
    entries = c.get("/v1/audit?limit=200", headers=admin).json()["items"]
    actions = {e["action"] for e in entries}
    assert {"score", "key.create", "alerts.refresh"} <= actions
    score = next(e for e in entries if e["request_id"] == "audit-score-1")
    assert score["principal"] == f"key:{_key_id(service, 'manager_a')}/manager:{service.team_a}"
    assert score["target"] == "decline" and score["model_or_plan_version"] == r.json()["version"]
    assert score["details"]["ids"] == [service.employee_a] and score["at"].endswith("Z")
    key = next(e for e in entries if e["action"] == "key.create" and e["principal"] == "tests")
    assert key["details"]["role"] == "employee" and "pfm_" not in str(key)
    # filters
    only = c.get("/v1/audit?action=score&who=" + score["principal"], headers=admin).json()
    assert only["total"] >= 1 and all(e["action"] == "score" for e in only["items"])


def _key_id(service, who: str) -> int:
    from perfml.keys import verify_key

    return verify_key(service.keys[who], service.ctx.engine).key_id


def test_retention_purges_old_entries(home):
    from perfml import audit_log
    from perfml.store import utcnow

    now = utcnow()
    audit_log.write_many(
        home.engine,
        [
            audit_log.entry(principal="p", action="score", at=now - timedelta(days=200)),
            audit_log.entry(principal="p", action="score", at=now - timedelta(days=10)),
        ],
    )
    assert audit_log.read(home.engine).total == 2
    assert audit_log.purge(home.engine, retention_days=180) == 1
    page = audit_log.read(home.engine)
    assert page.total == 1 and page.items[0]["at"] > now - timedelta(days=11)
    buf = audit_log.AuditBuffer(home.engine, interval=0.05).start()
    for i in range(30):
        buf.record(principal="p", action="score", target=str(i), details={"ids": list(range(500))})
    buf.close()
    page = audit_log.read(home.engine, target="7")
    assert page.total == 1 and len(page.items[0]["details"]["ids"]) == audit_log.DETAILS_MAX_ITEMS
    assert page.items[0]["details"]["ids_count"] == 500
    assert audit_log.read(home.engine, action="score", limit=5).total == 31
