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


def _env_home():
    """The home `create_app()` serves by default: the one the environment (`perfml_home`) describes."""
    from perfml.config import get_settings
    from perfml.home import Home

    return Home(get_settings())


def _register(name: str, seed: int = 0, force: bool = False, home=None) -> str:
    """A small toy booster registered under a served model name (stands in for a trained pipeline)."""
    from perfml.modeling import registry
    from perfml.modeling.model import TrainedModel
    from perfml.modeling.train import fit_lgbm

    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = (X["a"] + rng.normal(size=200) > 0).astype(float)
    model = TrainedModel(fit_lgbm(X, y, num_rounds=10), ["a", "b", "c"], threshold=0.6)
    reg = registry.log_and_register(
        name,
        model,
        params={},
        metrics={"model_pr_auc": 0.5},
        fingerprint="toy",
        input_example=X,
        test_metric="model_pr_auc",
        force=force,
        home=home or _env_home(),
    )
    return reg.version


def _artifact(name: str, version: str) -> Path:
    from perfml.modeling import registry

    home = _env_home()
    source = registry.client(home=home).get_model_version(name, version).source  # models:/m-<id>
    path = home.artifacts_dir / "models" / source.rsplit("/", 1)[-1] / "artifacts" / "model.lgb"
    assert path.is_file(), path
    return path


@pytest.fixture
def admin_key(perfml_home):
    from perfml.keys import create_key
    from perfml.modeling import registry

    registry.clear_cache()
    return {"Authorization": f"Bearer {create_key(role='hr_admin', engine=_env_home().engine).key}"}


def test_not_ready_until_models_load(perfml_home, admin_key):
    from api.main import create_app

    app = create_app(model_names=NAMES, background=False, watch_interval=None)
    with TestClient(app) as c:
        assert c.get("/healthz").json()["status"] == "ok"
        # no champion anywhere: every pipeline answers with its baseline rule - ready, but degraded
        r = c.get("/readyz")
        assert r.status_code == 200 and r.json()["ready"] is True and r.json()["store"] is True
        assert set(r.json()["degraded"]) == set(NAMES)
        assert all("never trained" in why and "baseline rule" in why for why in r.json()["degraded"].values())
        assert {m["name"]: m["source"] for m in r.json()["models"]} == {n: "baseline" for n in NAMES}
        r = c.post("/v1/scores/decline", json={"rows": [{"revenue_change_1m": -0.4}, {}]}, headers=admin_key)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["source"] == "baseline" and body["version"] is None
        assert [x["source"] for x in body["results"]] == ["baseline", "baseline"]
        assert [x["score"] for x in body["results"]] == [pytest.approx(0.4), 0.0]
        assert body["results"][0]["reasons"][0].startswith("baseline rule (")

        versions = {n: _register(n, seed=i) for i, n in enumerate(NAMES)}
        assert set(c.get("/readyz").json()["degraded"]) == set(NAMES)  # nothing reloaded yet
        r = c.post("/v1/models/reload", headers=admin_key)
        assert r.status_code == 200 and sorted(r.json()["changed"]) == sorted(NAMES)
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["ready"] is True and ready.json()["degraded"] == {}
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


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_damaged_model_file_is_refused_before_lightgbm(perfml_home, admin_key, damage):
    """A truncated or bit-flipped model.lgb never reaches LightGBM (which may abort the process): the load runs
    in this process and it survives; /readyz is 503 naming model and version (no paths); the other model
    keeps serving; once the file is restored, a reload serves it again."""
    from api.main import create_app
    from perfml.modeling import registry

    good = _register("transfer-anomaly")
    bad = _register("decline", seed=1)
    path = _artifact("decline", bad)
    original = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(original[: len(original) // 3])
    else:
        flipped = bytearray(original)
        for i in range(len(flipped) // 2, len(flipped) // 2 + 64, 7):
            flipped[i] ^= 0xFF
        path.write_bytes(bytes(flipped))
    registry.clear_cache()
    app = create_app(model_names=NAMES, background=False, watch_interval=None, warm=False)
    with TestClient(app) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["ready"] is False
        status = {m["name"]: m for m in r.json()["models"]}
        err = status["decline"]["error"]
        assert f"model 'decline' version {bad}" in err and "does not match the SHA-256 recorded at registration" in err
        assert str(perfml_home) not in r.text and "/tmp/" not in r.text and "mlartifacts" not in r.text
        assert status["transfer-anomaly"]["loaded"] and status["transfer-anomaly"]["version"] == good
        assert c.post("/v1/scores/transfer-anomaly", json={"rows": [{"a": 0.3}]}, headers=admin_key).status_code == 200
        r = c.post("/v1/scores/decline", json={"rows": [{"a": 0.3}]}, headers=admin_key)
        assert r.status_code == 503 and f"version {bad}" in r.json()["detail"]
        path.write_bytes(original)
        r = c.post("/v1/models/reload", headers=admin_key)
        assert r.status_code == 200 and r.json()["changed"] == ["decline"]
        ready = c.get("/readyz")
        assert ready.status_code == 200 and {m["name"]: m["version"] for m in ready.json()["models"]}["decline"] == bad


def test_versions_without_checksum_are_parsed_in_a_child_process_first(perfml_home):
    """Versions registered before checksums were recorded: a damaged file is refused after a child process
    tried to parse it (a crash there does not take this process down); a sound one loads."""
    from perfml.modeling import registry

    version = _register("decline")
    registry.client(home=_env_home()).delete_model_version_tag("decline", version, registry.SHA_TAG)
    registry.clear_cache()
    assert registry.load_model("decline", home=_env_home()).version == version
    registry.clear_cache()
    _artifact("decline", version).write_text("tree\nnot a model\n")
    with pytest.raises(registry.ModelIntegrityError, match="cannot be parsed .checked in a separate process"):
        registry.load_model("decline", home=_env_home())


def test_prometheus_metrics(service):
    service.client.post("/v1/scores/decline", json={"rows": [{}]}, headers=service.h("system"))
    assert service.client.get("/readyz").status_code == 200
    text = service.client.get("/metrics").text
    assert 'perfml_http_requests_total{method="POST",route="/v1/scores/{model}",status="200"}' in text
    assert "perfml_http_request_duration_seconds_bucket" in text
    assert 'perfml_predictions_total{model="decline"}' in text
    assert 'perfml_model_loaded{model="decline"' in text
    assert "perfml_ready 1.0" in text


def test_app_serves_the_models_of_its_own_home(perfml_home, new_home):
    """`create_app(home)` loads and lists the champions of that home, not the process-wide one."""
    from api.main import create_app
    from perfml.home import Home
    from perfml.keys import create_key
    from perfml.modeling import registry

    registry.clear_cache()
    other = Home.at(new_home("other"))
    versions = {n: _register(n, seed=i, home=other) for i, n in enumerate(NAMES)}
    app = create_app(other, model_names=NAMES, background=False, watch_interval=None, warm=False)
    with TestClient(app) as c:
        ready = c.get("/readyz")
        assert ready.status_code == 200 and {m["name"]: m["version"] for m in ready.json()["models"]} == versions
        key = create_key(role="hr_admin", engine=app.state.ctx.engine).key
        listed = c.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).json()
        assert {m["name"]: [v["version"] for v in m["versions"]] for m in listed} == {n: [1] for n in NAMES}
    assert registry.list_versions(home=_env_home()).empty  # the process-wide home stays empty
