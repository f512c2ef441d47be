"""Shared fixtures: simulated datasets are built once per test session and read-only to tests."""
from __future__ import annotations

import pytest

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


@pytest.fixture
def perfml_home(tmp_path, monkeypatch):
    """An isolated PERFML_HOME (store + MLflow) for one test: the folder, also in the environment for
    `perfml` commands run without `--home`."""
    from perfml.config import get_settings

    monkeypatch.setenv("PERFML_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


@pytest.fixture
def home(perfml_home):
    """The `Home` of `perfml_home` (its store engine and MLflow registry), for code that takes one."""
    from perfml.home import Home

    return Home.at(perfml_home)
