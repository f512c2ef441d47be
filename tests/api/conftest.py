"""Service fixtures: ONE trained home per test session, built by `perfml demo --no-serve` on the `small`
simulated company (tests/conftest.py), and one app + client over it.

The demo is told its home (`--home`) and the app is built over it (`create_app(home)`); nothing here
changes the environment. Tests that need an empty or broken home use `perfml_home` / `home` and build
their own app.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from perfml.home import Home


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

    @property
    def engine(self):
        """The store engine of the session's home."""
        return self.ctx.engine


@pytest.fixture(scope="session")
def demo_home(small_dir, tmp_path_factory) -> Demo:
    """`perfml demo --no-serve` on the small company: import, train the three models, alerts, keys."""
    from perfml.cli import app as cli
    from perfml.modeling import registry

    home = tmp_path_factory.mktemp("api") / "home"
    registry.clear_cache()
    result = CliRunner().invoke(cli, ["demo", "--no-serve", "--data", str(small_dir), "--home", str(home)])
    assert result.exit_code == 0, result.output
    return Demo(home, result.output)


@pytest.fixture(scope="session")
def service(demo_home: Demo):
    """The app over the demo home (models loaded synchronously at start-up) and keys for each role."""
    import sqlalchemy as sa

    from api.main import create_app
    from perfml.keys import create_key
    from perfml.pipelines import get_pipeline
    from perfml.store import alerts

    home = Home.at(demo_home.home)
    app = create_app(home, background=False, watch_interval=None)
    client = TestClient(app, raise_server_exceptions=False)
    client.__enter__()
    assert app.state.ctx.models.ready, app.state.ctx.models.status()
    engine = home.engine
    with engine.connect() as conn:
        teams = [r[0] for r in conn.execute(
            sa.select(alerts.c.team_id).where(alerts.c.team_id.is_not(None)).group_by(alerts.c.team_id)
            .order_by(sa.func.count().desc(), alerts.c.team_id))]
    # reps employed at the end of the data (scoreable by the decline model, evaluated by plans)
    current = app.state.ctx.data.features(get_pipeline("decline", home.settings))
    team_a, team_b = teams[0], teams[1]
    rep_a = sorted(current.loc[current.team_id == team_a, "employee_id"].astype(str))[0]
    rep_b = sorted(current.loc[current.team_id == team_b, "employee_id"].astype(str))[0]
    keys = {
        "admin": create_key(role="hr_admin", label="tests", engine=engine).key,
        "system": create_key(role="hr_system", label="tests", engine=engine).key,
        "manager_a": create_key(role="manager", team_id=team_a, engine=engine).key,
        "manager_b": create_key(role="manager", team_id=team_b, engine=engine).key,
        "employee_a": create_key(role="employee", employee_id=rep_a, engine=engine).key,
        "employee_b": create_key(role="employee", employee_id=rep_b, engine=engine).key,
    }
    yield Service(app, client, demo_home.home, keys, team_a, team_b, rep_a, rep_b)
    client.__exit__(None, None, None)
