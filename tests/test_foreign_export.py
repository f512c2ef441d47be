"""The whole path on an export written the way real CRMs write them (`helpers.foreign_export`)."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import perfml
from helpers.foreign_export import (
    AGENTS,
    CURRENCY,
    FX_RATES,
    LATE_HIRE,
    MONTHS,
    NO_DEALS_AGENT,
    POISON,
    REASONS,
    UNTRACKED,
    write_foreign_export,
)
from perfml.cli import app
from perfml.dataset import Dataset
from perfml.errors import DataValidationError
from perfml.store import CANONICAL, engine_for, read_dataset


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return write_foreign_export(tmp_path_factory.mktemp("foreign") / "export")


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory):
    return write_foreign_export(tmp_path_factory.mktemp("foreign") / "poisoned", poisoned=True)


def _counts(url) -> dict[str, int]:
    with engine_for(url).connect() as conn:
        return {
            name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for name, table in CANONICAL.items()
        }


def test_export_looks_like_a_real_crm_export(export, tmp_path):
    text = {f.stem: pd.read_csv(f, dtype=str) for f in export.glob("*.csv")}
    assert list(text["orders"].columns) == [
        "order_id",
        "customer_id",
        "employee_id",
        "closed_at",
        "amount",
        "order_type",
        "currency",
    ]
    for table, column in (("orders", "closed_at"), ("ownership_changes", "changed_at"), ("leads", "created_at")):
        assert text[table][column].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all(), table  # dates, no times
    assert sorted(p.name for p in export.iterdir()) == [
        "customers.csv",
        "dataset.yaml",
        "employees.csv",
        "fx_rates.csv",
        "leads.csv",
        "orders.csv",
        "ownership_changes.csv",
        "targets.csv",
    ]
    ds = Dataset.load(export)
    assert ds.untracked == set(UNTRACKED)
    sellers = ds.employees.loc[ds.employees["role"] == "sales", "employee_id"]
    assert sellers.tolist() == list(AGENTS) and all(" " in e for e in sellers)
    assert set(ds.orders["employee_id"]) == set(AGENTS) - {NO_DEALS_AGENT}
    for name in ("orders", "leads", "targets", "ownership_changes"):  # nothing at all for the no-deals agent
        assert not ds.table(name).isin([NO_DEALS_AGENT]).any().any(), name
    assert set(ds.orders["closed_at"].dt.strftime("%Y-%m")) == set(MONTHS)
    assert (
        ds.orders["closed_at"].min()
        >= ds.employees.set_index("employee_id").loc[ds.orders["employee_id"], "hire_date"].min()
    )
    assert ds.orders.loc[ds.orders["employee_id"] == LATE_HIRE, "closed_at"].min() >= pd.Timestamp("2017-02-13")
    assert set(ds.ownership_changes["reason"].dropna()) == set(REASONS)
    assert set(ds.orders["currency"]) == {"USD", "EUR"}  # two currencies, converted by fx_rates
    assert len(ds.fx_rates) == len(FX_RATES)
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
        currencies = conn.execute(sa.select(CANONICAL["orders"].c.currency).distinct()).scalars().all()
    assert sorted(currencies) == ["EUR", "USD"]


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


def test_whole_path_on_the_export_gates_falls_back_and_says_which_state(export, tmp_path, perfml_home):
    """validate -> import -> train (the gates refuse, naming the cause) -> score (baseline or a state for
    every unit, never a number for what the data cannot tell) -> bonus (untracked indicators left out)."""
    runner = CliRunner()
    assert runner.invoke(app, ["import", str(export)]).exit_code == 0
    result = runner.invoke(app, ["train", "all", "--data", str(export)])
    assert result.exit_code == 1, result.output  # nothing could be trained on four months
    text = " ".join(result.output.split())
    assert "transfer-anomaly cannot train" in text and "decline cannot train" in text
    assert "high-performer cannot train" in text and "labelled units of both outcomes" in text
    assert "the data covers" in text and "Traceback" not in result.output
    models = runner.invoke(app, ["models"])
    assert models.output.count("degraded:") == 3

    out = tmp_path / "decline.csv"
    result = runner.invoke(
        app, ["score", "decline", "--data", str(export), "--out", str(out), "--as-of", "2017-04-15T12:00"]
    )
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out, dtype={"employee_id": str}).set_index("employee_id")
    assert (scores["source"] == "baseline").all()
    assert pd.to_datetime(scores["as_of"]).eq(pd.Timestamp("2017-04-15 12:00")).all()  # the instant, not moved
    assert (scores["months_to"] == "2017-03").all()  # the complete months before it, said out loud
    assert scores.loc[NO_DEALS_AGENT, "state"] == "no_activity" and pd.isna(scores.loc[NO_DEALS_AGENT, "probability"])
    assert scores.loc[LATE_HIRE, "state"] == "insufficient_history"
    assert "3 needed" in scores.loc[LATE_HIRE, "state_reason"]
    scored = scores[scores["state"] == "scored"]
    assert len(scored) == len(AGENTS) - 2 and scored["probability"].between(0, 1).all()
    assert scored["probability"].nunique() > 1  # the baseline ranks people; it never scores everyone alike

    for model, untracked_input in (("transfer-anomaly", "activities"), ("high-performer", "activities")):
        out = tmp_path / f"{model}.csv"
        assert runner.invoke(app, ["score", model, "--data", str(export), "--out", str(out)]).exit_code == 0
        frame = pd.read_csv(out)
        # both baselines read activities, which the export does not track: no numbers, a reason instead
        assert len(frame) and (frame["state"] == "not_tracked").all() and frame["score"].isna().all()
        assert frame["state_reason"].str.contains(f"from {untracked_input}").all()

    plan = tmp_path / "plan.yaml"
    builtin = Path(perfml.__file__).parent / "plans" / "sales-default.yaml"
    plan.write_text(builtin.read_text().replace("effective_from: 2020-01-01", "effective_from: 2016-01-01"))
    out = tmp_path / "bonus.json"
    result = runner.invoke(
        app, ["bonus", "--plan", str(plan), "--data", str(export), "--period", "2017-03", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    run = json.loads(out.read_text())
    first = next(r for r in run["results"] if r["employee_id"] == AGENTS[0])
    rows = {i["id"]: i for i in first["scorecard"]["indicators"]}
    assert rows["visits"]["points"] is None and "visits is not tracked" in rows["visits"]["note"]
    assert rows["satisfaction"]["points"] is None and "not tracked" in rows["satisfaction"]["note"]
    present = sum(Decimal(i["weight"]) for i in rows.values() if i["points"] is not None)
    assert Decimal(first["scorecard"]["weights_present"]) == present == Decimal(65)  # revenue 40 + leads 25
    # the bonus converts each order at its month's rate to the plan's CNY, it does not sum dollars
    ds = Dataset.load(export)
    team = ds.employees.set_index("employee_id").loc[AGENTS[0], "team_id"]
    mine = ds.orders[
        (ds.orders["employee_id"] == AGENTS[0]) & (ds.orders["closed_at"].dt.strftime("%Y-%m") == "2017-03")
    ]
    rate = Decimal(FX_RATES[("2017-03", CURRENCY[team])])
    expected = sum(
        ((Decimal(str(a)) * rate).quantize(Decimal("0.01"), ROUND_HALF_UP) for a in mine["amount"]), Decimal(0)
    )
    assert len(mine) and Decimal(rows["revenue"]["inputs"][0]["value"]) == expected
    notes = [c["explanation"] for c in first["credits"]]
    assert len(notes) == len(mine) and all(
        f"{CURRENCY[team]} × {FX_RATES[('2017-03', CURRENCY[team])].rstrip('0')}" in n for n in notes
    )


def test_the_store_remembers_what_the_export_does_not_track(export, tmp_path):
    """The service reads the store, not the folder: the manifest travels with the import."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["import", str(export), "--store-url", url]).exit_code == 0
    assert read_dataset(url).untracked == set(UNTRACKED)
    # a later export that does track activities (and has some) replaces the declaration
    tracked = tmp_path / "tracked"
    ds = Dataset.load(export)
    acts = pd.DataFrame(
        {
            "activity_id": ["A 1"],
            "employee_id": [AGENTS[0]],
            "type": ["call"],
            "occurred_at": [pd.Timestamp("2017-04-03")],
        }
    )
    Dataset({**ds.tables, "activities": acts}, untracked={"satisfaction"}).save(tracked)
    assert runner.invoke(app, ["import", str(tracked), "--store-url", url]).exit_code == 0
    assert read_dataset(url).untracked == {"satisfaction"}
    # declaring untracked what the store now holds is refused, and nothing changes
    result = runner.invoke(app, ["import", str(export), "--store-url", url])
    assert result.exit_code == 1 and "activities: 1 rows" in " ".join(result.output.split())
    assert read_dataset(url).untracked == {"satisfaction"}
