"""Health, readiness and model loading: not ready until models load; a corrupted artifact fails with a clear
message (the service keeps answering, no crash loop); reload serves the new champion; Prometheus metrics."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

NAMES = ("transfer-anomaly", "decline")


def _register(name: str, seed: int = 0, force: bool = False, settings=None) -> str:
    """A small toy booster registered under a served model name (stands in for a trained pipeline)."""
    from perfml.modeling import registry
    from perfml.modeling.model import TrainedModel
    from perfml.modeling.train import fit_lgbm

    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = (X["a"] + rng.normal(size=200) > 0).astype(float)
    model = TrainedModel(fit_lgbm(X, y, num_rounds=10), ["a", "b", "c"], threshold=0.6)
    reg = registry.log_and_register(name, model, params={}, metrics={"model_pr_auc": 0.5}, fingerprint="toy",
                                    input_example=X, test_metric="model_pr_auc", force=force,
                                    settings=settings)
    return reg.version


def _artifact(name: str, version: str) -> Path:
    from perfml.config import get_settings
    from perfml.modeling import registry

    source = registry.client().get_model_version(name, version).source  # models:/m-<id>
    path = get_settings().artifacts_dir / "models" / source.rsplit("/", 1)[-1] / "artifacts" / "model.lgb"
    assert path.is_file(), path
    return path


@pytest.fixture
def admin_key(perfml_home):
    from perfml.keys import create_key
    from perfml.modeling import registry

    registry.clear_cache()
    return {"Authorization": f"Bearer {create_key(role='hr_admin').key}"}


def test_not_ready_until_models_load(perfml_home, admin_key):
    from api.main import create_app

    app = create_app(model_names=NAMES, background=False, watch_interval=None)
    with TestClient(app) as c:
        assert c.get("/healthz").json()["status"] == "ok"
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["ready"] is False and r.json()["store"] is True
        errors = {m["name"]: m["error"] for m in r.json()["models"]}
        assert all("has no champion yet" in errors[n] for n in NAMES)
        r = c.post("/v1/scores/decline", json={"rows": [{}]}, headers=admin_key)
        assert r.status_code == 503 and "not available" in r.json()["detail"]
        assert r.headers["content-type"].startswith("application/problem+json") and r.headers["retry-after"]

        versions = {n: _register(n, seed=i) for i, n in enumerate(NAMES)}
        assert c.get("/readyz").status_code == 503  # nothing reloaded yet
        r = c.post("/v1/models/reload", headers=admin_key)
        assert r.status_code == 200 and sorted(r.json()["changed"]) == sorted(NAMES)
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        assert {m["name"]: m["version"] for m in ready.json()["models"]} == versions
        assert c.post("/v1/scores/decline", json={"rows": [{"a": 1.0}]}, headers=admin_key).status_code == 200
        audit = c.get("/v1/audit?action=model&limit=50", headers=admin_key).json()["items"]
        changes = {e["target"]: e for e in audit if e["action"] == "model.change"}
        assert set(changes) == set(NAMES) and changes["decline"]["model_or_plan_version"] == versions["decline"]
        assert any(e["action"] == "model.reload" for e in audit)


def test_background_start_reports_not_ready_then_ready(perfml_home, admin_key):
    from api.main import create_app

    for i, n in enumerate(NAMES):
        _register(n, seed=i)
    app = create_app(model_names=NAMES, background=True, watch_interval=None)
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200  # answers while models load
        assert app.state.ctx.models.wait(timeout=120)
        assert c.get("/readyz").status_code == 200


def test_corrupted_artifact_is_a_clear_error_not_a_crash_loop(perfml_home, admin_key):
    from api.main import create_app
    from perfml.modeling import registry

    good = _register("transfer-anomaly")
    bad = _register("decline", seed=1)
    _artifact("decline", bad).write_text("this is not a LightGBM model\n")
    registry.clear_cache()
    app = create_app(model_names=NAMES, background=True, watch_interval=0.2)  # the watcher re-checks often
    with TestClient(app) as c:
        app.state.ctx.models.wait(timeout=120)
        r = c.get("/readyz")
        assert r.status_code == 503
        status = {m["name"]: m for m in r.json()["models"]}
        assert status["transfer-anomaly"]["loaded"] and status["transfer-anomaly"]["version"] == good
        err = status["decline"]["error"]
        assert f"model 'decline' version {bad} failed to load" in err and "corrupted" in err
        assert "Traceback" not in r.text
        # the rest of the service keeps working
        assert c.get("/healthz").status_code == 200
        assert c.post("/v1/scores/transfer-anomaly", json={"rows": [{"a": 0.3}]}, headers=admin_key).status_code == 200
        r = c.post("/v1/scores/decline", json={"rows": [{"a": 0.3}]}, headers=admin_key)
        assert r.status_code == 503 and f"version {bad} failed to load" in r.json()["detail"]
        # no crash loop: the watcher does not retry the same broken version; an explicit reload
        # retries once and reports the same clear error
        checked = app.state.ctx.models.status()["decline"]["checked_at"]
        time.sleep(0.6)
        assert app.state.ctx.models.status()["decline"]["error"] == err
        assert app.state.ctx.models.status()["decline"]["checked_at"] != checked  # still watching
        r = c.post("/v1/models/reload", headers=admin_key)
        assert r.status_code == 200 and r.json()["changed"] == []
        assert "failed to load" in {m["name"]: m for m in r.json()["models"]}["decline"]["error"]
        # a good new champion fixes it without a restart
        fixed = _register("decline", seed=2, force=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not app.state.ctx.models.ready:
            time.sleep(0.2)
        ready = c.get("/readyz").json()
        assert ready["ready"] and {m["name"]: m["version"] for m in ready["models"]}["decline"] == fixed


def test_prometheus_metrics(service):
    service.client.post("/v1/scores/decline", json={"rows": [{}]}, headers=service.h("system"))
    assert service.client.get("/readyz").status_code == 200
    text = service.client.get("/metrics").text
    assert 'perfml_http_requests_total{method="POST",route="/v1/scores/{model}",status="200"}' in text
    assert "perfml_http_request_duration_seconds_bucket" in text
    assert 'perfml_predictions_total{model="decline"}' in text
    assert 'perfml_model_loaded{model="decline"' in text
    assert "perfml_ready 1.0" in text


def test_app_serves_the_models_of_its_own_home(perfml_home, tmp_path):
    """`create_app(settings=...)` loads and lists the champions of that home, not the process-wide one."""
    from api.main import create_app
    from perfml.config import Settings
    from perfml.keys import create_key
    from perfml.modeling import registry

    registry.clear_cache()
    other = Settings(home=tmp_path / "other")
    versions = {n: _register(n, seed=i, settings=other) for i, n in enumerate(NAMES)}
    app = create_app(other, model_names=NAMES, background=False, watch_interval=None, warm=False)
    with TestClient(app) as c:
        ready = c.get("/readyz")
        assert ready.status_code == 200 and {m["name"]: m["version"] for m in ready.json()["models"]} == versions
        key = create_key(role="hr_admin", engine=app.state.ctx.engine).key
        listed = c.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).json()
        assert {m["name"]: [v["version"] for v in m["versions"]] for m in listed} == {n: [1] for n in NAMES}
    assert registry.list_versions().empty  # the process-wide home stays empty
