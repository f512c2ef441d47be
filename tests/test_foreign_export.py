"""The whole path on an export written the way real CRMs write them (`fixtures.foreign_export`)."""
from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from fixtures.foreign_export import (AGENTS, LATE_HIRE, MONTHS, NO_DEALS_AGENT, POISON, REASONS, UNTRACKED,
                                     write_foreign_export)
from typer.testing import CliRunner

from perfml.cli import app
from perfml.dataset import Dataset
from perfml.errors import DataValidationError
from perfml.store import CANONICAL, engine_for


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return write_foreign_export(tmp_path_factory.mktemp("foreign") / "export")


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory):
    return write_foreign_export(tmp_path_factory.mktemp("foreign") / "poisoned", poisoned=True)


def _counts(url) -> dict[str, int]:
    with engine_for(url).connect() as conn:
        return {name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for name, table in CANONICAL.items()}


def test_export_looks_like_a_real_crm_export(export, tmp_path):
    text = {f.stem: pd.read_csv(f, dtype=str) for f in export.glob("*.csv")}
    assert list(text["orders"].columns) == ["order_id", "customer_id", "employee_id", "closed_at", "amount",
                                            "order_type", "currency"]
    for table, column in (("orders", "closed_at"), ("ownership_changes", "changed_at"), ("leads", "created_at")):
        assert text[table][column].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all(), table  # dates, no times
    assert sorted(p.name for p in export.iterdir()) == ["customers.csv", "dataset.yaml", "employees.csv", "leads.csv",
                                                      "orders.csv", "ownership_changes.csv", "targets.csv"]
    ds = Dataset.load(export)
    assert ds.untracked == set(UNTRACKED)
    sellers = ds.employees.loc[ds.employees["role"] == "sales", "employee_id"]
    assert sellers.tolist() == list(AGENTS) and all(" " in e for e in sellers)
    assert set(ds.orders["employee_id"]) == set(AGENTS) - {NO_DEALS_AGENT}
    for name in ("orders", "leads", "targets", "ownership_changes"):  # nothing at all for the no-deals agent
        assert not ds.table(name).isin([NO_DEALS_AGENT]).any().any(), name
    assert set(ds.orders["closed_at"].dt.strftime("%Y-%m")) == set(MONTHS)
    assert ds.orders["closed_at"].min() >= ds.employees.set_index("employee_id").loc[ds.orders["employee_id"],
                                                                                    "hire_date"].min()
    assert ds.orders.loc[ds.orders["employee_id"] == LATE_HIRE, "closed_at"].min() >= pd.Timestamp("2017-02-13")
    assert set(ds.ownership_changes["reason"].dropna()) == set(REASONS)
    assert set(ds.orders["currency"]) == {"USD"}  # unknown column kept
    again = write_foreign_export(tmp_path / "again")
    assert all((again / f.name).read_bytes() == f.read_bytes() for f in export.iterdir())  # deterministic


def test_clean_export_validates_and_imports(export, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["validate", str(export)])
    assert result.exit_code == 0, result.output
    assert "untracked (declared in dataset.yaml): activities, satisfaction" in result.output
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(app, ["import", str(export), "--store-url", url])
    assert result.exit_code == 0, result.output
    rows = Dataset.load(export).rows()
    counts = _counts(url)
    assert {n: counts[n] for n in rows} == rows and counts["activities"] == counts["satisfaction"] == 0
    with engine_for(url).connect() as conn:
        extra = conn.execute(sa.select(CANONICAL["orders"].c.extra).limit(1)).scalar_one()
    assert extra == {"currency": "USD"}


def test_poisoned_export_lists_every_problem_in_one_pass(poisoned):
    with pytest.raises(DataValidationError) as info:
        Dataset.load(poisoned)
    found = {(p.table, p.column, p.rule, p.rows) for p in info.value.problems}
    assert found == {
        ("orders", "amount", "must be a finite number", (2, 3)),  # inf, 1e400
        ("orders", "amount", "must be <= 1e12", (4,)),
        ("orders", "amount", "must have at most 6 decimal places", (5,)),
        ("orders", "closed_at", "must be between 1900-01-01 and 2100-01-01", (6,)),
        ("orders", "employee_id", "must reference an existing employees.employee_id", (7,)),
        ("ownership_changes", "reason", "must not contain a NUL character", (POISON[-1][1] + 2,)),
    }
    shown = "\n".join(str(p) for p in info.value.problems)
    assert all(repr(text) in shown for _, _, _, text in POISON)  # every offending value is shown


def test_poisoned_export_is_refused_by_validate_and_import_and_nothing_is_written(export, poisoned, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["validate", str(poisoned)])
    assert result.exit_code == 1 and "6 data problem(s) found" in result.output
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(app, ["import", str(poisoned), "--store-url", url])
    assert result.exit_code == 1 and "6 data problem(s) found (nothing imported" in result.output
    assert not (tmp_path / "store.db").exists()  # refused before the store was even opened
    assert runner.invoke(app, ["import", str(export), "--store-url", url]).exit_code == 0
    before = _counts(url)
    assert runner.invoke(app, ["import", str(poisoned), "--store-url", url]).exit_code == 1
    assert _counts(url) == before
