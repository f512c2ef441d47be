"""Traces as records: payouts equal today's golden values, texts rendered on demand, provenance looked up lazily."""

from __future__ import annotations

import json
from decimal import ROUND_FLOOR, Context, localcontext
from decimal import Decimal as D
from pathlib import Path

import pytest
from test_engine import ORDERS, dataset

import perfml.rules.engine as engine
from perfml.rules import evaluate, load_plan
from perfml.rules.scorecard import scorecard
from perfml.rules.trace import Input, Line, exact, render_scorecard, renderer
from perfml.rules.values import Values

GOLDEN = Path(__file__).parent / "data" / "golden_sales_default_small.csv"
GOLDEN_PERIODS = ["2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04"]


def test_payouts_equal_the_golden_values_on_the_small_simulated_company(small_dataset):
    """Every line value, scorecard total and total per employee-period, as the engine before records computed them."""
    run = evaluate("sales-default", small_dataset, GOLDEN_PERIODS)
    assert run.summary_csv() == GOLDEN.read_text()


def test_results_come_in_period_then_employee_order(small_dataset):
    run = evaluate("sales-default", small_dataset, GOLDEN_PERIODS[:2])
    keys = [(r.period, r.employee_id) for r in run.results]
    assert keys == sorted(keys) and len(set(keys)) == len(keys) == len(run.results)


def test_evaluating_and_storing_never_reads_source_rows_but_an_explanation_does(monkeypatch):
    calls = []
    real = engine.evidence_of_months
    monkeypatch.setattr(engine, "evidence_of_months", lambda *a, **k: calls.append(1) or real(*a, **k))
    run = evaluate("sales-default", dataset(), "2024-03")
    stored = json.loads(run.to_json(render=False))
    assert calls == []
    r1 = next(r for r in stored["results"] if r["employee_id"] == "r1")
    commission = next(ln for ln in r1["lines"] if ln["name"] == "commission")
    # metric inputs by name, their values once per result
    assert commission["inputs"] == ["revenue", "revenue_target"]
    assert (r1["metrics"]["revenue"], r1["metrics"]["revenue_target"]) == ("130000", "100000")
    assert commission["value"] == "14500.00"  # the seed example: 10% × 100,000 + 15% × 30,000
    # the formula is a record: what the rule computed (the marginal parts), its text rendered on demand
    assert commission["render"] == "commission" and "formula" not in commission
    assert commission["facts"] == ["130000", "100000", [[0, "100000"], [1, "30000"]], "14500", "14500.00"]
    rendered = run.result("r1", "2024-03").to_dict()
    assert calls == [1]
    text = next(ln for ln in rendered["lines"] if ln["name"] == "commission")["formula"]
    assert text.startswith("marginal on attainment 130% (130,000.00 / 100,000.00): 10% × 100,000.00 + 15% × 30,000.00")
    revenue = next(ln for ln in rendered["lines"] if ln["name"] == "commission")["inputs"][0]
    assert revenue == {
        "name": "revenue",
        "value": "130000",
        "source": "orders",
        "period": "2024-03",
        "ids": ["o2"],
        "note": "as credited (crediting rules applied)",
    }
    run.to_dict()
    assert calls == [1]  # looked up once for the run


def test_a_line_renders_its_formula_from_its_facts():
    @renderer("test.rate_times_base")
    def text(rate: D, base: D, value: D) -> str:
        return f"{rate}% × {base} = {value}"

    line = Line("segments.x.spiff", "spiff", D("15.00"), inputs=[Input("base", D(300), "plan")],
                render="test.rate_times_base", facts=(D(5), D(300), D("15.00")))  # fmt: skip
    assert line.formula == "5% × 300 = 15.00"
    metrics: dict = {}
    assert line.record(metrics) == {
        "rule": "segments.x.spiff",
        "name": "spiff",
        "value": "15.00",
        "render": "test.rate_times_base",
        "facts": ["5", "300", "15.00"],
        "inputs": [{"name": "base", "value": "300", "source": "plan"}],
    }
    assert line.to_dict()["formula"] == "5% × 300 = 15.00" and metrics == {}
    with pytest.raises(ValueError, match="exactly one"):
        Line("r", "n", D(0))
    with pytest.raises(ValueError, match="exactly one"):
        Line("r", "n", D(0), "text", render="test.rate_times_base")
    with pytest.raises(ValueError, match="a source or an origin"):
        Input("revenue", D(1))
    with pytest.raises(ValueError, match="registered twice"):
        renderer("test.rate_times_base")(text)


def test_exact_cuts_instead_of_rounding_so_a_comparison_never_flips():
    assert exact(D(49999) / D(100000) * 100) == "49.99…"  # below a 50% gate, and reads so
    assert exact(D("130")) == "130" and exact(D("12.50")) == "12.5" and exact(None) == "n/a"
    assert exact(D(200) / D(3)) == "66.66…"


def test_scorecard_writes_out_each_indicators_points_and_the_reweighting():
    """Veteran: revenue 40, visits 20 (not tracked: left out), lead conversion 25, satisfaction 15 -> weights 80."""
    plan = load_plan("sales-default")
    values = Values(
        "e1",
        "2024-03",
        {
            "revenue": D(130000),
            "revenue_target": D(100000),
            "visits": None,
            "visits_target": D(10),
            "lead_conversion_rate": D("0.2"),
            "avg_satisfaction": D(72),
        },
        not_tracked=frozenset({"visits"}),
    )
    card = scorecard(plan, "veteran", values)
    # 120 × 40/80 + 80 × 25/80 + 75 × 15/80 = 60 + 25 + 14.0625
    assert card["total"] == D("99.06") and card["weights_present"] == D(80)
    points = {i["id"]: i["points"] for i in card["indicators"]}
    assert points == {"revenue": D(60), "visits": None, "lead_conversion": D(25), "satisfaction": D("14.0625")}
    text = render_scorecard(card)
    assert text["formula"] == (
        "visits left out: weights 80 of 100 rescaled to 100; Σ score × weight / 80 = 99.06 points (rounded to 0.01)"
    )
    ind = {i["id"]: i for i in text["indicators"]}
    assert ind["revenue"]["formula"] == (
        "revenue 130000 / target 100000 × 100 = 130% of target, clamped to [0, 120] → score 120; "
        "120 × weight 40/80 = 60 points"
    )
    assert ind["lead_conversion"]["formula"] == (
        "lead_conversion_rate 0.2 / target 0.25 × 100 = 80% of target, clamped to [0, 100] → score 80; "
        "80 × weight 25/80 = 25 points"
    )
    assert (
        ind["satisfaction"]["formula"] == "avg_satisfaction = 72 → bands[2] scores 75; 75 × weight 15/80 ≈ 14.06 points"
    )
    assert ind["visits"]["formula"] == "visits has no value; weight 20 left out"
    assert ind["visits"]["note"] == "visits is not tracked by this company; left out and the other weights rescaled"


def test_a_ratio_just_under_a_bound_is_not_shown_as_reaching_it():
    plan = load_plan("sales-default")
    data = {"revenue": D(49999), "revenue_target": D(100000), "visits": D(3), "visits_target": D(3)}
    values = Values("e1", "2024-03", {**data, "lead_conversion_rate": None, "avg_satisfaction": None})
    ind = render_scorecard(scorecard(plan, "veteran", values))["indicators"][0]
    assert "= 49.99…% of target" in ind["formula"] and ind["score"] == D("50.00")  # the score itself rounds once


def test_payouts_do_not_depend_on_the_callers_decimal_context():
    order = dict(order_id="p1", customer_id="c2", employee_id="r1", closed_at="2024-03-05", amount="123456.78")
    ds = dataset(orders=ORDERS[:1] + [order])
    expected = evaluate("sales-default", ds, "2024-03")
    assert expected.result("r1", "2024-03").line("commission").value == D("13518.52")  # 10% × 100,000 + 15% × 23,456.78
    with localcontext(Context(prec=6, rounding=ROUND_FLOOR)):
        assert evaluate("sales-default", ds, "2024-03").summary_csv() == expected.summary_csv()


def test_a_run_for_named_employees_reads_their_source_rows_in_the_same_pass(monkeypatch):
    calls = []
    monkeypatch.setattr(engine, "evidence_of_months", lambda *a, **k: calls.append(1))
    result = evaluate("sales-default", dataset(), "2024-03", employee_ids=["r1"]).result("r1", "2024-03")
    revenue = result.line("commission").inputs[0]
    assert (revenue.name, revenue.ids, revenue.source) == ("revenue", ["o2"], "orders") and calls == []
