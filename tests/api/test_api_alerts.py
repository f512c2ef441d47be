"""Alerts over HTTP: filters and pages, detail with explanation and trajectory, review, idempotent refresh,
and the loop the issue asks for: review -> transfer label -> the next training picks it up."""

from __future__ import annotations

import pandas as pd
import pytest


def _types(service):
    import sqlalchemy as sa

    from perfml.store import alerts

    with service.ctx.engine.connect() as conn:
        return conn.execute(sa.select(alerts.c.type).distinct()).all()


def test_list_filters_and_pages(service):
    c, h = service.client, service.h("admin")
    everything = c.get("/v1/alerts?limit=200", headers=h).json()
    assert everything["total"] > 0
    types = {r[0] for r in _types(service)}
    assert "low_performer" in types and types & {"decline", "transfer_anomaly"}
    page1 = c.get("/v1/alerts?limit=2", headers=h).json()
    page2 = c.get(f"/v1/alerts?limit=2&offset={page1['next_offset']}", headers=h).json()
    assert page1["next_offset"] == 2 and len(page1["items"]) == 2 and page1["total"] == everything["total"]
    assert not {i["id"] for i in page1["items"]} & {i["id"] for i in page2["items"]}
    kind = _model_alert(service)["type"]
    declines = c.get(f"/v1/alerts?type={kind}&limit=200", headers=h).json()
    assert declines["total"] > 0 and {i["type"] for i in declines["items"]} == {kind}
    as_of = pd.Timestamp(declines["items"][0]["as_of"]).date()
    same_day = c.get(
        f"/v1/alerts?type={kind}&since={as_of}&until={as_of + pd.Timedelta(days=1)}&limit=200", headers=h
    ).json()
    assert same_day["total"] >= 1 and all(i["as_of"].startswith(str(as_of)) for i in same_day["items"])
    later = c.get(f"/v1/alerts?type={kind}&since={as_of + pd.Timedelta(days=1)}", headers=h).json()
    assert later["total"] < declines["total"]
    team = c.get(f"/v1/alerts?team_id={service.team_b}&limit=200", headers=h).json()
    assert team["items"] and {i["team_id"] for i in team["items"]} == {service.team_b}
    assert c.get("/v1/alerts?type=bogus", headers=h).status_code == 422
    assert c.get("/v1/alerts?status=open&min_score=0.5", headers=h).status_code == 200


def _model_alert(service, who: str = "admin") -> dict:
    """A model alert the caller can see (a decline alert if there is one)."""
    for kind in ("decline", "transfer_anomaly"):
        items = service.client.get(f"/v1/alerts?type={kind}&limit=1", headers=service.h(who)).json()["items"]
        if items:
            return items[0]
    raise AssertionError("no model alerts")


def test_detail_has_explanation_and_trajectory(service):
    c, h = service.client, service.h("admin")
    item = _model_alert(service)
    detail = c.get(f"/v1/alerts/{item['id']}", headers=h).json()
    ex = detail["explanation"]
    assert ex["kind"] == "model" and ex["model"] == item["model_name"] and ex["version"] == detail["model_version"]
    total = ex["base_value"] + sum(f["contribution"] for f in ex["factors"]) + ex["other_contribution"]
    assert total == pytest.approx(ex["raw_score"], abs=1e-6)
    assert all(f["reason"] and f["display_name"] for f in ex["factors"])
    assert detail["trajectory"] and len(detail["trajectory"]) <= 6
    assert detail["trajectory"][-1]["period"] <= str(detail["as_of"])[:7]  # the months up to the alert
    assert {"revenue", "visits", "attainment"} <= set(detail["trajectory"][0])
    rule = c.get("/v1/alerts?type=low_performer&limit=1", headers=service.h("admin")).json()["items"][0]
    detail = c.get(f"/v1/alerts/{rule['id']}", headers=service.h("admin")).json()
    assert detail["explanation"]["kind"] == "rule" and detail["explanation"]["evidence"]
    assert detail["explanation"]["suggested_action"]


@pytest.mark.writes
def test_review_records_decision_note_and_audit(service):
    c = service.client
    item = c.get("/v1/alerts?type=low_performer&status=open&limit=1", headers=service.h("manager_a")).json()["items"][0]
    r = c.post(
        f"/v1/alerts/{item['id']}/review",
        json={"decision": "dismiss", "note": "on leave that month"},
        headers=service.h("manager_a"),
    )
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "dismissed" and body["reviews"][-1]["note"] == "on leave that month"
    assert body["reviews"][-1]["reviewer"].startswith("key:")
    bad = c.post(f"/v1/alerts/{item['id']}/review", json={"decision": "maybe"}, headers=service.h("manager_a"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "decision"
    audit = c.get(f"/v1/audit?action=alert.review&target=alert:{item['id']}", headers=service.h("admin")).json()
    assert audit["total"] >= 1 and audit["items"][0]["details"]["decision"] == "dismiss"
    assert (
        c.post("/v1/alerts/999999999/review", json={"decision": "confirm"}, headers=service.h("admin")).status_code
        == 404
    )


@pytest.mark.writes
def test_refresh_is_idempotent_and_keeps_reviews(service):
    c, h = service.client, service.h("system")
    # a dismissed alert of this test's own, for the refresh to keep
    item = c.get("/v1/alerts?type=low_performer&status=open&limit=1", headers=service.h("admin")).json()["items"][0]
    dismissed = c.post(f"/v1/alerts/{item['id']}/review", json={"decision": "dismiss"}, headers=service.h("admin"))
    assert dismissed.status_code == 200
    before = c.get("/v1/alerts?limit=1", headers=service.h("admin")).json()["total"]
    reviewed = c.get("/v1/alerts?status=dismissed&limit=1", headers=service.h("admin")).json()
    r = c.post("/v1/alerts/refresh", json={}, headers=h)
    assert r.status_code == 200, r.text[:300]
    summary = r.json()
    assert set(summary["models"]) == {"transfer-anomaly", "decline"} and not summary["skipped"]
    assert c.get("/v1/alerts?limit=1", headers=service.h("admin")).json()["total"] == before
    if reviewed["items"]:
        again = c.get(f"/v1/alerts/{reviewed['items'][0]['id']}", headers=service.h("admin")).json()
        assert again["status"] == "dismissed"
    assert c.post("/v1/alerts/refresh", json={"plan": "nope"}, headers=h).status_code == 404


@pytest.mark.writes
def test_review_becomes_label_and_next_training_picks_it_up(service):
    """Confirm / dismiss transfer alerts -> transfer_labels rows -> the retrained model's labels include them."""
    from perfml.pipelines import get_pipeline
    from perfml.pipelines.run import train_pipeline
    from perfml.store import read_dataset

    c = service.client
    # Make sure there are transfer alerts to review: refresh with an explicit, lower threshold.
    r = c.post("/v1/alerts/refresh", json={"thresholds": {"transfer-anomaly": 0.5}}, headers=service.h("admin"))
    assert r.status_code == 200 and r.json()["alerts"]["transfer_anomaly"] > 0
    items = c.get("/v1/alerts?type=transfer_anomaly&status=open&limit=200", headers=service.h("admin")).json()["items"]
    ds0 = read_dataset(service.ctx.engine)
    spec = get_pipeline("transfer-anomaly")
    features = service.ctx.data.features(spec)
    labels0 = spec.build_labels(ds0, features)
    unlabelled = set(features.loc[labels0.isna(), "change_id"].astype(str))
    # the most recent unlabelled changes: they fall on the test side of the time split
    picks = [i for i in items if i["change_id"] in unlabelled][:2]
    assert len(picks) == 2
    decisions = {picks[0]["change_id"]: ("confirm", 1.0), picks[1]["change_id"]: ("dismiss", 0.0)}
    for item in picks:
        decision, _ = decisions[item["change_id"]]
        r = c.post(
            f"/v1/alerts/{item['id']}/review",
            json={"decision": decision, "note": "checked the CRM"},
            headers=service.h("admin"),
        )
        assert r.status_code == 200 and r.json()["status"] == ("confirmed" if decision == "confirm" else "dismissed")

    ds1 = read_dataset(service.ctx.engine)
    stored = ds1.transfer_labels.set_index("change_id")
    for cid, (_, flag) in decisions.items():
        assert stored.loc[cid, "is_anomalous"] == flag and pd.notna(stored.loc[cid, "reviewed_at"])
    labels1 = spec.build_labels(ds1, features)
    assert int(labels1.notna().sum()) == int(labels0.notna().sum()) + 2
    result = train_pipeline("transfer-anomaly", ds1, register=False, report=False)
    test = result.test.set_index("change_id")
    for cid, (_, flag) in decisions.items():
        assert test.loc[cid, "label"] == flag  # the reviewed outcome is a label of the new training run
    assert result.metrics["n_test_labelled"] >= 2
