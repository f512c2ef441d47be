"""The engine over a tiny dataset: crediting and holds, traces, byte-identical output, what-if, CLI."""

from __future__ import annotations

import json
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from helpers.rule_data import make_dataset
from helpers.rule_plans import plan_yaml
from perfml.cli import app
from perfml.errors import PlanError
from perfml.rules import credit_ledger, evaluate, load_plan, parse_plan, plan_hash, what_if

D = Decimal
EMPLOYEES = [
    dict(employee_id="r1", role="sales", team_id="t1", hire_date="2020-01-01"),
    dict(employee_id="a1", role="assistant", team_id="t1", hire_date="2022-01-01"),
    dict(employee_id="m1", role="manager", team_id="t1", hire_date="2019-01-01"),
]
CUSTOMERS = [dict(customer_id=c, created_at="2022-01-01") for c in ("c1", "c2", "c3")]
CHANGES = [
    dict(change_id="x1", customer_id="c1", to_employee_id="r1", changed_at="2023-01-01"),
    # r1 hands c1, about to buy, to the assistant
    dict(change_id="x2", customer_id="c1", from_employee_id="r1", to_employee_id="a1", changed_at="2024-03-05"),
    dict(change_id="x3", customer_id="c2", to_employee_id="r1", changed_at="2023-01-01"),
    # a first assignment straight to the assistant is not a transfer
    dict(change_id="x4", customer_id="c3", to_employee_id="a1", changed_at="2024-01-01"),
]
ORDERS = [
    dict(order_id="o0", customer_id="c2", employee_id="r1", closed_at="2023-03-10", amount="104000"),
    dict(order_id="o1", customer_id="c1", employee_id="a1", closed_at="2024-03-20", amount="50000"),
    dict(order_id="o2", customer_id="c2", employee_id="r1", closed_at="2024-03-10", amount="130000"),
    dict(order_id="o3", customer_id="c3", employee_id="a1", closed_at="2024-03-12", amount="1000"),
]
TARGETS = [
    dict(employee_id=e, period="2024-03", metric="revenue", target=t) for e, t in (("r1", "100000"), ("a1", "20000"))
]


def dataset(**extra):
    tables = dict(employees=EMPLOYEES, customers=CUSTOMERS, ownership_changes=CHANGES, orders=ORDERS, targets=TARGETS)
    tables.update(extra)
    return make_dataset(**tables)


@pytest.fixture(scope="module")
def ds():
    return dataset()


def revenue_input(result):
    return next(i for i in result.scorecard["indicators"] if i["id"] == "revenue")["inputs"][0]


def scores(**by_change):
    return pd.DataFrame({"change_id": list(by_change), "score": list(by_change.values())})


# -- crediting -----------------------------------------------------------------------------------------
def test_transferred_customers_50000_order_counts_10000_toward_the_assistant(ds):
    ledger = credit_ledger(ds, load_plan("sales-default").crediting)
    o1 = ledger[ledger["order_id"] == "o1"].iloc[0]
    assert (o1["status"], o1["employee_id"], o1["share_bp"], o1["change_id"]) == ("transfer", "a1", 2000, "x2")
    o3 = ledger[ledger["order_id"] == "o3"].iloc[0]
    assert (o3["status"], o3["share_bp"]) == ("direct", 10000)
    run = evaluate("sales-default", ds, "2024-03")
    a1 = run.result("a1", "2024-03")
    rev = revenue_input(a1)
    assert rev.value == D("11000") and rev.ids == ["o1", "o3"]  # 20% of 50,000 + the direct 1,000
    assert a1.credits[0]["order_id"] == "o1" and a1.credits[0]["share_pct"] == D(20)
    # the rep who handed the customer over gets nothing for it (remainder: nobody)
    assert revenue_input(run.result("r1", "2024-03")).value == D("130000")


def test_held_change_is_credited_to_nobody(ds):
    run = evaluate("sales-default", ds, "2024-03", scores=scores(x2=0.9))
    assert revenue_input(run.result("a1", "2024-03")).value == D("1000")
    assert revenue_input(run.result("r1", "2024-03")).value == D("130000")
    assert len(run.holds) == 1
    hold = run.holds[0]
    assert (hold["change_id"], hold["orders"], hold["amount"], hold["to_employee_id"]) == (
        "x2",
        ["o1"],
        D("50000"),
        "a1",
    )


def test_score_exactly_at_threshold_holds_just_below_does_not(ds):
    assert len(evaluate("sales-default", ds, "2024-03", scores=scores(x2=0.8)).holds) == 1
    assert evaluate("sales-default", ds, "2024-03", scores=scores(x2=0.79)).holds == []


def test_released_hold_credits_the_receiver(ds):
    run = evaluate("sales-default", ds, "2024-03", scores=scores(x2=0.9), reviews={"x2": "release"})
    assert run.holds == []
    assert revenue_input(run.result("a1", "2024-03")).value == D("11000")
    assert run.result("a1", "2024-03").credits[0]["status"] == "released"


def test_voided_hold_credits_stay_with_the_original_owner(ds):
    run = evaluate("sales-default", ds, "2024-03", scores=scores(x2=0.9), reviews={"x2": "void"})
    assert revenue_input(run.result("a1", "2024-03")).value == D("1000")
    r1 = run.result("r1", "2024-03")
    assert revenue_input(r1).value == D("180000") and revenue_input(r1).ids == ["o1", "o2"]
    assert r1.credits[0]["status"] == "voided"


def test_audit_label_voids_a_confirmed_anomalous_transfer():
    ds = dataset(transfer_labels=[dict(change_id="x2", is_anomalous="1", reviewed_at="2024-03-25")])
    run = evaluate("sales-default", ds, "2024-03")
    assert revenue_input(run.result("r1", "2024-03")).value == D("180000")


def test_remainder_can_go_back_to_the_from_owner(ds):
    doc = load_plan("sales-default").model_dump(mode="json", by_alias=True, exclude_none=True)
    doc["crediting"]["remainder"] = "from_owner"
    plan = parse_plan(plan_yaml(doc), "t").plan
    run = evaluate(plan, ds, "2024-03")
    assert revenue_input(run.result("r1", "2024-03")).value == D("170000")  # 130,000 + 80% of 50,000
    assert revenue_input(run.result("a1", "2024-03")).value == D("11000")


# -- results and traces --------------------------------------------------------------------------------
def test_seed_numbers_through_the_whole_engine(ds):
    r1 = evaluate("sales-default", ds, "2024-03").result("r1", "2024-03")
    assert r1.segment == "veteran"
    assert r1.line("commission").value == D("14500.00")
    growth = r1.line("growth_bonus")  # 130,000 vs 104,000 = 25% -> 15% of the 26,000 increase
    assert growth.value == D("3900.00") and "rate 15%" in growth.formula
    last_year = next(i for i in growth.inputs if i.name == "revenue_last_year")
    assert (last_year.value, last_year.source, last_year.period, last_year.ids) == (
        D("104000"),
        "orders",
        "2023-03",
        ["o0"],
    )
    assert r1.total == sum(ln.value for ln in r1.lines)


def test_trace_carries_rule_ids_sources_and_plan_identity(ds):
    run = evaluate("sales-default", ds, "2024-03")
    plan = load_plan("sales-default")
    assert run.plan["id"] == "sales-default" and run.plan["version"] == "1.0.0"
    assert run.plan["hash"] == plan_hash(plan) and len(run.plan["hash"]) == 64
    doc = run.to_dict()
    r1 = next(r for r in doc["results"] if r["employee_id"] == "r1")
    rules = [ln["rule"] for ln in r1["lines"]]
    assert rules == [
        "segments.veteran.base_bonus",
        "segments.veteran.commission",
        "segments.veteran.growth_bonus",
        "segments.veteran.team_bonus",
        "segments.veteran.milestone_bonus",
        "segments.veteran.satisfaction_gate",
    ]
    commission = r1["lines"][1]
    assert commission["value"] == "14500.00"
    assert commission["inputs"][0] == {
        "name": "revenue",
        "value": "130000",
        "source": "orders",
        "period": "2024-03",
        "ids": ["o2"],
        "note": "as credited (crediting rules applied)",
    }
    assert commission["inputs"][1]["key"] == {"employee_id": "r1", "period": "2024-03", "metric": "revenue"}
    assert run.skipped == [
        {"employee_id": "m1", "period": "2024-03", "reason": "no segment selects role manager at tenure 62 months"}
    ]


def test_output_is_byte_identical_across_runs_and_reloads(ds):
    first = evaluate("sales-default", ds, "2024-03", scores=scores(x2=0.9)).to_json()
    again = evaluate("sales-default", dataset(), "2024-03", scores=scores(x2=0.9)).to_json()
    assert first == again
    run = evaluate("sales-default", ds, "2024-03")
    assert json.loads(run.to_json()) == run.to_dict()  # the streamed file and the dict API agree
    assert json.loads(run.to_json(render=False)) == run.to_dict(render=False)


@given(st.lists(st.decimals(min_value=0, max_value=300_000, places=2), min_size=1, max_size=4))
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_identical_output_and_totals_add_up(amounts):
    orders = [
        dict(order_id=f"p{i}", customer_id="c2", employee_id="r1", closed_at=f"2024-03-{i + 1:02d}", amount=str(a))
        for i, a in enumerate(amounts)
    ]
    ds = dataset(orders=ORDERS[:1] + orders)
    a, b = evaluate("sales-default", ds, "2024-03"), evaluate("sales-default", ds, "2024-03")
    assert a.to_json() == b.to_json()
    r1 = a.result("r1", "2024-03")
    assert revenue_input(r1).value == sum(amounts)
    assert r1.total == sum(ln.value for ln in r1.lines)
    assert all(ln.value == ln.value.quantize(D("0.01")) for ln in r1.lines)


def test_what_if_overrides_metric_values(ds):
    result = what_if("sales-default", ds, employee_id="r1", period="2024-03", overrides={"revenue": 200_000})
    assert result.line("commission").value == D("25000.00")  # 10% × 100,000 + 15% × 100,000
    rev = result.line("commission").inputs[0]
    assert (rev.value, rev.source) == (D("200000"), "what-if")
    # growth follows the overridden revenue: 200,000 vs 104,000 -> 20% of 96,000
    assert result.line("growth_bonus").value == D("19200.00")
    with pytest.raises(PlanError, match="m1 is not evaluated"):
        what_if("sales-default", ds, employee_id="m1", period="2024-03", overrides={})


def test_plan_outside_its_effective_dates_is_refused(ds):
    with pytest.raises(PlanError, match="takes effect 2020-01-01; period 2019-12 is before it"):
        evaluate("sales-default", ds, "2019-12")


def test_school_plan_runs_on_the_metrics_table():
    teachers = [dict(employee_id="t1", role="sales", team_id="s1", hire_date="2015-01-01")]
    metrics = [
        dict(employee_id="t1", period="2024-09", metric="teaching_score", value="90"),
        dict(employee_id="t1", period="2024-09", metric="research_output", value="4"),
        dict(employee_id="t1", period="2023-09", metric="research_output", value="3"),
    ]
    ds = make_dataset(employees=teachers, metrics=metrics)
    result = evaluate("school-teachers", ds, "2024-09").result("t1", "2024-09")
    assert result.scorecard["total"] == D("100.00")
    assert result.line("base_bonus").value == D("2000.00")
    growth = result.line("growth_bonus")  # research 4 vs 3 = 33.33% -> 10% of the base bonus
    assert growth.value == D("200.00")
    teaching = result.scorecard["indicators"][0]["inputs"][0]
    assert teaching.source == "metrics" and teaching.key == {
        "employee_id": "t1",
        "period": "2024-09",
        "metric": "teaching_score",
    }


# -- CLI -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, ds):
    path = tmp_path_factory.mktemp("tiny") / "data"
    ds.save(path)
    return path


def test_cli_bonus_writes_json_and_csv_summary(data_dir, tmp_path):
    runner = CliRunner()
    (tmp_path / "scores.csv").write_text("change_id,score\nx2,0.95\n")
    out = tmp_path / "run" / "bonus.json"
    args = [
        "bonus",
        "--plan",
        "sales-default",
        "--data",
        str(data_dir),
        "--period",
        "2024-03",
        "--out",
        str(out),
        "--scores",
        str(tmp_path / "scores.csv"),
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    first = out.read_bytes()
    csv_lines = out.with_suffix(".csv").read_text().splitlines()
    assert csv_lines[0].startswith("employee_id,period,role,team_id,segment,scorecard_total,base_bonus,commission")
    assert any(line.startswith("r1,2024-03,sales,t1,veteran,") and ",14500.00," in line for line in csv_lines)
    assert json.loads(first)["holds"][0]["change_id"] == "x2"  # the hold is listed
    assert runner.invoke(app, args).exit_code == 0 and out.read_bytes() == first


def test_cli_bonus_explain_prints_the_trace(data_dir):
    res = CliRunner().invoke(
        app, ["bonus", "explain", "--employee", "r1", "--period", "2024-03", "--data", str(data_dir)]
    )
    assert res.exit_code == 0, res.output
    assert "commission" in res.output and "14,500.00" in res.output
    assert "10% × 100,000.00 + 15% × 30,000.00" in res.output
    assert "orders 2024-03 rows [o2]" in res.output
    missing = CliRunner().invoke(
        app, ["bonus", "explain", "--employee", "m1", "--period", "2024-03", "--data", str(data_dir)]
    )
    assert missing.exit_code == 1 and "no segment selects role manager" in missing.output


def test_cli_bonus_requires_its_options(data_dir):
    res = CliRunner().invoke(app, ["bonus", "--plan", "sales-default", "--data", str(data_dir)])
    assert res.exit_code == 2 and "--period" in res.output


def test_cli_bad_scores_file_is_a_clear_error(data_dir, tmp_path):
    bad = tmp_path / "s.csv"
    bad.write_text("change,score\nx2,0.9\n")
    res = CliRunner().invoke(
        app,
        [
            "bonus",
            "--plan",
            "sales-default",
            "--data",
            str(data_dir),
            "--period",
            "2024-03",
            "--out",
            str(tmp_path / "o.json"),
            "--scores",
            str(bad),
        ],
    )
    assert res.exit_code == 1 and "missing column(s) change_id" in res.output
    assert not (tmp_path / "o.json").exists()


def test_scores_and_reviews_files_are_checked(tmp_path):
    from perfml.errors import PerfmlError
    from perfml.rules.crediting import load_reviews, load_scores

    good = tmp_path / "scores.csv"
    good.write_text("change_id,score\nx2,0.8\nx1,0.1\n")
    assert load_scores(good)["score"].tolist() == [0.8, 0.1]
    bad = tmp_path / "bad.csv"
    bad.write_text("change_id,score\nx2,high\n")
    with pytest.raises(PerfmlError, match=r"numeric score are required — row\(s\) 2"):
        load_scores(bad)
    dup = tmp_path / "dup.csv"
    dup.write_text("change_id,score\nx2,0.1\nx2,0.2\n")
    with pytest.raises(PerfmlError, match="change_id must be unique"):
        load_scores(dup)
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("change_id,decision\nx2,release\nx3,void\n")
    assert load_reviews(reviews) == {"x2": "release", "x3": "void"}
    reviews.write_text("change_id,decision\nx2,approve\n")
    with pytest.raises(PerfmlError, match=r"decision must be release or void — row\(s\) 2"):
        load_reviews(reviews)


def test_one_run_over_two_periods_equals_two_monthly_runs():
    ds = dataset(
        orders=ORDERS + [dict(order_id="o9", customer_id="c2", employee_id="r1", closed_at="2024-04-02", amount="5000")]
    )
    both = evaluate("sales-default", ds, ["2024-03", "2024-04"])
    for period in ("2024-03", "2024-04"):
        alone = evaluate("sales-default", ds, period)
        assert [r.to_dict() for r in both.results if r.period == period] == [r.to_dict() for r in alone.results]
    assert [r.period for r in both.results] == ["2024-03", "2024-03", "2024-04", "2024-04"]
