"""The API tests' session service and the apps tests build over copies of its store (see tests/api/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from helpers.homes import copy_sqlite
from helpers.postgres import PostgresServer
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
    pristine: str | None = None  # URL of a copy of the store as set up, before any test ran
    postgres: PostgresServer | None = None  # the server of a PostgreSQL service
    template: str | None = None  # PostgreSQL: the database writing tests copy (nobody connects to it)

    def h(self, who: str) -> dict[str, str]:
        """Authorization header of a key: admin, system, manager_a, manager_b, employee_a, employee_b."""
        return {"Authorization": f"Bearer {self.keys[who]}"}

    @property
    def ctx(self):
        return self.app.state.ctx

    @property
    def engine(self):
        """The store engine of this service's home (a writing test's: its private copy)."""
        return self.ctx.engine


def copy_store(service: Service, target: Path) -> str:
    """A consistent copy of the session store, audit log included; its URL. SQLite: a copy of the live WAL
    database at `target`; PostgreSQL: a new database from the service's template."""
    service.ctx.audit.flush()
    if service.postgres is not None and service.template is not None:
        return service.postgres.create_database("w", template=service.template)
    return f"sqlite:///{copy_sqlite(service.ctx.engine.url.database, target)}"


@contextmanager
def app_over(service: Service, url: str, **options) -> Iterator[tuple[object, TestClient]]:
    """An app and its started client over the session's models and the store at `url`."""
    app = create_app(Home.at(service.home, store_url=url), background=False, watch_interval=None, **options)
    client = TestClient(app, raise_server_exceptions=False)
    client.__enter__()  # runs the lifespan: models loaded, audit writer started
    try:
        yield app, client
    finally:
        client.__exit__(None, None, None)
