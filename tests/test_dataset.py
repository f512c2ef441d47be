"""The data contract: every rule fails with a message naming table, column, rule and rows."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from perfml.cli import app
from perfml.dataset import Dataset
from perfml.errors import DataValidationError
from perfml.schema import TABLES

# A tiny company written "by another tool": CSV text, ISO timestamps, empty optional fields.
TINY = {
    "employees": "employee_id,role,team_id,manager_id,hire_date,probation_end_date,termination_date,"
    "attr_prior_experience_years,attr_education\n"
    "M1,manager,T1,,2023-01-01,,,10,master\n"
    "E1,sales,T1,M1,2023-02-01,2023-05-01,,2,bachelor\n"
    "A1,assistant,T1,M1,2023-03-01,2023-06-01,2024-06-30,,college\n",
    "customers": "customer_id,created_at,segment,region\n"
    "C1,2024-01-02T09:00:00,smb,north\nC2,2024-01-05T10:30:00+08:00,,\n",
    "ownership_changes": "change_id,customer_id,from_employee_id,to_employee_id,changed_at,reason\n"
    "X1,C1,,E1,2024-01-02T09:00:00,\nX2,C1,E1,A1,2024-02-01T12:00:00,handover\nX3,C2,,E1,2024-01-05T02:30:00,\n",
    "activities": "activity_id,employee_id,customer_id,lead_id,type,occurred_at,duration_minutes\n"
    "V1,E1,C1,L1,visit,2024-01-03T08:00:00,45\nV2,E1,C2,,call,2024-01-06T09:00:00,\nV3,A1,C1,,email,2024-02-02T09:00:00,5\n",
    "leads": "lead_id,customer_id,owner_id,created_at,first_contact_at,converted_at,lost_at\n"
    "L1,C1,E1,2024-01-02T09:00:00,2024-01-03T08:00:00,2024-01-20T00:00:00,\nL2,,E1,2024-01-04T09:00:00,,,\n",
    "orders": "order_id,customer_id,employee_id,closed_at,amount,order_type\n"
    "O1,C1,E1,2024-01-20T15:00:00,1200.50,\nO2,C1,A1,2024-02-10T15:00:00,300.25,\nO3,C2,E1,2024-02-11T15:00:00,99.99,new\n",
    "targets": "employee_id,period,metric,target\n"
    "E1,2024-01,revenue,1000\nE1,2024-01,visits,10\nA1,2024-02,revenue,500\n",
    "satisfaction": "survey_id,customer_id,employee_id,responded_at,score\n"
    "S1,C1,E1,2024-01-25T10:00:00,88\nS2,C2,,2024-02-20T10:00:00,70\n",
}


@pytest.fixture
def tiny_dir(tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    for name, text in TINY.items():
        (d / f"{name}.csv").write_text(text)
    return d


def corrupt(directory, table, old, new):
    path = directory / f"{table}.csv"
    text = path.read_text()
    assert old in text, f"fixture text {old!r} not in {table}"
    path.write_text(text.replace(old, new, 1))


def problems_of(directory):
    with pytest.raises(DataValidationError) as info:
        Dataset.load(directory)
    return info.value.problems


def test_tiny_dataset_loads_typed(tiny_dir):
    ds = Dataset.load(tiny_dir)
    assert ds.rows() == {
        "employees": 3,
        "customers": 2,
        "ownership_changes": 3,
        "activities": 3,
        "leads": 2,
        "orders": 3,
        "targets": 3,
        "satisfaction": 2,
    }
    assert str(ds.customers["created_at"].dtype) == "datetime64[ns]"
    # +08:00 is converted to naive UTC
    assert ds.customers.loc[1, "created_at"] == pd.Timestamp("2024-01-05T02:30:00")
    assert ds.orders["amount"].tolist() == [1200.50, 300.25, 99.99]
    # missing order_type derived: first order of C1 is new, second repeat
    assert ds.orders["order_type"].tolist() == ["new", "repeat", "new"]
    # attr_* kept and typed; optional empty fields are missing, not ""
    assert ds.employees["attr_prior_experience_years"].dtype == "float64"
    assert isinstance(ds.employees["attr_education"].dtype, pd.CategoricalDtype)
    assert ds.ownership_changes["from_employee_id"].isna().sum() == 2
    # absent optional tables read as typed empty frames
    assert ds.transfer_labels.empty and list(ds.transfer_labels.columns) == ["change_id", "is_anomalous", "reviewed_at"]
    assert not ds.has("demographics")
    assert ds.date_range() == (pd.Timestamp("2023-01-01"), pd.Timestamp("2024-02-20T10:00:00"))


@pytest.mark.parametrize(
    "table, old, new, column, rule, row",
    [
        ("employees", "E1,sales", "E1,clerk", "role", "must be one of sales, assistant, manager", 3),
        ("employees", "M1,manager,T1", "M1,manager,", "team_id", "required value is empty", 2),
        ("employees", "2023-02-01,2023-05-01", "2023-02-30,2023-05-01", "hire_date", "must be an ISO 8601 date", 3),
        (
            "employees",
            "2023-03-01,2023-06-01,2024-06-30",
            "2023-03-01,2023-06-01,2022-06-30",
            "termination_date",
            "must not precede hire_date",
            4,
        ),
        ("customers", "2024-01-02T09:00:00,smb", "yesterday,smb", "created_at", "must be an ISO 8601 timestamp", 2),
        ("customers", "C2,", "C1,", "customer_id", "duplicate key (customer_id) must be unique", 2),
        ("orders", "1200.50", "-1200.50", "amount", "must be >= 0", 2),
        ("orders", "99.99", "lots", "amount", "must be a number", 4),
        ("orders", "O2,C1,A1", "O2,C9,A1", "customer_id", "must reference an existing customers.customer_id", 3),
        ("orders", "O3,C2,E1", "O3,C2,E404", "employee_id", "must reference an existing employees.employee_id", 4),
        ("orders", ",new", ",old", "order_type", "must be one of new, repeat", 4),
        ("satisfaction", ",88", ",101", "score", "must be <= 100", 2),
        ("targets", "E1,2024-01,visits", "E1,2024-13,visits", "period", "must be a period YYYY-MM", 3),
        (
            "targets",
            "E1,2024-01,visits",
            "E1,2024-01,revenue",
            "employee_id",
            "duplicate key (employee_id, period, metric) must be unique",
            2,
        ),
        (
            "ownership_changes",
            "X2,C1,E1,A1",
            "X2,C1,E9,A1",
            "from_employee_id",
            "must reference an existing employees.employee_id",
            3,
        ),
        (
            "activities",
            "V2,E1,C2,,call",
            "V2,E1,C2,,fax",
            "type",
            "must be one of visit, call, email, meeting, message, other",
            3,
        ),
        ("activities", "V1,E1,C1,L1", "V1,E1,C1,L7", "lead_id", "must reference an existing leads.lead_id", 2),
        ("leads", "L2,,E1", "L2,,", "owner_id", "required value is empty", 3),
    ],
)
def test_every_rule_names_table_column_rule_and_row(tiny_dir, table, old, new, column, rule, row):
    Dataset.load(tiny_dir)  # clean data is valid before the corruption
    corrupt(tiny_dir, table, old, new)
    found = problems_of(tiny_dir)
    match = [p for p in found if p.table == table and p.column == column and p.rule == rule]
    assert match, f"expected {table}.{column}: {rule}; got {[str(p) for p in found]}"
    assert row in match[0].rows
    text = str(match[0])
    assert table in text and column in text and rule in text and str(row) in text


def test_missing_column_and_table_and_all_problems_reported(tiny_dir):
    corrupt(
        tiny_dir,
        "orders",
        "order_id,customer_id,employee_id,closed_at,amount",
        "order_id,customer_id,employee_id,closed_at,value",
    )
    (tiny_dir / "satisfaction.csv").unlink()
    corrupt(tiny_dir, "customers", "C2,2024-01-05T10:30:00+08:00", "C2,not-a-date")
    found = {(p.table, p.column, p.rule) for p in problems_of(tiny_dir)}
    assert ("orders", "amount", "required column is missing") in found
    assert ("satisfaction", None, "required table is missing") in found
    assert ("customers", "created_at", "must be an ISO 8601 timestamp") in found


def test_problem_counts_rows_and_shows_first_five(tiny_dir):
    lines = [f"V{i},E1,C1,,visit,2024-01-03T08:00:00,-{i}" for i in range(10, 22)]
    (tiny_dir / "activities.csv").write_text(TINY["activities"] + "\n".join(lines) + "\n")
    (p,) = [p for p in problems_of(tiny_dir) if p.column == "duration_minutes"]
    assert p.count == 12 and p.rows == (5, 6, 7, 8, 9)
    assert "12 row(s): 5, 6, 7, 8, 9 (+7 more)" in str(p)


def test_extra_columns_kept_and_csv_parquet_round_trip(tiny_dir, tmp_path):
    corrupt(
        tiny_dir,
        "customers",
        "customer_id,created_at,segment,region",
        "customer_id,created_at,segment,region,crm_source",
    )
    corrupt(tiny_dir, "customers", "smb,north", "smb,north,hubspot")
    ds = Dataset.load(tiny_dir)
    assert ds.customers["crm_source"].tolist()[0] == "hubspot"
    for fmt in ("parquet", "csv"):
        out = ds.save(tmp_path / f"out-{fmt}", format=fmt)
        back = Dataset.load(out)
        assert back.rows() == ds.rows()
        for name in ds.rows():
            pd.testing.assert_frame_equal(back.table(name), ds.table(name), check_dtype=False, check_categorical=False)
        assert back.fingerprint() == ds.fingerprint()


def test_optional_tables_validated_when_present(tiny_dir):
    (tiny_dir / "transfer_labels.csv").write_text("change_id,is_anomalous,reviewed_at\nX2,1,\nX9,2,\n")
    (tiny_dir / "demographics.csv").write_text("employee_id,gender\nE1,f\n")
    found = {(p.table, p.column, p.rule) for p in problems_of(tiny_dir)}
    assert ("transfer_labels", "is_anomalous", "must be 0 or 1") in found
    (tiny_dir / "transfer_labels.csv").write_text("change_id,is_anomalous,reviewed_at\nX2,1,\nX9,0,\n")
    found = {(p.table, p.column, p.rule) for p in problems_of(tiny_dir)}
    assert found == {("transfer_labels", "change_id", "must reference an existing ownership_changes.change_id")}
    (tiny_dir / "transfer_labels.csv").write_text("change_id,is_anomalous,reviewed_at\nX2,1,2024-03-01\n")
    ds = Dataset.load(tiny_dir)
    assert ds.transfer_labels["is_anomalous"].tolist() == [1.0] and ds.demographics["gender"].tolist() == ["f"]


def test_before_keeps_only_earlier_records(tiny_dir):
    ds = Dataset.load(tiny_dir).before("2024-02-01T12:00:00")
    assert ds.ownership_changes["change_id"].tolist() == ["X1", "X3"]
    assert ds.orders["order_id"].tolist() == ["O1"]
    assert len(ds.employees) == 3


def test_save_is_all_or_nothing(tiny_dir, tmp_path, monkeypatch):
    ds = Dataset.load(tiny_dir)
    import perfml.dataset as mod

    calls = {"n": 0}
    real = mod.write_table

    def flaky(df, file):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        real(df, file)

    monkeypatch.setattr(mod, "write_table", flaky)
    with pytest.raises(OSError):
        ds.save(tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_cli_validate_exit_codes(tiny_dir):
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", str(tiny_dir)])
    assert ok.exit_code == 0, ok.output
    assert "employees" in ok.output and "date range" in ok.output
    corrupt(tiny_dir, "orders", "1200.50", "-5")
    bad = runner.invoke(app, ["validate", str(tiny_dir)])
    assert bad.exit_code == 1
    assert "orders.amount: must be >= 0" in bad.output and "1 row(s): 2; e.g. '-5'" in bad.output
    usage = runner.invoke(app, ["validate"])
    assert usage.exit_code == 2


def test_contract_lists_the_canonical_tables_and_the_optional_compensation_ones():
    assert {n for n, t in TABLES.items() if t.optional} == {
        "order_adjustments",
        "order_credits",
        "fx_rates",
        "plan_assignments",
        "transfer_labels",
        "demographics",
        "metrics",
    }
    assert set(TABLES) == {
        "order_adjustments",
        "order_credits",
        "fx_rates",
        "plan_assignments",
        "employees",
        "customers",
        "ownership_changes",
        "activities",
        "leads",
        "orders",
        "targets",
        "satisfaction",
        "transfer_labels",
        "demographics",
        "metrics",
    }
    assert [n for n, t in TABLES.items() if t.optional][-3:] == ["transfer_labels", "demographics", "metrics"]


def test_simulated_data_validates(small_dir, tmp_path):
    ds = Dataset.load(small_dir)
    assert ds.rows()["activities"] > 1000 and ds.has("transfer_labels")
    copy = tmp_path / "copy"
    shutil.copytree(small_dir, copy)
    text = (copy / "satisfaction.csv").read_text().splitlines()
    text[5] = ",".join(text[5].split(",")[:-1] + ["150"])
    (copy / "satisfaction.csv").write_text("\n".join(text) + "\n")
    (p,) = problems_of(copy)
    assert (p.table, p.column, p.rule, p.rows) == ("satisfaction", "score", "must be <= 100", (6,))


# -- the manifest: tables the company does not track ---------------------------------------
def test_untracked_tables_may_be_absent_and_read_as_typed_empty_tables(tiny_dir, tmp_path):
    (tiny_dir / "activities.csv").unlink()
    (tiny_dir / "satisfaction.csv").unlink()
    (tiny_dir / "dataset.yaml").write_text("# no activity log, no surveys\nuntracked: [activities, satisfaction]\n")
    ds = Dataset.load(tiny_dir)
    assert ds.untracked == {"activities", "satisfaction"}
    assert "activities" not in ds.rows() and not ds.has("activities")
    assert ds.activities.empty and list(ds.activities.columns) == list(TABLES["activities"].names)
    assert ds.before("2024-02-01").untracked == ds.untracked
    out = ds.save(tmp_path / "copy")
    assert (out / "dataset.yaml").is_file() and Dataset.load(out).untracked == ds.untracked
    # every table tracked again: saving over the folder drops the stale manifest
    Dataset(ds.tables, source="all").save(out)
    assert not (out / "dataset.yaml").exists() and Dataset.load(out).untracked == frozenset()


def test_untracked_table_present_without_rows_is_fine_with_rows_is_a_contradiction(tiny_dir):
    (tiny_dir / "dataset.yaml").write_text("untracked: [satisfaction]\n")
    (p,) = problems_of(tiny_dir)
    assert (p.table, p.column, p.rule) == ("satisfaction", None, "declared untracked in dataset.yaml but has rows")
    assert p.detail.startswith("2 row(s)")
    (tiny_dir / "satisfaction.csv").write_text(TINY["satisfaction"].splitlines()[0] + "\n")
    assert Dataset.load(tiny_dir).untracked == {"satisfaction"}


def test_references_into_an_untracked_table_must_be_empty(tiny_dir):
    (tiny_dir / "leads.csv").unlink()
    (tiny_dir / "dataset.yaml").write_text("untracked: [leads]\n")
    (p,) = problems_of(tiny_dir)
    assert (p.table, p.column, p.rule, p.rows) == (
        "activities",
        "lead_id",
        "must reference an existing leads.lead_id",
        (2,),
    )


def test_absent_required_table_not_declared_says_how_to_declare_it(tiny_dir):
    (tiny_dir / "satisfaction.csv").unlink()
    (tiny_dir / "orders.csv").unlink()
    found = {p.table: p for p in problems_of(tiny_dir)}
    assert set(found) == {"satisfaction", "orders"}
    assert found["satisfaction"].rule == "required table is missing"
    assert "declare it in dataset.yaml: `untracked: [satisfaction]`" in str(found["satisfaction"])
    assert found["orders"].detail == ""  # orders cannot be untracked: no hint to do so
    result = CliRunner().invoke(app, ["validate", str(tiny_dir)])
    assert result.exit_code == 1 and "`untracked: [satisfaction]`" in result.output


@pytest.mark.parametrize(
    "text, column, rule",
    [
        ("untracked: [activites]\n", "untracked", "unknown table 'activites' (expected one of: ownership_changes, "),
        ("untracked: [satisfaction, orders]\n", "untracked", "orders cannot be untracked"),
        ("untraked: [satisfaction]\n", "untraked", "unknown key (expected: untracked)"),
        ("untracked: [satisfaction\n", None, "is not valid YAML"),
        ("untracked: satisfaction\n", "untracked", "must be a list of table names"),
        ("- satisfaction\n", None, "must be a mapping such as `untracked: [activities]`"),
    ],
)
def test_bad_manifest_names_the_file_and_key_together_with_data_problems(tiny_dir, text, column, rule):
    (tiny_dir / "dataset.yaml").write_text(text)
    corrupt(tiny_dir, "orders", "1200.50", "inf")
    found = problems_of(tiny_dir)
    manifest = [p for p in found if p.table == "dataset.yaml"]
    assert len(manifest) == 1 and manifest[0].column == column and manifest[0].rule.startswith(rule), found
    assert ("orders", "amount", "must be a finite number") in {(p.table, p.column, p.rule) for p in found}


def test_cli_validate_lists_untracked_tables(tiny_dir):
    (tiny_dir / "activities.csv").unlink()
    (tiny_dir / "dataset.yaml").write_text("untracked: [activities]\n")
    result = CliRunner().invoke(app, ["validate", str(tiny_dir)])
    assert result.exit_code == 0, result.output
    assert "untracked (declared in dataset.yaml): activities" in result.output


def test_fingerprint_follows_content_not_layout():
    """Sliced or re-chunked, the same values hash the same; one changed character or a missing value differs."""
    from perfml.frames import column_bytes

    def digest(s):
        return b"".join(column_bytes(s))

    ids = pd.Series(["E1", "E2", None, "客户"], dtype="string")
    sliced = pd.concat([pd.Series(["X"], dtype="string"), ids], ignore_index=True).iloc[1:].reset_index(drop=True)
    assert digest(sliced) == digest(ids)
    assert digest(ids) != digest(pd.Series(["E1", "E2", "", "客户"], dtype="string"))
    assert digest(ids) != digest(pd.Series(["E1", "E3", None, "客户"], dtype="string"))
    assert digest(pd.Series(["ab", "c"], dtype="string")) != digest(pd.Series(["a", "bc"], dtype="string"))
    stamps = pd.Series(pd.to_datetime(["2024-01-01", None]))
    assert digest(stamps) == digest(stamps.astype("datetime64[us]"))
