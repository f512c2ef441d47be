"""The column path: the same numbers as the per-row engine (its oracle), written as one Parquet row per
employee-period."""

from __future__ import annotations

import json
import os
from decimal import Decimal, localcontext
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import perfml
import perfml.rules.columnar as columnar
from helpers.rule_plans import plan_yaml
from perfml.cli import app
from perfml.errors import PerfmlError
from perfml.rules import evaluate, load_plan, parse_plan, plan_metrics
from perfml.rules.columnar import evaluate_columns, read_header
from perfml.rules.engine import compute, decimal_context
from perfml.rules.values import DERIVED, Values
from perfml.rules.vector import Col, Columns, segment_lines, supports

D = Decimal
PERIODS = ["2026-01", "2026-02", "2026-03"]

# Every rule the column path computes, in forms the built-in plan does not use.
VARIANT = {
    "id": "variant",
    "version": "1",
    "effective_from": "2020-01-01",
    "indicators": {
        "revenue": {
            "kind": "result",
            "metric": "revenue",
            "target": {"metric": "revenue_target"},
            "scoring": {"type": "ratio", "floor": 20, "cap": 150},
        },
        "visits_low": {  # lower is better: fewer visits than the target scores above 100%
            "kind": "process",
            "metric": "visits",
            "target": {"value": 4},
            "scoring": {"type": "ratio", "better": "lower", "cap": 130},
        },
        "conversion": {
            "kind": "process",
            "metric": "lead_conversion_rate",
            "target": {"value": 0.25},
            "scoring": {
                "type": "bands",
                "on": "ratio",
                "floor": 10,
                "bands": [{"to": 50, "score": 0}, {"from": 50, "to": 100, "score": 60}, {"from": 100, "score": 100}],
            },
            "missing": "skip",
        },
        "satisfaction": {
            "kind": "balance",
            "metric": "avg_satisfaction",
            "scoring": {"type": "bands", "on": "value", "bands": [{"to": 70, "score": 0}, {"from": 70, "score": 90}]},
        },
    },
    "segments": {
        "whole": {
            "select": {"roles": ["sales"], "tenure_months": {"to": 12}},
            "scorecard": {"weights": {"revenue": 40, "visits_low": 20, "conversion": 20, "satisfaction": 20}},
            "base_bonus": {"amount": 4000, "max_score": 110},
            "commission": {
                "mode": "whole",
                "on": "amount",
                "gate": 1000,
                "cap": 5000,
                "bands": [{"from": 0, "to": 50000, "rate": 2}, {"from": 50000, "rate": 4.5}],
            },
            "growth_bonus": {
                "basis": "trailing6",
                "applies_to": "metric",
                "bands": [{"to": 0, "rate": 0}, {"from": 0, "to": 25, "rate": 1}, {"from": 25, "rate": 3}],
            },
            "team_bonus": {"min_growth": 5, "rate": 10},
            "milestone_bonus": {"min_order": 20000, "pays": 250},
            "satisfaction_gate": {"min": 75, "deduct": 25, "missing": "deduct"},
        },
        "fixed": {
            "select": {"roles": ["sales"], "tenure_months": {"from": 12}},
            "scorecard": {"weights": {"revenue": 70, "satisfaction": 30}},
            "base_bonus": {"amount": 1500, "scale_by_scorecard": False},
            "commission": {
                "mode": "marginal",
                "target": {"value": 60000},
                "gate": 40,
                "bands": [
                    {"from": 0, "to": 100, "rate": 5},
                    {"from": 100, "to": 150, "rate": 8},
                    {"from": 150, "rate": 11},
                ],
            },
            "growth_bonus": {"applies_to": "base_bonus", "bands": [{"to": 10, "rate": 0}, {"from": 10, "rate": 20}]},
        },
        "task": {
            "select": {"roles": ["assistant"]},
            "combined_task": {
                "amount": 2500,
                "cap": 110,
                "parts": {
                    "revenue": {
                        "metric": "revenue",
                        "target": {"metric": "revenue_target"},
                        "weight": 2,
                        "counted_up_to": {"share": 50, "of": "revenue_target"},
                    },
                    "new_customers": {
                        "metric": "new_customers",
                        "target": {"metric": "new_customers_target"},
                        "weight": 1,
                        "capacity": {"share": 70, "months": 3},
                    },
                },
            },
            "satisfaction_gate": {"min": 80, "deduct": 10},
        },
    },
}


def _variant():
    report = parse_plan(plan_yaml(VARIANT), "variant")
    assert report.ok, report.errors
    return report.plan


PLANS = {"sales-default": load_plan("sales-default"), "variant": _variant()}

money = st.one_of(
    st.none(),
    st.sampled_from([D(0), D("0.01"), D(40000), D(50000), D(60000), D(100000), D("99999.99"), D(200000)]),
    st.decimals(min_value=0, max_value=400000, places=2, allow_nan=False, allow_infinity=False),
)
count = st.one_of(st.none(), st.integers(0, 30).map(D))
share = st.one_of(
    st.none(), st.floats(0, 1, allow_nan=False).map(lambda f: D(repr(f)) if not f.is_integer() else D(int(f)))
)
score = st.one_of(st.none(), st.sampled_from([D(70), D(75), D(80)]), st.decimals(0, 100, places=2))


def _strategy(name: str):
    if "revenue" in name:
        return money
    if name in ("lead_conversion_rate", "leads_contacted_24h_share"):
        return share
    if name == "avg_satisfaction":
        return score
    return count


def _inputs(plan) -> list[str]:
    """The stored metrics a plan reads (derived ones are computed from these)."""
    return sorted(n for n in plan_metrics(plan) if n not in DERIVED)


@st.composite
def rows(draw, plan_name: str):
    plan = PLANS[plan_name]
    names = _inputs(plan)
    row = st.fixed_dictionaries({n: _strategy(n) for n in names})
    amounts = st.lists(st.sampled_from([D(19999), D(20000), D(200000), D("250000.5")]), max_size=3)
    return draw(st.lists(st.tuples(row, amounts), min_size=1, max_size=12))


def _per_row(plan, seg_id, data, amounts, not_tracked):
    values = Values("e1", "2026-01", dict(data), None, not_tracked)
    return compute(
        plan, seg_id, values, role="sales", team_id="t1", orders=[(f"o{i}", a) for i, a in enumerate(amounts)]
    )


def _assert_same(plan, seg_id, batch, not_tracked):
    names = _inputs(plan)
    with localcontext(decimal_context()):
        cols = Columns(
            {n: Col.of(np.array([data[n] for data, _ in batch], dtype=object)) for n in names},
            len(batch),
            not_tracked,
        )
        got = segment_lines(plan, seg_id, cols, [amounts for _, amounts in batch])
    for k, (data, amounts) in enumerate(batch):
        want = _per_row(plan, seg_id, data, amounts, not_tracked)
        # str: the same digits and exponent, not only an equal value
        card = got.card_total[k] if got.card_total is not None else None
        assert str(card) == str(want.scorecard_total), (seg_id, data)
        indicators = want.scorecard["indicators"] if want.scorecard else []
        assert {i: str(v[k]) for i, v in got.scores.items()} == {i["id"]: str(i["score"]) for i in indicators}
        assert {n: str(v[k]) for n, v in got.lines.items()} == {ln.name: str(ln.value) for ln in want.lines}, data
        assert str(got.total[k]) == str(want.total)


@pytest.mark.parametrize(
    ("plan_name", "seg_id"),
    [(p, s) for p in PLANS for s in PLANS[p].segments],
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_column_lines_equal_the_per_row_engine_digit_for_digit(plan_name, seg_id, data):
    plan = PLANS[plan_name]
    assert supports(plan.segments[seg_id])
    batch = data.draw(rows(plan_name))
    not_tracked = data.draw(st.sampled_from([frozenset(), frozenset({"avg_satisfaction"})]))
    _assert_same(plan, seg_id, batch, not_tracked)


def test_hand_checked_rows_of_the_built_in_plan():
    plan = PLANS["sales-default"]
    veteran = {n: None for n in _inputs(plan)} | {
        "revenue": D(130000),
        "revenue_target": D(100000),
        "visits": D(3),
        "visits_target": D(3),
        "avg_satisfaction": D(85),
        "revenue_last_year": D(100000),
        "team_revenue": D(1100000),
        "team_revenue_last_year": D(1000000),
    }
    with localcontext(decimal_context()):
        cols = Columns({n: Col.of(np.array([veteran[n]], dtype=object)) for n in veteran}, 1)
        got = segment_lines(plan, "veteran", cols, [[D(250000)]])
    lines = {name: str(v[0]) for name, v in got.lines.items()}
    # commission: 10% of 100,000 + 15% of 30,000; growth 30% over last year -> 20% of the 30,000 increase;
    # the scorecard: revenue 120 x 40 + visits 100 x 20 + satisfaction 100 x 15 over the 75 of weight present
    assert lines["commission"] == "14500.00"
    assert lines["growth_bonus"] == "6000.00"
    assert str(got.card_total[0]) == "110.67"
    scores = {i: v[0] for i, v in got.scores.items()}
    assert scores == {"revenue": D("120.00"), "visits": D("100.00"), "lead_conversion": None, "satisfaction": D(100)}
    assert lines["base_bonus"] == "5000.00"  # the scorecard counts up to 100
    assert lines["team_bonus"] == "250.00"  # 10% growth reaches the minimum: 5% of the base bonus
    assert lines["milestone_bonus"] == "1000.00"
    assert lines["satisfaction_gate"] == "0.00"
    assert str(got.total[0]) == "26750.00"


def test_segments_with_rules_that_have_no_columns_are_left_to_the_per_row_engine():
    doc = json.loads(json.dumps(VARIANT))
    doc["segments"]["whole"]["commission"]["cumulative"] = "quarter"
    report = parse_plan(plan_yaml(doc), "cumulative")
    assert report.ok, report.errors
    assert not supports(report.plan.segments["whole"])
    assert supports(report.plan.segments["fixed"])


# -- over a dataset ------------------------------------------------------------------------------------------
def _numbers(table_rows):
    lines = {"base_bonus", "commission", "growth_bonus", "team_bonus", "milestone_bonus", "combined_task"}
    lines |= {"satisfaction_gate", "true_up", "spiff", "draw", "draw_recovery", "clawback"}
    return [
        (
            r["employee_id"],
            r["period"],
            r["segment"],
            r["scorecard_total"],
            {k: v for k, v in r.items() if k in lines and v is not None},
            r["total"],
            r["notes"] or [],
            {k[len("score.") :]: v for k, v in r.items() if k.startswith("score.") and v is not None},
        )
        for r in table_rows
    ]


def _expected(run):
    return [
        (
            r.employee_id,
            r.period,
            r.segment,
            r.scorecard_total,
            {ln.name: ln.value for ln in r.lines},
            r.total,
            list(r.notes),
            {i["id"]: i["score"] for i in r.scorecard["indicators"] if i["score"] is not None} if r.scorecard else {},
        )
        for r in run.results
    ]


def test_a_run_file_holds_the_numbers_of_the_per_row_run(small_dataset, tmp_path):
    run = evaluate("sales-default", small_dataset, PERIODS)
    path = tmp_path / "run.parquet"
    summary = evaluate_columns("sales-default", small_dataset, PERIODS).write(path)

    table = pq.read_table(path)
    assert _numbers(table.to_pylist()) == _expected(run)
    assert summary == run.summary()
    header = read_header(path)
    assert header["summary"] == summary and header["periods"] == PERIODS
    assert header["plan"] == run.plan and header["data"] == run.data
    assert header["skipped"] == run.skipped and len(header["holds"]) == len(run.holds)
    # what a trace is rendered from travels with the numbers: the metric values the plan read
    revenue = {(r.employee_id, r.period): r.line("commission") for r in run.results}
    assert "metric.revenue" in table.column_names and "metric.visits" in table.column_names
    assert table.schema.field("metric.revenue").type.scale == columnar.MONEY_SCALE
    assert sum(1 for r in table.to_pylist() if r["metric.revenue"] is not None) == len(revenue)
    assert os.stat(path).st_mode & 0o777 == 0o600
    credits = pq.read_table(tmp_path / "run.credits.parquet").to_pandas()
    assert set(credits["status"]) <= {"transfer", "released", "voided", "remainder", "direct"}
    assert set(credits["period"]) <= set(PERIODS)


def test_prorated_and_assigned_rows_go_through_the_per_row_engine_with_their_notes(tmp_path):
    from helpers.rule_data import make_dataset

    employees = [
        dict(employee_id="r1", role="sales", team_id="t1", hire_date="2020-01-01"),
        dict(employee_id="r2", role="sales", team_id="t1", hire_date="2024-03-16"),  # half of March
        dict(employee_id="r3", role="assistant", team_id="t1", hire_date="2020-01-01", termination_date="2024-03-10"),
    ]
    customers = [dict(customer_id=c, created_at="2022-01-01") for c in ("c1", "c2")]
    orders = [
        dict(order_id="o1", customer_id="c1", employee_id="r1", closed_at="2024-03-10T10:00:00", amount="250000"),
        dict(order_id="o2", customer_id="c2", employee_id="r2", closed_at="2024-03-20T10:00:00", amount="30000"),
    ]
    targets = [dict(employee_id=e, period="2024-03", metric="revenue", target="100000") for e in ("r1", "r2", "r3")]
    ds = make_dataset(employees=employees, customers=customers, orders=orders, targets=targets)
    run = evaluate("sales-default", ds, "2024-03")
    path = tmp_path / "run.parquet"
    evaluate_columns("sales-default", ds, "2024-03").write(path)
    got = _numbers(pq.read_table(path).to_pylist())
    assert got == _expected(run)
    notes = {e: n for e, _, _, _, _, _, n, _ in got}
    assert notes["r1"] == [] and "prorated 16/31 days" in notes["r2"][0] and "terminated" in notes["r3"][0]


def test_a_dataset_with_order_adjustments_is_written_from_the_per_row_run(tmp_path):
    from helpers.rule_data import make_dataset

    employees = [dict(employee_id="r1", role="sales", team_id="t1", hire_date="2020-01-01")]
    customers = [dict(customer_id="c1", created_at="2022-01-01")]
    orders = [dict(order_id="o1", customer_id="c1", employee_id="r1", closed_at="2024-03-10T10:00:00", amount="50000")]
    refund = dict(adjustment_id="a1", order_id="o1", adjusted_at="2024-04-19T10:00:00", amount="-10000")
    ds = make_dataset(employees=employees, customers=customers, orders=orders, order_adjustments=[refund])
    plan = parse_plan(plan_yaml(VARIANT | {"clawback": {"window_days": 90}}), "claw").plan
    run = evaluate(plan, ds, ["2024-03", "2024-04"])
    path = tmp_path / "run.parquet"
    evaluate_columns(plan, ds, ["2024-03", "2024-04"]).write(path)
    got = _numbers(pq.read_table(path).to_pylist())
    assert got == _expected(run)
    assert any("clawback" in lines for _, _, _, _, lines, _, _, _ in got)


def test_a_failed_run_leaves_no_file_behind(small_dataset, tmp_path, monkeypatch):
    real, calls = columnar._period_table, []

    def fails_on_the_second_period(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(*args)

    monkeypatch.setattr(columnar, "_period_table", fails_on_the_second_period)
    with pytest.raises(RuntimeError, match="disk full"):
        evaluate_columns("sales-default", small_dataset, PERIODS).write(tmp_path / "run.parquet")
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_run_is_refused(tmp_path):
    pq.write_table(pa.table({"x": [1]}), tmp_path / "other.parquet")
    with pytest.raises(PerfmlError, match="not a perfml run file"):
        read_header(tmp_path / "other.parquet")


def test_cli_writes_a_parquet_run_when_out_ends_in_parquet(small_dir, small_dataset, tmp_path):
    out = tmp_path / "run.parquet"
    result = CliRunner().invoke(
        app, ["bonus", "--plan", "sales-default", "--data", str(small_dir), "--period", "2026-01", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    run = evaluate("sales-default", small_dataset, "2026-01")
    assert _numbers(pq.read_table(out).to_pylist()) == _expected(run)
    assert read_header(out)["summary"]["total_payout"] == run.summary()["total_payout"]
    assert (tmp_path / "run.credits.parquet").exists() and not (tmp_path / "run.csv").exists()


def test_a_file_that_is_not_parquet_is_refused_with_its_name(tmp_path):
    bad = tmp_path / "run.parquet"
    bad.write_text("employee_id,total\n")
    with pytest.raises(PerfmlError, match=r"run\.parquet: cannot read a run file"):
        read_header(bad)


def test_an_export_unlike_the_simulator_gives_the_per_row_numbers(tmp_path):
    """Untracked tables, dates without times, four months, USD and EUR orders with fx rates, Chinese free text,
    people with no records: the column path still agrees with the per-row engine row for row."""
    from helpers.foreign_export import write_foreign_export
    from perfml.dataset import Dataset

    export = Dataset.load(write_foreign_export(tmp_path / "export"))
    doc = (Path(perfml.__file__).parent / "plans" / "sales-default.yaml").read_text()
    plan = parse_plan(doc.replace("effective_from: 2020-01-01", "effective_from: 2016-01-01"), "2016").plan
    periods = ["2017-01", "2017-02", "2017-03", "2017-04"]
    run = evaluate(plan, export, periods)
    path = tmp_path / "run.parquet"
    evaluate_columns(plan, export, periods).write(path)
    got = _numbers(pq.read_table(path).to_pylist())
    assert got == _expected(run) and len(got) > 30
    assert read_header(path)["skipped"] == run.skipped != []
    credits = pq.read_table(tmp_path / "run.credits.parquet").to_pandas()
    assert credits["fx_rate"].notna().any()  # converted orders are explained from these rows


def test_explain_with_the_run_file_checks_the_trace_explains_the_stored_row(small_dir, small_dataset, tmp_path):
    out = tmp_path / "run.parquet"
    evaluate_columns("sales-default", small_dataset, "2026-02").write(out)
    employee = pq.read_table(out)["employee_id"][0].as_py()
    base = ["bonus", "explain", "--employee", employee, "--period", "2026-02", "--data", str(small_dir)]
    runner = CliRunner()
    agrees = runner.invoke(app, [*base, "--run", str(out)])
    assert agrees.exit_code == 0, agrees.output
    assert "Payout:" in agrees.output

    table = pq.read_table(out)  # the stored total changed behind the trace's back
    totals = table["total"].to_pylist()
    totals[0] += 1
    metadata = pq.read_metadata(out).metadata
    changed = table.set_column(table.column_names.index("total"), "total", pa.array(totals, table["total"].type))
    with pq.ParquetWriter(out, changed.schema) as writer:
        writer.write_table(changed)
        writer.add_key_value_metadata(metadata)
    differs = runner.invoke(app, [*base, "--run", str(out)])
    assert differs.exit_code == 1
    text = " ".join(differs.output.split())
    assert "does not explain its row" in text and f"total: the file has {totals[0]}" in text

    other = runner.invoke(app, [*base, "--run", str(out), "--plan", str(_variant_file(tmp_path))])
    assert other.exit_code == 1 and "plan: the file was computed by sales-default" in " ".join(other.output.split())


def _variant_file(tmp_path):
    path = tmp_path / "variant.yaml"
    path.write_text(plan_yaml(VARIANT))
    return path


def test_the_school_plan_on_the_metrics_table_gives_the_per_row_numbers(tmp_path):
    """A plan that is not about sales, reading custom metrics and last year's value of one of them."""
    from helpers.rule_data import make_dataset

    teachers = [dict(employee_id=f"t{i}", role="sales", team_id="s1", hire_date="2015-01-01") for i in range(4)]
    metrics = [
        dict(employee_id=f"t{i}", period=period, metric=metric, value=str(value))
        for i in range(4)
        for period, metric, value in (
            ("2024-09", "teaching_score", 80 + 5 * i),
            ("2024-09", "research_output", 2 + i),
            ("2023-09", "research_output", 3),
        )
        if not (i == 3 and period == "2023-09")  # no history: no growth to reward
    ]
    ds = make_dataset(employees=teachers, metrics=metrics)
    run = evaluate("school-teachers", ds, "2024-09")
    path = tmp_path / "run.parquet"
    evaluate_columns("school-teachers", ds, "2024-09").write(path)
    got = _numbers(pq.read_table(path).to_pylist())
    assert got == _expected(run)
    growth = {e: lines.get("growth_bonus") for e, _, _, _, lines, _, _, _ in got}
    assert growth["t2"] == D("200.00") and growth["t0"] == D("0.00")  # 4 vs 3 is 33% growth; 2 vs 3 is none
