"""Alerts service: idempotent refresh (rule alerts; missing models skipped), review -> transfer label,
listing with team scope and pages. Model-driven alerts through HTTP are in tests/api/."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from perfml import alerts
from perfml.errors import PerfmlError
from perfml.services.alerts import refresh_alerts
from perfml.store import alert_reviews, audit_log, import_dataset, read_table, upsert_alert


@pytest.fixture
def store(home, small_dataset):
    from perfml.modeling import registry

    registry.clear_cache()
    import_dataset(small_dataset, home.engine)
    return home.engine


def _transfer_alerts(engine, ds, n: int = 3) -> list[int]:
    changes = ds.ownership_changes.dropna(subset=["from_employee_id"]).tail(n)
    teams = ds.employees.set_index("employee_id")["team_id"]
    ids = []
    with engine.begin() as conn:
        for ch in changes.itertuples():
            ids.append(
                upsert_alert(
                    conn,
                    type="transfer_anomaly",
                    change_id=ch.change_id,
                    employee_id=ch.to_employee_id,
                    team_id=teams[ch.to_employee_id],
                    as_of=ch.changed_at.to_pydatetime(),
                    score=0.97,
                    model_name="transfer-anomaly",
                    model_version="1",
                    explanation={"kind": "model", "factors": []},
                )
            )
    return ids


def test_refresh_is_idempotent_and_skips_missing_models(store, home, small_dataset):
    first = refresh_alerts(home=home, dataset=small_dataset)
    assert {s.split(":")[0] for s in first.skipped} == {"transfer-anomaly", "decline"}  # no trained models here
    assert first.alerts["low_performer"] > 0 and first.alerts["review_list"] > 0
    _, total = alerts.list_alerts(store)
    assert total == sum(first.alerts.values())
    item = alerts.list_alerts(store, type="low_performer", limit=1)[0][0]
    alerts.review_alert(store, item["id"], decision="dismiss", note="seasonal", reviewer="key:1/hr_admin")
    second = refresh_alerts(home=home, dataset=small_dataset)
    assert second.alerts == first.alerts
    assert alerts.list_alerts(store)[1] == total  # no duplicates
    assert alerts.get_alert(store, item["id"])["status"] == "dismissed"  # a refresh keeps the review
    detail = alerts.get_alert(store, item["id"])
    assert detail["explanation"]["kind"] == "rule" and detail["explanation"]["suggested_action"]
    with store.connect() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(audit_log).where(audit_log.c.action == "alerts.refresh")
            ).scalar_one()
            == 2
        )


def test_review_of_a_transfer_alert_writes_a_label(store, small_dataset):
    a, b, c = _transfer_alerts(store, small_dataset)
    confirmed = alerts.review_alert(
        store, a, decision="confirm", note="ripe deal handed over", reviewer="key:2/manager:T01"
    )
    dismissed = alerts.review_alert(
        store, b, decision="dismiss", note="client asked", reviewer="key:2/manager:T01", request_id="r-1"
    )
    assert confirmed["status"] == "confirmed" and dismissed["status"] == "dismissed"
    assert confirmed["reviews"][-1]["note"] == "ripe deal handed over"
    labels = read_table("transfer_labels", store).set_index("change_id")
    assert labels.loc[confirmed["change_id"], "is_anomalous"] == 1
    assert labels.loc[dismissed["change_id"], "is_anomalous"] == 0
    assert pd.notna(labels.loc[dismissed["change_id"], "reviewed_at"])
    # a second decision replaces the label (upsert by change_id), the history stays in alert_reviews
    alerts.review_alert(store, a, decision="dismiss", note="second look", reviewer="key:1/hr_admin")
    labels = read_table("transfer_labels", store).set_index("change_id")
    assert labels.loc[confirmed["change_id"], "is_anomalous"] == 0
    with store.connect() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(alert_reviews).where(alert_reviews.c.alert_id == a)
            ).scalar_one()
            == 2
        )
        entry = conn.execute(sa.select(audit_log).where(audit_log.c.request_id == "r-1")).one()._mapping
    assert entry["action"] == "alert.review" and entry["details"]["transfer_label"] == 0
    assert entry["principal"] == "key:2/manager:T01" and entry["model_or_plan_version"] == "1"
    # non-transfer alerts write no label
    labels_before = len(read_table("transfer_labels", store))
    with store.begin() as conn:
        other = upsert_alert(conn, type="decline", employee_id="E0001", team_id="T01", period="2026-01", score=0.7)
    alerts.review_alert(store, other, decision="confirm", note=None, reviewer="x")
    assert len(read_table("transfer_labels", store)) == labels_before
    with pytest.raises(alerts.AlertNotFound):
        alerts.review_alert(store, 10**9, decision="confirm", note=None, reviewer="x")
    with pytest.raises(PerfmlError, match="decision must be"):
        alerts.review_alert(store, c, decision="escalate", note=None, reviewer="x")


def test_listing_scope_filters_and_pages(store, small_dataset):
    ids = _transfer_alerts(store, small_dataset, n=6)
    all_items, total = alerts.list_alerts(store, type="transfer_anomaly")
    assert total == 6 and {i["id"] for i in all_items} == set(ids)
    assert "explanation" not in all_items[0]
    team = all_items[0]["team_id"]
    scoped, n = alerts.list_alerts(store, scope_team=team)
    assert n == sum(1 for i in all_items if i["team_id"] == team) and {i["team_id"] for i in scoped} == {team}
    other = next(t for t in small_dataset.employees["team_id"].unique() if t != team)
    assert alerts.list_alerts(store, scope_team=team, team_id=other) == ([], 0)
    page1, _ = alerts.list_alerts(store, limit=4)
    page2, _ = alerts.list_alerts(store, limit=4, offset=4)
    assert len(page1) == 4 and len(page2) == 2 and not {i["id"] for i in page1} & {i["id"] for i in page2}
    dates = [i["as_of"] for i in page1 + page2]
    assert dates == sorted(dates, reverse=True)
    scores = alerts.transfer_scores(store)
    assert len(scores) == 6 and np.allclose(scores["score"], 0.97)
    assert alerts.summary_line(all_items[0]).startswith(f"change {all_items[0]['change_id']}")
