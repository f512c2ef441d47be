"""Shared fixtures: simulated datasets are built once per test session and read-only to tests; a test that
writes gets its own home (`perfml_home`, `new_home`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from helpers.homes import copy_sqlite
from helpers.postgres import STORE_BACKENDS, PostgresServer, binaries
from perfml.config import get_settings
from perfml.dataset import Dataset


@pytest.fixture(scope="session")
def small_dir(tmp_path_factory):
    """A `small` simulated dataset directory (seed 7). Do not modify: copy it first."""
    from perfml.simulate import simulate

    out = tmp_path_factory.mktemp("sim-small") / "data"
    simulate(out, seed=7, scale="small")
    return out


@pytest.fixture(scope="session")
def small_dataset(small_dir) -> Dataset:
    return Dataset.load(small_dir)


@pytest.fixture(scope="session")
def medium_dir(tmp_path_factory):
    """The default-size simulated dataset (seed 1), for quality floors. Do not modify."""
    from perfml.simulate import simulate

    out = tmp_path_factory.mktemp("sim-medium") / "data"
    simulate(out, seed=1, scale="medium")
    return out


@pytest.fixture(scope="session")
def medium_dataset(medium_dir) -> Dataset:
    return Dataset.load(medium_dir)


@pytest.fixture(scope="session")
def funnel_dir(tmp_path_factory):
    """The default-size company with qualifiers handing leads to closers (seed 1). Do not modify."""
    from perfml.simulate import simulate

    out = tmp_path_factory.mktemp("sim-funnel") / "data"
    simulate(out, seed=1, scale="medium", funnel=True)
    return out


# A test that reads a default-size company is slow: simulating one takes seconds, and the tests that
# use it train models on it. `pytest -m "not slow"` leaves them out.
MEDIUM_COMPANIES = {"medium_dir", "funnel_dir"}


def pytest_collection_modifyitems(items):
    for item in items:
        if MEDIUM_COMPANIES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def blank_mlflow_db(tmp_path_factory) -> Path:
    """An MLflow tracking database with its schema and nothing else. Creating one runs MLflow's schema
    migrations (seconds); a copy of this one is a new home's in milliseconds."""
    path = tmp_path_factory.mktemp("blank-mlflow") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def new_home(tmp_path, blank_mlflow_db) -> Callable[[str], Path]:
    """Makes empty homes under this test's tmp dir: `new_home("a")` is a folder holding a blank MLflow database."""

    def make(name: str = "home") -> Path:
        home = tmp_path / name
        copy_sqlite(blank_mlflow_db, home / "mlflow.db")
        return home

    return make


@pytest.fixture
def perfml_home(new_home, monkeypatch):
    """An isolated PERFML_HOME (store + MLflow) for one test: the folder, also in the environment for
    `perfml` commands run without `--home`."""
    home = new_home("home")
    monkeypatch.setenv("PERFML_HOME", str(home))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def home(perfml_home):
    """The `Home` of `perfml_home` (its store engine and MLflow registry), for code that takes one."""
    from perfml.home import Home

    return Home.at(perfml_home)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session: `PERFML_TEST_POSTGRES_URL` (an admin URL), else a throw-away
    cluster of the distribution's binaries. Without PostgreSQL the PostgreSQL cases skip, except in CI
    (`CI` set), where they fail: `.ci/run` installs it."""
    external = os.environ.get("PERFML_TEST_POSTGRES_URL")
    if external:
        yield PostgresServer(external)
        return
    if binaries() is None:
        message = "PostgreSQL is not installed (apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request, tmp_path) -> Iterator[str]:
    """An empty store, once on SQLite and once on PostgreSQL (a database of its own on the session server)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    from perfml.store import get_engine

    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create_database()
    yield url
    get_engine(url).dispose()
    server.drop_database(url)
