"""Contract rules: finite numbers in documented ranges, dates 1900-2100, no NUL; one pass lists every
problem (row and reference problems together) with its first offending values; the same rules refuse
bad input in `perfml validate`, `perfml import` and `Dataset.from_frames` (what ingest relies on)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from helpers.foreign_export import UNTRACKED, write_foreign_export
from perfml.cli import app
from perfml.dataset import Dataset
from perfml.errors import DataValidationError
from perfml.schema import TABLES
from perfml.store import CANONICAL, engine_for

# (table, column, value written, rule): each must be refused, naming the rule and showing the value.
POISON = [
    ("orders", "amount", "inf", "must be a finite number"),
    ("orders", "amount", "-inf", "must be a finite number"),
    ("orders", "amount", "1e400", "must be a finite number"),
    ("orders", "amount", "5e12", "must be <= 1e12"),
    ("orders", "amount", "0.0000001", "must have at most 6 decimal places"),
    ("orders", "amount", "NaN", "must be a number"),
    ("targets", "target", "inf", "must be a finite number"),
    ("targets", "target", "5e12", "must be <= 1e12"),
    ("targets", "target", "0.0000001", "must have at most 6 decimal places"),
    ("orders", "closed_at", "1600-01-01", "must be between 1900-01-01 and 2100-01-01"),
    ("orders", "closed_at", "0001-01-01", "must be between 1900-01-01 and 2100-01-01"),
    ("orders", "closed_at", "2300-01-01", "must be between 1900-01-01 and 2100-01-01"),
    ("employees", "hire_date", "1899-12-31", "must be between 1900-01-01 and 2100-01-01"),
    ("ownership_changes", "reason", "客户要求\x00", "must not contain a NUL character"),
    ("customers", "segment", "S\x00MB", "must not contain a NUL character"),
    ("orders", "currency", "US\x00D", "must not contain a NUL character"),  # an unknown extra column too
]
IMPORT_CASES = [
    p
    for p in POISON
    if p[2] in ("inf", "1e400", "5e12", "0.0000001", "1600-01-01", "客户要求\x00")
    and p[0] in ("orders", "ownership_changes")
]
ROW = 3  # the record poisoned (0-based); row 5 in the file (header = row 1)


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory):
    return write_foreign_export(tmp_path_factory.mktemp("export") / "clean")


def _poison(clean_dir, tmp_path, table, column, value, row=ROW):
    out = tmp_path / "poisoned"
    out.mkdir()
    for file in clean_dir.iterdir():
        (out / file.name).write_bytes(file.read_bytes())
    frame = pd.read_csv(out / f"{table}.csv", dtype=str, keep_default_na=False)
    frame.loc[row, column] = value
    frame.to_csv(out / f"{table}.csv", index=False)
    return out


def _only_problem(directory):
    with pytest.raises(DataValidationError) as info:
        Dataset.load(directory)
    (problem,) = info.value.problems
    return problem


def _frames(clean_dir) -> dict[str, pd.DataFrame]:
    """The export's tables as raw text frames (what `Dataset.from_frames` receives from ingest or tests)."""
    return {f.stem: pd.read_csv(f, dtype=str, keep_default_na=False) for f in clean_dir.glob("*.csv")}


def _counts(url) -> dict[str, int]:
    engine = engine_for(url)
    with engine.connect() as conn:
        return {
            name: conn.execute(sa.select(sa.func.count()).select_from(CANONICAL[name])).scalar_one()
            for name in ("employees", "customers", "ownership_changes", "leads", "orders", "targets")
        }


@pytest.mark.parametrize("table, column, value, rule", POISON)
def test_each_poisoned_value_is_refused_by_validate_with_rule_row_and_value(
    clean_dir, tmp_path, table, column, value, rule
):
    bad = _poison(clean_dir, tmp_path, table, column, value)
    problem = _only_problem(bad)  # refused as itself: no knock-on "required value is empty"
    assert (problem.table, problem.column, problem.rule, problem.rows, problem.count) == (
        table,
        column,
        rule,
        (ROW + 2,),
        1,
    )
    assert repr(value) in problem.detail
    result = CliRunner().invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert f"{table}.{column}: {rule}" in result.output and repr(value) in result.output


@pytest.mark.parametrize("table, column, value, rule", IMPORT_CASES)
def test_each_poisoned_value_is_refused_by_import_and_nothing_is_written(
    clean_dir, tmp_path, table, column, value, rule
):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["import", str(clean_dir), "--store-url", url]).exit_code == 0
    before = _counts(url)
    frame = pd.read_csv(clean_dir / f"{table}.csv", dtype=str, keep_default_na=False)
    changed = _poison(clean_dir, tmp_path, table, column, value)
    # a new record too, so a half-done import would show in the counts
    extra = frame.iloc[[ROW]].copy()
    extra.iloc[0, 0] = "NEW 0001"
    pd.concat([pd.read_csv(changed / f"{table}.csv", dtype=str, keep_default_na=False), extra]).to_csv(
        changed / f"{table}.csv", index=False
    )
    result = runner.invoke(app, ["import", str(changed), "--store-url", url])
    assert result.exit_code == 1 and "nothing imported" in result.output
    assert f"{table}.{column}: {rule}" in result.output and repr(value) in result.output
    assert _counts(url) == before


def test_bounds_are_inclusive_where_documented(clean_dir, tmp_path):
    """The largest amount, the finest amount, a full-day activity and the first/last instants are fine."""
    out = _poison(clean_dir, tmp_path, "orders", "amount", "1000000000000")
    frame = pd.read_csv(out / "orders.csv", dtype=str, keep_default_na=False)
    frame.loc[4, "amount"] = "0.000001"
    frame.loc[5, "amount"] = "12.5000000000"  # trailing zeros are not decimal places
    frame.loc[6, "closed_at"] = "1900-01-01"
    frame.loc[7, "closed_at"] = "2099-12-31T23:59:59"
    frame.to_csv(out / "orders.csv", index=False)
    ds = Dataset.load(out)
    assert ds.orders.loc[[3, 4, 5], "amount"].tolist() == [1e12, 1e-6, 12.5]
    assert ds.orders.loc[7, "closed_at"] == pd.Timestamp("2099-12-31T23:59:59")
    frame.loc[7, "closed_at"] = "2100-01-01"
    frame.to_csv(out / "orders.csv", index=False)
    assert _only_problem(out).rule == "must be between 1900-01-01 and 2100-01-01"


@pytest.mark.parametrize(
    "table, column, ok, bad, rule",
    [
        ("activities", "duration_minutes", 1440, 1441, "must be <= 1440"),
        ("satisfaction", "score", 100, 100.5, "must be <= 100"),
        ("metrics", "value", -1e12, -2e12, "must be >= -1e12"),
        ("metrics", "value", 1e12, np.inf, "must be a finite number"),
    ],
)
def test_ranges_of_activities_surveys_and_metrics(clean_dir, table, column, ok, bad, rule):
    frames = _frames(clean_dir)
    untracked = set(UNTRACKED) - {table}
    emp, cust = "EMP 001", "CUST 0001"
    rows = {
        "activities": {"activity_id": "A 1", "employee_id": emp, "type": "call", "occurred_at": "2017-01-03"},
        "satisfaction": {"survey_id": "S 1", "customer_id": cust, "responded_at": "2017-01-03"},
        "metrics": {"employee_id": emp, "period": "2017-01", "metric": "teaching"},
    }[table]
    for value, fine in ((ok, True), (bad, False)):
        frames[table] = pd.DataFrame([{**rows, column: value}, {**rows, column: value}]).assign(
            **{TABLES[table].key[0]: ["K 1", "K 2"]} if table != "metrics" else {"metric": ["m1", "m2"]}
        )
        if fine:
            assert len(Dataset.from_frames(frames, untracked=untracked).table(table)) == 2
            continue
        with pytest.raises(DataValidationError) as info:
            Dataset.from_frames(frames, untracked=untracked)
        (p,) = info.value.problems
        assert (p.table, p.column, p.rule, p.rows, p.count) == (table, column, rule, (2, 3), 2)


def test_one_pass_lists_row_and_reference_problems_together(clean_dir, tmp_path):
    """Before, reference problems appeared only once every row problem was fixed (two runs)."""
    out = _poison(clean_dir, tmp_path, "orders", "amount", "inf")
    frame = pd.read_csv(out / "orders.csv", dtype=str, keep_default_na=False)
    frame.loc[6, "employee_id"] = "EMP 404"
    frame.to_csv(out / "orders.csv", index=False)
    leads = pd.read_csv(out / "leads.csv", dtype=str, keep_default_na=False)
    leads.loc[0, "customer_id"] = "CUST 9999"
    leads.loc[1, "created_at"] = "yesterday"
    leads.to_csv(out / "leads.csv", index=False)
    with pytest.raises(DataValidationError) as info:
        Dataset.load(out)
    found = {(p.table, p.column, p.rule, p.rows) for p in info.value.problems}
    assert found == {
        ("orders", "amount", "must be a finite number", (ROW + 2,)),
        ("orders", "employee_id", "must reference an existing employees.employee_id", (8,)),
        ("leads", "customer_id", "must reference an existing customers.customer_id", (2,)),
        ("leads", "created_at", "must be an ISO 8601 timestamp", (3,)),
    }
    shown = {p.column: p.detail for p in info.value.problems}
    assert shown["employee_id"] == "e.g. 'EMP 404'" and shown["customer_id"] == "e.g. 'CUST 9999'"


def test_from_frames_refuses_typed_floats_and_timestamps_not_only_text(clean_dir):
    """JSON bodies and Parquet carry numbers and datetimes, not text: 1e300, inf, 1e-7, year 1600 too."""
    frames = _frames(clean_dir)
    orders = frames["orders"].copy()
    orders["amount"] = orders["amount"].astype(float)
    orders.loc[0, "amount"], orders.loc[1, "amount"], orders.loc[2, "amount"] = 1e300, np.inf, 1e-7
    orders["closed_at"] = pd.to_datetime(orders["closed_at"]).astype("datetime64[us]")
    orders.loc[3, "closed_at"] = pd.Timestamp("1600-01-01")
    with pytest.raises(DataValidationError) as info:
        Dataset.from_frames({**frames, "orders": orders}, first_row=0, untracked=UNTRACKED)
    found = {(p.column, p.rule, p.rows, p.detail) for p in info.value.problems}
    assert found == {
        ("amount", "must be <= 1e12", (0,), "e.g. 1e+300"),
        ("amount", "must be a finite number", (1,), "e.g. inf"),
        ("amount", "must have at most 6 decimal places", (2,), "e.g. 1e-07"),
        ("closed_at", "must be between 1900-01-01 and 2100-01-01", (3,), "e.g. 1600-01-01 00:00:00"),
    }


def test_parquet_with_inf_and_year_1600_is_refused_not_a_crash(clean_dir, tmp_path):
    ds = Dataset.load(clean_dir)
    out = ds.save(tmp_path / "pq", format="parquet")
    orders = pd.read_parquet(out / "orders.parquet")
    orders.loc[0, "amount"] = np.inf
    orders["closed_at"] = orders["closed_at"].astype("datetime64[us]")
    orders.loc[1, "closed_at"] = pd.Timestamp("1600-01-01")
    orders.to_parquet(out / "orders.parquet", index=False)
    with pytest.raises(DataValidationError) as info:
        Dataset.load(out)
    assert {(p.column, p.rule, p.rows) for p in info.value.problems} == {
        ("amount", "must be a finite number", (1,)),  # Parquet has no header: the first record is row 1
        ("closed_at", "must be between 1900-01-01 and 2100-01-01", (2,)),
    }


def test_duplicate_keys_and_nul_in_a_column_name_are_named_with_their_values(clean_dir, tmp_path):
    out = _poison(clean_dir, tmp_path, "targets", "employee_id", "EMP 001", row=4)  # was EMP 002, 2017-01
    text = (out / "customers.csv").read_text(encoding="utf-8")
    (out / "customers.csv").write_text(text.replace("region", "reg\x00ion", 1), encoding="utf-8")
    with pytest.raises(DataValidationError) as info:
        Dataset.load(out)
    found = {(p.table, p.column, p.rule): p for p in info.value.problems}
    assert set(found) == {
        ("targets", "employee_id", "duplicate key (employee_id, period, metric) must be unique"),
        ("customers", "'reg\\x00ion'", "column name must not contain a NUL character"),
    }
    duplicate = found["targets", "employee_id", "duplicate key (employee_id, period, metric) must be unique"]
    assert duplicate.detail == "e.g. 'EMP 001/2017-01/revenue'" and duplicate.rows == (2, 6)


def test_empty_tables_are_typed_exactly_as_parsing_zero_rows_would_type_them():
    from perfml.schema import TABLES
    from perfml.validation import empty_table, parse_table

    for name, table in TABLES.items():
        parsed = parse_table(table, pd.DataFrame({c: pd.Series([], dtype="string") for c in table.names}))[0]
        pd.testing.assert_frame_equal(empty_table(name), parsed, obj=name)
