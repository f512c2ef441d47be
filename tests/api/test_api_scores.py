"""Explained scores over HTTP: additivity, agreement with in-process TreeSHAP, Chinese reasons, limits, errors."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

CJK = re.compile(r"[\u4e00-\u9fff]")
# On the small simulated company the high-performer model's one-cohort test side (13 employees, 3 positives)
# is too thin to earn champion: that pipeline answers with its baseline rule (tested below).
MODELS = ("transfer-anomaly", "decline")


def _additive(result: dict) -> None:
    total = result["base_value"] + sum(f["contribution"] for f in result["factors"]) + result["other_contribution"]
    assert total == pytest.approx(result["raw_score"], abs=1e-6)
    assert result["score"] == pytest.approx(1 / (1 + math.exp(-result["raw_score"])), abs=1e-9)
    contributions = [abs(f["contribution"]) for f in result["factors"]]
    assert contributions == sorted(contributions, reverse=True)


def _feature_rows(service, model: str, n: int) -> tuple[list[dict], np.ndarray]:
    from perfml.pipelines import get_pipeline

    served = service.ctx.models.get(model)
    frame = service.ctx.data.features(get_pipeline(model)).head(n)
    X = served.model.matrix(frame)
    rows = [{f: (None if np.isnan(v) else float(v)) for f, v in zip(served.features, row, strict=True)} for row in X]
    return rows, X


@pytest.mark.parametrize("model", MODELS)
def test_additivity_and_agreement_through_http(service, model):
    """base_value + contributions == raw score through the HTTP layer, equal to in-process TreeSHAP."""
    from perfml import catalog
    from perfml.explain import explain

    rows, X = _feature_rows(service, model, 25)
    served = service.ctx.models.get(model)
    ex = explain(served.model, X)
    for top_k in (3, 100):
        r = service.client.post(f"/v1/scores/{model}?top_k={top_k}", json={"rows": rows}, headers=service.h("system"))
        assert r.status_code == 200, r.text[:300]
        body = r.json()
        assert body["model"] == model and body["version"] == served.version and body["top_k"] == top_k
        assert len(body["results"]) == len(rows)
        for i, res in enumerate(body["results"]):
            _additive(res)
            assert res["raw_score"] == pytest.approx(float(ex.raw_score[i]), abs=1e-9)
            assert res["base_value"] == pytest.approx(float(ex.base_value[i]), abs=1e-9)
            assert res["alert"] == (res["score"] >= body["threshold"])
            assert len(res["factors"]) <= top_k
            if top_k == 100:  # every non-zero contribution listed: nothing left over
                assert res["other_contribution"] == pytest.approx(0.0, abs=1e-9)
                assert len(res["factors"]) == int(np.count_nonzero(ex.contributions[i]))
            for f in res["factors"]:
                j = served.features.index(f["feature"])
                assert f["contribution"] == pytest.approx(float(ex.contributions[i, j]), abs=1e-9)
                assert f["direction"] == ("up" if f["contribution"] > 0 else "down")
                assert f["reason"] == catalog.get(f["feature"]).reason(f["value"], f["contribution"])


@pytest.mark.parametrize("model", MODELS)
def test_by_id_scores_are_explained(service, model):
    from perfml.pipelines import get_pipeline

    spec = get_pipeline(model)
    frame = service.ctx.data.features(spec)
    ids = frame[spec.key[0]].astype(str).drop_duplicates().head(3).tolist()[::-1]  # answered in the order asked
    r = service.client.post(f"/v1/scores/{model}/by-id?top_k=5", json={"ids": ids}, headers=service.h("admin"))
    assert r.status_code == 200, r.text[:300]
    results = r.json()["results"]
    assert [x["id"] for x in results] == ids
    assert r.json()["source"] == "model"
    for res in results:
        _additive(res)
        assert res["at"] and res["outcome"] == "scored" and res["source"] == "model"


def test_by_id_gives_one_outcome_per_id(service):
    """An id the model cannot score (an assistant, for decline) does not fail the batch: it says why."""
    from perfml.pipelines import get_pipeline

    data = service.ctx.data
    employees = data.dataset().employees
    frame = data.features(get_pipeline("decline"))
    scoreable = set(frame["employee_id"].astype(str))
    assistant = next(
        e
        for e, role in zip(employees["employee_id"].astype(str), employees["role"], strict=True)
        if role == "assistant"
        and e not in scoreable
        and pd.isna(employees.set_index("employee_id").loc[e, "termination_date"])
    )
    rep = sorted(scoreable)[0]
    r = service.client.post("/v1/scores/decline/by-id", json={"ids": [assistant, rep]}, headers=service.h("admin"))
    assert r.status_code == 200, r.text[:300]
    first, second = r.json()["results"]
    assert first["id"] == assistant and first["outcome"] == "not_scoreable" and first["score"] is None
    assert first["reason"] == f"{assistant} is an assistant; the decline model scores sales employees"
    assert first["factors"] == [] and first["state"] is None
    assert second["id"] == rep and second["outcome"] == "scored" and 0 <= second["score"] <= 1
    _additive(second)
    audit = service.client.get(f"/v1/audit?request_id={r.headers['x-request-id']}", headers=service.h("admin"))
    assert audit.json()["items"][0]["details"]["scores"][0] is None


def test_without_a_champion_the_baseline_rule_answers(service):
    """high-performer has no champion on this company: feature rows and ids are scored by its baseline rule,
    labelled `source: baseline`, with the rule's own reasons; /readyz says it runs degraded and why."""
    from perfml.pipelines import get_pipeline

    spec = get_pipeline("high-performer")
    ready = service.client.get("/readyz").json()
    assert ready["ready"] and set(ready["degraded"]) == {"high-performer"}
    assert "was not promoted: too little evidence" in ready["degraded"]["high-performer"]
    assert {m["name"]: m["source"] for m in ready["models"]}["high-performer"] == "baseline"
    frame = service.ctx.data.features(spec)
    ids = frame["employee_id"].astype(str).head(4).tolist()
    r = service.client.post("/v1/scores/high-performer/by-id?lang=zh", json={"ids": ids}, headers=service.h("admin"))
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert body["source"] == "baseline" and body["version"] is None and body["kind"] == "baseline"
    expected = np.clip(spec.baseline(frame), 0, 1)[:4]
    for res, want in zip(body["results"], expected, strict=True):
        assert res["source"] == "baseline" and res["outcome"] == "scored" and res["factors"] == []
        assert res["score"] == pytest.approx(float(want)) and res["raw_score"] is None
        assert res["reasons"][0].startswith("基线规则（percentile of visits per week within the role）")
    # its rule ranks within the role, which bare feature rows do not carry: a clear 422, not a 500
    r = service.client.post(
        "/v1/scores/high-performer", json={"rows": [{"visits_per_week": 3.0}]}, headers=service.h("system")
    )
    assert r.status_code == 422 and "needs 'role' besides the features" in r.json()["detail"]
    r = service.client.post("/v1/scores/high-performer", json={"rows": [{"nope": 1}]}, headers=service.h("system"))
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "rows[0].nope"


def test_big_batches_are_chunked_with_identical_results(service):
    """Batches over the chunking size go through overlapping TreeSHAP chunks; the answer is the same."""
    from api.routes.scores import CHUNKED_ROWS
    from perfml.serving.render import explained

    served = service.ctx.models.get("decline")
    _, X = _feature_rows(service, "decline", 200)
    X = np.resize(X, (CHUNKED_ROWS + 333, X.shape[1]))
    r = service.client.post(
        "/v1/scores/decline?top_k=4&lang=zh",
        json={"columns": served.features, "data": np.where(np.isnan(X), None, X).tolist()},
        headers=service.h("system"),
    )
    assert r.status_code == 200
    expected = explained(served.explain(X), top_k=4, lang="zh", threshold=served.threshold)
    assert r.json()["results"] == expected
    assert r.json()["model"] == "decline" and r.json()["top_k"] == 4


def test_columnar_batch_equals_rows(service):
    rows, X = _feature_rows(service, "transfer-anomaly", 20)
    features = service.ctx.models.get("transfer-anomaly").features
    cols = features[::-1][:30]  # any order, any subset: the rest is missing
    data = [[r[c] for c in cols] for r in rows]
    by_rows = service.client.post(
        "/v1/scores/transfer-anomaly",
        json={"rows": [{c: r[c] for c in cols} for r in rows]},
        headers=service.h("system"),
    )
    by_cols = service.client.post(
        "/v1/scores/transfer-anomaly", json={"columns": cols, "data": data}, headers=service.h("system")
    )
    assert by_cols.status_code == 200 and by_cols.json() == by_rows.json()
    h = service.h("system")
    bad = service.client.post("/v1/scores/transfer-anomaly", json={"columns": cols, "data": [data[0][:-1]]}, headers=h)
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "data[0]"
    bad = service.client.post("/v1/scores/transfer-anomaly", json={"columns": ["nope"], "data": [[1]]}, headers=h)
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "columns[0]"
    bad = service.client.post(
        "/v1/scores/transfer-anomaly", json={"rows": rows[:1], "columns": cols, "data": data[:1]}, headers=h
    )
    assert bad.status_code == 422 and "either" in bad.json()["detail"]


def test_lang_zh_gives_chinese_reasons(service):
    from perfml import catalog

    rows, _ = _feature_rows(service, "transfer-anomaly", 3)
    en = service.client.post("/v1/scores/transfer-anomaly", json={"rows": rows}, headers=service.h("system")).json()
    zh = service.client.post(
        "/v1/scores/transfer-anomaly?lang=zh", json={"rows": rows}, headers=service.h("system")
    ).json()
    assert zh["lang"] == "zh"
    for a, b in zip(en["results"], zh["results"], strict=True):
        assert [f["feature"] for f in a["factors"]] == [f["feature"] for f in b["factors"]]
        assert a["raw_score"] == b["raw_score"]
        for f in b["factors"]:
            assert CJK.search(f["reason"]), f["reason"]
            assert f["display_name"] == catalog.get(f["feature"]).display_zh
        for f in a["factors"]:
            assert not CJK.search(f["reason"])
    # alerts too
    alerts = [
        service.client.get(f"/v1/alerts?type={t}&limit=1", headers=service.h("admin")).json()["items"]
        for t in ("decline", "transfer_anomaly")
    ]
    alert = next(a[0] for a in alerts if a)
    detail = service.client.get(f"/v1/alerts/{alert['id']}?lang=zh", headers=service.h("admin")).json()
    assert all(CJK.search(f["reason"]) for f in detail["explanation"]["factors"])
    bad = service.client.post("/v1/scores/decline?lang=fr", json={"rows": [{}]}, headers=service.h("system"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "lang"


def test_scoring_errors_are_problems_with_paths(service):
    c, h = service.client, service.h("system")
    r = c.post(
        "/v1/scores/transfer-anomaly", json={"rows": [{}, {"giver_acts_30d": 1, "no_such_feature": 2}]}, headers=h
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    err = r.json()["errors"][0]
    assert err["loc"] == ["body", "rows", 1, "no_such_feature"] and err["path"] == "rows[1].no_such_feature"
    r = c.post("/v1/scores/transfer-anomaly", json={"rows": [{"giver_acts_30d": "many"}]}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["path"].startswith("rows[0].giver_acts_30d")
    r = c.post("/v1/scores/transfer-anomaly", json={"rows": []}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "rows"
    r = c.post("/v1/scores/no-such-model", json={"rows": [{}]}, headers=h)
    assert r.status_code == 404 and "unknown model 'no-such-model'" in r.json()["detail"]
    r = c.post("/v1/scores/decline/by-id", json={"ids": ["NOPE1", "NOPE2"]}, headers=h)
    assert r.status_code == 404 and "NOPE1" in r.json()["detail"] and "NOPE2" in r.json()["detail"]
    r = c.post("/v1/scores/decline", content=b"{not json", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert "Traceback" not in r.text


def test_batch_and_body_limits(service):
    """Batches over PERFML_API_MAX_BATCH and bodies over PERFML_API_MAX_BODY_BYTES are refused, with paths."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from perfml.home import Home

    home = Home.at(service.home, api_max_batch=5, api_max_body_bytes=2048)
    app = create_app(home, model_names=["transfer-anomaly"], background=False, watch_interval=None, warm=False)
    with TestClient(app) as c:
        h = service.h("system")
        r = c.post("/v1/scores/transfer-anomaly", json={"rows": [{}] * 6}, headers=h)
        assert r.status_code == 422 and r.json()["errors"][0]["path"] == "rows" and "at most 5" in r.json()["detail"]
        assert c.post("/v1/scores/transfer-anomaly", json={"rows": [{}] * 5}, headers=h).status_code == 200
        r = c.post("/v1/scores/transfer-anomaly/by-id", json={"ids": [f"C{i}" for i in range(6)]}, headers=h)
        assert r.status_code == 422 and r.json()["errors"][0]["path"] == "ids"
        big = {"rows": [{"giver_acts_30d": 1.0, "receiver_acts_after": 2.0}] * 60}
        r = c.post("/v1/scores/transfer-anomaly", json=big, headers=h)
        assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")
        assert "2048" in r.json()["detail"]

        def chunks():  # no Content-Length: counted as it streams
            for _ in range(10):
                yield b" " * 500

        r = c.post("/v1/scores/transfer-anomaly", content=chunks(), headers={**h, "Content-Type": "application/json"})
        assert r.status_code == 413
        r = c.post(
            "/v1/ingest", json={"records": {"customers": [{"customer_id": f"X{i}"} for i in range(6)]}}, headers=h
        )
        assert r.status_code == 422 and r.json()["errors"][0]["path"] == "records"
        for path in ("/v1/alerts?limit=201", "/v1/audit?limit=0", "/v1/employees?limit=1000"):
            r = c.get(path, headers=service.h("admin"))
            assert r.status_code == 422 and r.json()["errors"][0]["path"] == "limit"


def test_request_id_round_trip_and_audit(service):
    rows, _ = _feature_rows(service, "decline", 2)
    r = service.client.post(
        "/v1/scores/decline", json={"rows": rows}, headers={**service.h("system"), "X-Request-ID": "req-abc-123"}
    )
    assert r.status_code == 200 and r.headers["x-request-id"] == "req-abc-123"
    entries = service.client.get("/v1/audit?request_id=req-abc-123", headers=service.h("admin")).json()["items"]
    assert len(entries) == 1
    e = entries[0]
    assert e["action"] == "score" and e["target"] == "decline"
    assert e["model_or_plan_version"] == r.json()["version"] and e["principal"].endswith("/hr_system")
    assert e["details"]["rows"] == 2
    generated = service.client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)


def test_as_of_outside_the_data_is_a_clear_4xx(service):
    """An as-of before the data (or in its first month) cannot be scored: 422 naming why, never a 500."""
    start, end = service.ctx.data.dataset().date_range()
    c, h = service.client, service.h("system")
    for model in ("decline", "high-performer"):
        for as_of in ("1971-01-01", str(start.date() + pd.Timedelta(days=1))):
            r = c.post(f"/v1/scores/{model}/by-id", json={"ids": [service.employee_a], "as_of": as_of}, headers=h)
            assert r.status_code == 422 and "nothing to score as of" in r.json()["detail"], r.text[:300]
    r = c.post("/v1/scores/decline/by-id", json={"ids": [service.employee_a], "as_of": "2199-01-01"}, headers=h)
    res = r.json()["results"][0]
    assert r.status_code == 200 and res["outcome"] == "not_scoreable" and res["score"] is None
    assert res["state"] == "insufficient_history"  # the export ends long before: silence is not inactivity
    assert res["reason"].startswith("nothing on record from 2198-07-01 to before 2199-01-01: the data ends on ")
    r = c.post("/v1/scores/decline/by-id", json={"ids": [service.employee_a], "as_of": "2299-01-01"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "as_of"
    r = c.post("/v1/alerts/refresh", json={"as_of": "1971-01-01"}, headers=h)
    assert r.status_code == 422 and "not after the first record" in r.json()["detail"]
    r = c.post("/v1/alerts/refresh", json={"as_of": str((end + pd.Timedelta(days=90)).date())}, headers=h)
    assert r.status_code == 422 and "after the last record" in r.json()["detail"]
