"""Service fixtures: ONE trained home per test session, built by `perfml demo --no-serve` on the `small`
simulated company (tests/conftest.py), and one app + client over it (`shared_service`), which tests only read.

Tests take `service`: the shared one, or, for a test marked `writes` (it reviews, refreshes, ingests or
creates keys), the same models and keys over a private copy of the session store, so that no test sees
another's writes and any order passes. Every test here runs with PERFML_HOME pointing at the session home
(autouse), because the helpers the tests call (keys, store, registry) default to the process-wide
settings; for a `writes` test the store URL points at its copy. Tests that need an empty or broken home
use `perfml_home` (which overrides it) and build their own app.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.main import create_app
from helpers.homes import copy_sqlite
from helpers.service import Demo, Service, app_over, copy_store, set_home
from perfml.config import get_settings


@pytest.fixture(scope="session")
def demo_home(small_dir, tmp_path_factory, blank_mlflow_db) -> Demo:
    """`perfml demo --no-serve` on the small company: import, train the three models, alerts, keys."""
    from perfml.cli import app as cli
    from perfml.modeling import registry

    home = tmp_path_factory.mktemp("api") / "home"
    copy_sqlite(blank_mlflow_db, home / "mlflow.db")
    with pytest.MonkeyPatch.context() as mp:
        set_home(mp, home)
        registry.clear_cache()
        result = CliRunner().invoke(cli, ["demo", "--no-serve", "--data", str(small_dir), "--home", str(home)])
        assert result.exit_code == 0, result.output
    get_settings.cache_clear()
    return Demo(home, result.output)


@pytest.fixture(scope="session")
def shared_service(demo_home: Demo):
    """The app over the demo home (models loaded synchronously at start-up) and keys for each role."""
    import sqlalchemy as sa

    from perfml.keys import create_key
    from perfml.store import alerts, get_engine

    with pytest.MonkeyPatch.context() as mp:
        set_home(mp, demo_home.home)
        app = create_app(background=False, watch_interval=None)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        assert app.state.ctx.models.ready, app.state.ctx.models.status()
        engine = get_engine()
        with engine.connect() as conn:
            teams = [r[0] for r in conn.execute(
                sa.select(alerts.c.team_id).where(alerts.c.team_id.is_not(None)).group_by(alerts.c.team_id)
                .order_by(sa.func.count().desc(), alerts.c.team_id))]
        from perfml.pipelines import get_pipeline

        # reps employed at the end of the data (scoreable by the decline model, evaluated by plans)
        current = app.state.ctx.data.features(get_pipeline("decline"))
        team_a, team_b = teams[0], teams[1]
        rep_a = sorted(current.loc[current.team_id == team_a, "employee_id"].astype(str))[0]
        rep_b = sorted(current.loc[current.team_id == team_b, "employee_id"].astype(str))[0]
        keys = {
            "admin": create_key(role="hr_admin", label="tests").key,
            "system": create_key(role="hr_system", label="tests").key,
            "manager_a": create_key(role="manager", team_id=team_a).key,
            "manager_b": create_key(role="manager", team_id=team_b).key,
            "employee_a": create_key(role="employee", employee_id=rep_a).key,
            "employee_b": create_key(role="employee", employee_id=rep_b).key,
        }
    get_settings.cache_clear()
    yield Service(app, client, demo_home.home, keys, team_a, team_b, rep_a, rep_b)
    client.__exit__(None, None, None)


@pytest.fixture
def service(request, shared_service: Service, tmp_path, monkeypatch) -> Iterator[Service]:
    """The session's service; for a test marked `writes`, the same models, keys and data over a private copy
    of its store, with the process-wide settings pointing at the copy while the test runs."""
    if request.node.get_closest_marker("writes") is None:
        yield shared_service
        return
    url = copy_store(shared_service, tmp_path / "perfml.db")
    with app_over(shared_service, url, warm=False) as (app, client):
        monkeypatch.setenv("PERFML_STORE_URL", url)
        get_settings.cache_clear()
        yield replace(shared_service, app=app, client=client)


@pytest.fixture(autouse=True)
def _service_env(request, monkeypatch):
    """Point settings (and so the MLflow registry) at the session home while a test runs."""
    if "demo_home" in request.fixturenames or "service" in request.fixturenames:
        demo = request.getfixturevalue("demo_home")
        set_home(monkeypatch, demo.home)
    yield
    get_settings.cache_clear()
