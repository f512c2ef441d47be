"""Service fixtures: ONE trained home per test session, built by `perfml demo --no-serve` on the `small`
simulated company (tests/conftest.py), and one app + client over it.

Every test here runs with PERFML_HOME pointing at that home (autouse), because the helpers the tests
call (keys, store, registry) default to the process-wide settings. Tests that need an empty or broken
home use `perfml_home` (which overrides it) and build their own app.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from perfml.config import get_settings


@dataclass
class Demo:
    home: Path
    output: str


@dataclass
class Service:
    """The session's app, its client and keys for every role (two managers, two employees)."""

    app: object
    client: TestClient
    home: Path
    keys: dict[str, str] = field(default_factory=dict)
    team_a: str = ""
    team_b: str = ""
    employee_a: str = ""
    employee_b: str = ""

    def h(self, who: str) -> dict[str, str]:
        """Authorization header of a key: admin, system, manager_a, manager_b, employee_a, employee_b."""
        return {"Authorization": f"Bearer {self.keys[who]}"}

    @property
    def ctx(self):
        return self.app.state.ctx


def _set_home(mp: pytest.MonkeyPatch, home: Path) -> None:
    mp.setenv("PERFML_HOME", str(home))
    mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def demo_home(small_dir, tmp_path_factory) -> Demo:
    """`perfml demo --no-serve` on the small company: import, train the three models, alerts, keys."""
    from perfml.cli import app as cli
    from perfml.modeling import registry

    home = tmp_path_factory.mktemp("api") / "home"
    with pytest.MonkeyPatch.context() as mp:
        _set_home(mp, home)
        registry.clear_cache()
        result = CliRunner().invoke(cli, ["demo", "--no-serve", "--data", str(small_dir), "--home", str(home)])
        assert result.exit_code == 0, result.output
    get_settings.cache_clear()
    return Demo(home, result.output)


@pytest.fixture(scope="session")
def service(demo_home: Demo):
    """The app over the demo home (models loaded synchronously at start-up) and keys for each role."""
    import sqlalchemy as sa

    from api.main import create_app
    from perfml.keys import create_key
    from perfml.store import alerts, get_engine

    with pytest.MonkeyPatch.context() as mp:
        _set_home(mp, demo_home.home)
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


@pytest.fixture(autouse=True)
def _service_env(request, monkeypatch):
    """Point settings (and so the MLflow registry) at the session home while a test runs."""
    if "demo_home" in request.fixturenames or "service" in request.fixturenames:
        demo = request.getfixturevalue("demo_home")
        _set_home(monkeypatch, demo.home)
    yield
    get_settings.cache_clear()
