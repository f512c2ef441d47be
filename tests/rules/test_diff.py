"""`perfml bonus diff`: two runs or two periods compared line by line - the input that moved, the rule, the Δ."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from helpers.rule_data import make_dataset
from helpers.rule_plans import plan_dict, plan_yaml
from perfml.cli import app
from perfml.rules import evaluate, parse_plan
from perfml.rules.diff import RunFormatError, diff_periods, diff_runs, diff_text
from perfml.services.diff import diff_two_periods

D = Decimal
PLAN = parse_plan(plan_yaml(plan_dict()), "test").plan  # commission only: 10% of revenue to target, 15% above
EMPLOYEES = [
    dict(employee_id="r1", role="sales", team_id="t1", hire_date="2020-01-01"),
    dict(employee_id="r2", role="sales", team_id="t1", hire_date="2020-01-01"),
]
CUSTOMERS = [dict(customer_id="c1", created_at="2020-01-01")]
ORDERS = [
    dict(order_id="o1", customer_id="c1", employee_id="r1", closed_at="2024-03-05", amount="60000"),
    dict(order_id="o2", customer_id="c1", employee_id="r1", closed_at="2024-03-10", amount="70000"),
    dict(order_id="o3", customer_id="c1", employee_id="r2", closed_at="2024-03-12", amount="50000"),
    dict(order_id="o4", customer_id="c1", employee_id="r1", closed_at="2024-02-12", amount="80000"),
]
TARGETS = [
    dict(employee_id=e, period=p, metric="revenue", target="100000")
    for e in ("r1", "r2")
    for p in ("2024-02", "2024-03")
]


def dataset(orders=ORDERS, employees=EMPLOYEES):
    return make_dataset(employees=employees, customers=CUSTOMERS, orders=orders, targets=TARGETS)


def run_dict(ds, period="2024-03", plan=PLAN, **kw) -> dict:
    """The run as `perfml bonus --out` writes it, read back."""
    return json.loads(evaluate(plan, ds, period, **kw).to_json())


def with_amount(order_id: str, amount: str) -> list[dict]:
    return [dict(o, amount=amount) if o["order_id"] == order_id else o for o in ORDERS]


@pytest.fixture(scope="module")
def before():
    return run_dict(dataset())


def test_changed_revenue_names_the_input_and_the_delta_of_each_line(before):
    after = run_dict(dataset(with_amount("o2", "90000")))  # r1: 130,000 -> 150,000 against 100,000
    d = diff_runs(before, after)
    assert [(c.employee_id, c.period, c.line, c.status) for c in d.lines] == [
        ("r1", "2024-03", "commission", "changed")
    ]
    line = d.lines[0]
    # 10% x 100,000 + 15% x 30,000 = 14,500.00 -> 10% x 100,000 + 15% x 50,000 = 17,500.00
    assert (line.before, line.after, line.delta) == (D("14500.00"), D("17500.00"), D("3000.00"))
    assert line.rule_before == line.rule_after == "segments.veteran.commission"
    revenue = next(i for i in line.inputs if i.name == "revenue")
    assert (revenue.status, revenue.before, revenue.after, revenue.delta) == ("changed", D(130000), D(150000), D(20000))
    assert revenue.ids_added == revenue.ids_removed == ()  # same orders, one amount changed
    assert [i.name for i in line.inputs] == ["revenue"]  # the target did not move: not listed
    assert [(t.employee_id, t.before, t.after, t.delta) for t in d.totals] == [
        ("r1", D("14500.00"), D("17500.00"), D("3000.00"))
    ]
    assert d.total_delta == D("3000.00") and not d.plan_changed
    text = diff_text(d)
    assert "commission         changed from 14,500.00 to 17,500.00 (+3,000.00)   [segments.veteran.commission]" in text
    assert "revenue changed from 130000 to 150000 (+20000)" in text
    assert "total              changed from 14,500.00 to 17,500.00 (+3,000.00)" in text
    assert text.endswith("payout change +3,000.00 CNY") and "r2" not in text


def test_a_new_order_names_the_row_and_a_refund_gives_a_negative_delta(before):
    extra = dict(order_id="o5", customer_id="c1", employee_id="r1", closed_at="2024-03-20", amount="20000")
    grown = diff_runs(before, run_dict(dataset([*ORDERS, extra])))
    revenue = next(i for i in grown.lines[0].inputs if i.name == "revenue")
    assert revenue.ids_added == ("o5",) and revenue.delta == D(20000)
    assert "rows added [o5]" in diff_text(grown)
    # r2 falls from 50,000 to 40,000: commission 5,000.00 -> 4,000.00
    shrunk = diff_runs(before, run_dict(dataset(with_amount("o3", "40000"))))
    assert [(c.employee_id, c.delta) for c in shrunk.lines] == [("r2", D("-1000.00"))]
    assert "changed from 5,000.00 to 4,000.00 (-1,000.00)" in diff_text(shrunk)


def test_same_run_twice_changes_nothing(before):
    d = diff_runs(before, json.loads(json.dumps(before)))
    assert d.lines == [] and d.totals == [] and d.total_delta == 0
    assert diff_text(d).endswith("no payout changed") and "same data on both sides" in diff_text(d)


def test_an_employee_on_one_side_only_is_added_or_removed(before):
    only_r1 = run_dict(dataset(), employee_ids=["r1"])
    d = diff_runs(only_r1, before)
    assert [(c.employee_id, c.line, c.status, c.before, c.after, c.delta) for c in d.lines] == [
        ("r2", "commission", "added", None, D("5000.00"), D("5000.00"))
    ]
    assert [(t.employee_id, t.before, t.after) for t in d.totals] == [("r2", None, D("5000.00"))]
    assert "new statement 5,000.00" in diff_text(d)
    back = diff_runs(before, only_r1)
    assert [(c.status, c.delta) for c in back.lines] == [("removed", D("-5000.00"))]
    assert "no statement any more (was 5,000.00)" in diff_text(back)


def test_a_changed_plan_is_named_with_its_version_and_the_rates_it_changed(before):
    doc = plan_dict(version="2")
    doc["segments"]["veteran"]["commission"]["bands"][1]["rate"] = 20  # above target: 20% instead of 15%
    v2 = parse_plan(plan_yaml(doc), "test").plan
    d = diff_runs(before, run_dict(dataset(), plan=v2))
    assert d.plan_changed and d.before["plan"]["version"] == "1" and d.after["plan"]["version"] == "2"
    # r1: 10% x 100,000 + 20% x 30,000 = 16,000.00 (was 14,500.00); r2 stays under target
    assert [(c.employee_id, c.delta) for c in d.lines] == [("r1", D("1500.00"))]
    assert d.lines[0].inputs == ()  # same data: the rule moved, and both formulas show how
    text = diff_text(d)
    assert "plan test-plan v1 (sha256" in text and "→ test-plan v2 (sha256" in text
    assert "before: marginal on attainment 130% (130,000.00 / 100,000.00): 10% × 100,000.00 + 15% × 30,000.00" in text
    assert "after: marginal on attainment 130% (130,000.00 / 100,000.00): 10% × 100,000.00 + 20% × 30,000.00" in text


def test_diff_of_two_periods_compares_each_employees_lines():
    ds = dataset()
    d = diff_two_periods(plan=PLAN, dataset=ds, period="2024-03", against="2024-02")
    by = {c.employee_id: c for c in d.lines}
    # r1: 80,000 in February -> 8,000.00; 130,000 in March -> 14,500.00
    r1 = by["r1"]
    assert (r1.period, r1.before_period, r1.before, r1.after, r1.delta) == (
        "2024-03",
        "2024-02",
        D("8000.00"),
        D("14500.00"),
        D("6500.00"),
    )
    revenue = next(i for i in r1.inputs if i.name == "revenue")
    assert (revenue.before, revenue.after, revenue.ids_added, revenue.ids_removed) == (
        D(80000),
        D(130000),
        ("o1", "o2"),
        ("o4",),
    )
    # r2: nothing in February -> 0.00; 50,000 in March -> 5,000.00
    assert (by["r2"].before, by["r2"].after) == (D("0.00"), D("5000.00"))
    assert d.total_delta == D("11500.00")
    assert "r1 · 2024-03 against 2024-02" in diff_text(d)
    # one employee only
    only = diff_two_periods(plan=PLAN, dataset=ds, period="2024-03", against="2024-02", employee_ids=["r2"])
    assert [c.employee_id for c in only.lines] == ["r2"]


def test_diff_periods_refuses_runs_of_several_periods(before):
    both = run_dict(dataset(), period=["2024-02", "2024-03"])
    with pytest.raises(RunFormatError, match=r"after\.periods: expected one period"):
        diff_periods(before, both)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: r.pop("results"), r"after: missing 'results'"),
        (lambda r: r["plan"].pop("hash"), r"after\.plan: missing 'hash'"),
        (lambda r: r["results"][1]["lines"][0].pop("value"), r"after\.results\[1\]\.lines\[0\]: missing 'value'"),
        (lambda r: r["results"][0].update(total="12,0"), r"after\.results\[0\]\.total: '12,0' is not a decimal"),
        (lambda r: r["results"].append(r["results"][0]), r"after\.results\[2\]: a second result for r1 2024-03"),
    ],
)
def test_a_damaged_run_is_refused_naming_the_path(before, damage, message):
    after = json.loads(json.dumps(before))
    damage(after)
    with pytest.raises(RunFormatError, match=message):
        diff_runs(before, after)


def test_cli_diff_of_two_files_and_of_two_periods(tmp_path, before):
    data, plan = tmp_path / "data", tmp_path / "plan.yaml"
    dataset(with_amount("o2", "90000")).save(data)
    plan.write_text(plan_yaml(plan_dict()))
    (tmp_path / "before.json").write_text(json.dumps(before))
    runner = CliRunner()
    common = ["--plan", str(plan), "--data", str(data)]
    out = runner.invoke(app, ["bonus", *common, "--period", "2024-03", "--out", str(tmp_path / "after.json")])
    assert out.exit_code == 0, out.output
    res = runner.invoke(app, ["bonus", "diff", str(tmp_path / "before.json"), str(tmp_path / "after.json"), "--json"])
    assert res.exit_code == 0, res.output
    parsed = json.loads(res.output)
    assert parsed["plan_changed"] is False and parsed["total_delta"] == "3000.00"
    assert [(ln["employee_id"], ln["line"], ln["before"], ln["after"], ln["delta"]) for ln in parsed["lines"]] == [
        ("r1", "commission", "14500.00", "17500.00", "3000.00")
    ]
    assert parsed["lines"][0]["inputs"][0] == {
        "name": "revenue",
        "status": "changed",
        "before": "130000",
        "after": "150000",
        "delta": "20000",
        "ids_added": [],
        "ids_removed": [],
    }
    periods = runner.invoke(
        app, ["bonus", "diff", *common, "--period", "2024-03", "--against", "2024-02", "--employee", "r1"]
    )
    assert periods.exit_code == 0, periods.output
    # r1: 80,000 in February -> 8,000.00; 150,000 in March -> 17,500.00
    assert "r1 · 2024-03 against 2024-02" in periods.output and "r2" not in periods.output
    assert "changed from 8,000.00 to 17,500.00 (+9,500.00)" in periods.output
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    bad = runner.invoke(app, ["bonus", "diff", str(broken), str(tmp_path / "after.json")])
    assert bad.exit_code == 1 and "broken.json: not a JSON run file" in bad.output
    neither = runner.invoke(app, ["bonus", "diff", str(broken)])
    assert neither.exit_code == 2 and "BEFORE AFTER" in neither.output
