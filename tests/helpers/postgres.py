"""A throw-away PostgreSQL server for the tests: the distribution's binaries, a cluster in a temp folder.

`PostgresServer.start(folder)` runs `initdb` and `pg_ctl start` on a free loopback port (as the
`postgres` user when the tests run as root, because PostgreSQL refuses to run as root) and
`stop()` shuts it down. `PERFML_TEST_POSTGRES_URL` (an admin URL of an existing server) skips
all that. Each test gets a database of its own (`create_database`), optionally a copy of a
template database (PostgreSQL's `CREATE DATABASE ... TEMPLATE`, a file-level copy).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa

DRIVER = "postgresql+psycopg"
STORE_BACKENDS = ("sqlite", "postgresql")  # the store tests, ingest and API tests run on each


def binaries() -> Path | None:
    """The folder holding `initdb` and `pg_ctl` (PATH first, then Debian's versioned folders), or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One server: its admin URL, and databases created (and dropped) for tests."""

    def __init__(self, admin_url: str, data_dir: Path | None = None, run_as: str | None = None):
        self.admin_url = admin_url
        self.data_dir = data_dir
        self.run_as = run_as
        self._admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    @classmethod
    def start(cls) -> PostgresServer:
        """initdb a cluster in a new temp folder and start it on 127.0.0.1 (trust auth, no fsync: tests only)."""
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (no initdb); apt-get install postgresql")
        run_as = "postgres" if os.geteuid() == 0 else None
        # Directly under the system temp folder: the server's user must be able to reach it.
        folder = Path(tempfile.mkdtemp(prefix="perfml-pg-"))
        if run_as:
            user = pwd.getpwnam(run_as)
            os.chown(folder, user.pw_uid, user.pw_gid)
        data, port = folder / "data", _free_port()

        def run(*args: str) -> None:
            prefix = ["runuser", "-u", run_as, "--"] if run_as else []
            done = subprocess.run([*prefix, *args], capture_output=True, text=True, cwd=folder)
            if done.returncode:
                raise RuntimeError(f"{Path(args[0]).name} failed: {done.stderr or done.stdout}")

        run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "perfml", "--no-sync", "-E", "UTF8")
        options = f"-h 127.0.0.1 -p {port} -k {folder} -F -c fsync=off -c full_page_writes=off"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
        server = cls(f"{DRIVER}://perfml@127.0.0.1:{port}/postgres", data, run_as)
        server._bin = bin_dir
        return server

    def url(self, database: str) -> str:
        """URL of a database on this server."""
        return sa.make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)

    def create_database(self, prefix: str = "t", template: str | None = None) -> str:
        """A new empty database (or a copy of `template`, which must have no open connections); its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made here (closing anyone still connected)."""
        name = sa.make_url(url).database
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop a server this object started (an external one is left alone)."""
        self._admin.dispose()
        if self.data_dir is None:
            return
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        subprocess.run(
            [*prefix, str(self._bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "stop"], check=False
        )
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)
