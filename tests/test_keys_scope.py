"""`perfml keys create` refuses a scope the store does not know and warns about one with no records yet."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from perfml import keys, store
from perfml.dataset import Dataset


@pytest.fixture
def company(home) -> str:
    """A store with team t1 (e1 has orders) and team t2 (e2: no records yet); returns the store URL."""
    from perfml.ingest import ingest_records

    ingest_records(
        {
            "employees": [
                {"employee_id": "e1", "role": "sales", "team_id": "t1", "hire_date": "2023-01-01"},
                {"employee_id": "e2", "role": "sales", "team_id": "t2", "hire_date": "2023-02-01"},
            ],
            "customers": [{"customer_id": "c1", "created_at": "2023-01-05"}],
            "orders": [
                {"order_id": "o1", "customer_id": "c1", "employee_id": "e1", "closed_at": "2023-04-01", "amount": "10"}
            ],
        },
        home.engine,
    )
    return str(home.engine.url)


def _keys(url: str) -> int:
    with store.get_engine(url).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(store.api_keys)).scalar_one()


def test_check_scope(company):
    assert keys.check_scope("manager", team_id="t1", engine=company) is None
    assert keys.check_scope("employee", employee_id="e1", engine=company) is None
    assert keys.check_scope("hr_admin", engine=company) is None
    assert "no orders, activities or leads yet" in keys.check_scope("manager", team_id="t2", engine=company)
    assert "employee 'e2' has no orders" in keys.check_scope("employee", employee_id="e2", engine=company)
    with pytest.raises(keys.KeyRequestError, match="team 'T-nope' is not in the store"):
        keys.check_scope("manager", team_id="T-nope", engine=company)
    with pytest.raises(keys.KeyRequestError, match="employee 'E-nope' is not in the store"):
        keys.check_scope("employee", employee_id="E-nope", engine=company)
    with pytest.raises(keys.KeyRequestError, match="needs --team"):
        keys.check_scope("manager", engine=company)


def test_cli_refuses_unknown_scopes_and_warns_about_empty_ones(company):
    from perfml.cli import app as cli

    runner = CliRunner()
    for args, what in (
        (["--role", "manager", "--team", "T-nope"], "team 'T-nope'"),
        (["--role", "employee", "--employee", "E-nope"], "employee 'E-nope'"),
    ):
        result = runner.invoke(cli, ["keys", "create", *args])
        said = " ".join(result.output.split())  # rich wraps long lines
        assert result.exit_code == 1 and what in said and "not in the store" in said
    assert _keys(company) == 0  # nothing created
    result = runner.invoke(cli, ["keys", "create", "--role", "manager", "--team", "t2"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "warning: team 't2' has no orders, activities or leads yet" in said and "will see nothing" in said
    assert result.output.strip().splitlines()[-1].startswith(keys.KEY_PREFIX)
    result = runner.invoke(cli, ["keys", "create", "--role", "employee", "--employee", "e1"])
    assert result.exit_code == 0 and "warning" not in result.output
    assert _keys(company) == 2


def test_bonus_outputs_are_owner_only(small_dir, tmp_path):
    import os
    import stat

    from perfml.cli import app as cli

    period = str(Dataset.load(small_dir).date_range()[1])[:7]
    out = tmp_path / "run.json"
    out.write_text("old")
    out.chmod(0o644)  # an existing, more open file is replaced by a private one
    old = os.umask(0o000)
    try:
        result = CliRunner().invoke(
            cli, ["bonus", "--plan", "sales-default", "--data", str(small_dir), "--period", period, "--out", str(out)]
        )
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    for path in (out, out.with_suffix(".csv")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
