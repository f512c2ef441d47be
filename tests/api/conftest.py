"""Service fixtures: ONE trained home per test session, built by `perfml demo --no-serve` on the `small`
simulated company (tests/conftest.py), and one app + client over it.

The demo is told its home (`--home`) and the app is built over it (`create_app(home)`); nothing here
changes the environment. Tests take `service`: the shared one (`shared_service`, which tests only read),
or, for a test marked `writes` (it reviews, refreshes, ingests or creates keys), the same models and keys
over a private copy of the session store, so that no test sees another's writes and any order passes.
Tests that need an empty or broken home use `perfml_home` / `home` and build their own app.
Every API test runs twice: over the SQLite store and over a copy of it in PostgreSQL (`shared_service`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from helpers.homes import copy_sqlite
from helpers.postgres import STORE_BACKENDS, PostgresServer
from helpers.service import Demo, Service, app_over, copy_store
from perfml.home import Home
from perfml.store import copy_store as copy_whole_store
from perfml.store import get_engine


@pytest.fixture(scope="session")
def demo_home(small_dir, tmp_path_factory, blank_mlflow_db) -> Demo:
    """`perfml demo --no-serve` on the small company: import, train the three models, alerts, keys."""
    from perfml.cli import app as cli
    from perfml.modeling import registry

    home = tmp_path_factory.mktemp("api") / "home"
    copy_sqlite(blank_mlflow_db, home / "mlflow.db")  # MLflow's schema migrations cost seconds per home
    registry.clear_cache()
    result = CliRunner().invoke(cli, ["demo", "--no-serve", "--data", str(small_dir), "--home", str(home)])
    assert result.exit_code == 0, result.output
    return Demo(home, result.output)


@pytest.fixture(scope="session")
def sqlite_service(demo_home: Demo):
    """The app over the demo home (models loaded synchronously at start-up) and keys for each role."""
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
        teams = [
            r[0]
            for r in conn.execute(
                sa.select(alerts.c.team_id)
                .where(alerts.c.team_id.is_not(None))
                .group_by(alerts.c.team_id)
                .order_by(sa.func.count().desc(), alerts.c.team_id)
            )
        ]
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
    app.state.ctx.audit.flush()
    pristine = copy_sqlite(engine.url.database, demo_home.home.parent / "pristine.db")
    yield Service(app, client, demo_home.home, keys, team_a, team_b, rep_a, rep_b, pristine=f"sqlite:///{pristine}")
    client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def postgresql_service(sqlite_service: Service, postgres: PostgresServer):
    """The same service over PostgreSQL: the SQLite store as it was set up (data, alerts, keys, audit log)
    copied into a template database that nobody connects to, and the app over a copy of that template."""
    assert sqlite_service.pristine is not None
    template = postgres.create_database("demo")
    copy_whole_store(get_engine(sqlite_service.pristine), get_engine(template))
    get_engine(template).dispose()
    name = sa.make_url(template).database
    with app_over(sqlite_service, postgres.create_database("shared", template=name)) as (app, client):
        yield replace(sqlite_service, app=app, client=client, postgres=postgres, template=name)


@pytest.fixture(scope="session", params=STORE_BACKENDS)
def shared_service(request) -> Service:
    """The session's service on each store backend (every API test runs on SQLite and on PostgreSQL)."""
    return request.getfixturevalue(f"{request.param}_service")


@pytest.fixture
def service(request, shared_service: Service, tmp_path) -> Iterator[Service]:
    """The session's service; for a test marked `writes`, the same models, keys and data over a private copy
    of its store."""
    if request.node.get_closest_marker("writes") is None:
        yield shared_service
        return
    url = copy_store(shared_service, tmp_path / "perfml.db")
    with app_over(shared_service, url, warm=False) as (app, client):
        yield replace(shared_service, app=app, client=client)
