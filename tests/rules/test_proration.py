"""Proration by days employed: targets, base and fixed amounts scale; sales on actual orders do not."""

from __future__ import annotations

from decimal import Decimal

from helpers.rule_data import make_dataset
from helpers.rule_plans import plan_dict, plan_yaml
from perfml.rules import evaluate, explain_text, load_plan, parse_plan

D = Decimal
EMPLOYEES = [
    dict(employee_id="h1", role="sales", team_id="t1", hire_date="2024-06-16"),  # June has 30 days
    dict(employee_id="x1", role="sales", team_id="t1", hire_date="2020-01-01", termination_date="2024-07-05"),
    dict(employee_id="v1", role="sales", team_id="t1", hire_date="2020-01-01"),
]
CUSTOMERS = [dict(customer_id="c1", created_at="2020-01-01")]
TARGETS = [
    dict(employee_id=e, period=p, metric="revenue", target="100000")
    for e in ("h1", "x1", "v1")
    for p in ("2024-06", "2024-07")
]
ORDERS = [dict(order_id="o1", customer_id="c1", employee_id="h1", closed_at="2024-06-20", amount="60000")]
FIXED = {"amount": 3000, "scale_by_scorecard": False}


def ds():
    return make_dataset(employees=EMPLOYEES, customers=CUSTOMERS, orders=ORDERS, targets=TARGETS)


def plan(proration: str, **changes):
    doc = plan_dict(proration=proration, segments__veteran__base_bonus=FIXED, **changes)
    report = parse_plan(plan_yaml(doc), "t")
    assert report.errors == []
    return report.plan


def target_input(result):
    return next(i for i in result.line("commission").inputs if i.name == "revenue_target")


def test_hire_on_the_16th_of_a_30_day_month_gets_half_the_target_and_fixed_amount():
    run = evaluate(plan("days"), ds(), ["2024-06", "2024-07"])
    june = run.result("h1", "2024-06")
    assert june.line("base_bonus").value == D("1500.00")
    assert target_input(june).value == D("50000")
    # 60,000 against the prorated 50,000: 10% × 50,000 + 15% × 10,000
    assert june.line("commission").value == D("6500.00")
    note = "prorated 15/30 days employed (hired 2024-06-16)"
    assert june.notes == [note]
    assert june.line("base_bonus").note == note and june.line("commission").note == note
    assert "× 15/30 days" in target_input(june).note
    assert note in explain_text(run, june)
    july = run.result("h1", "2024-07")  # the first whole month is paid in full
    assert july.line("base_bonus").value == D("3000.00") and july.notes == []


def test_termination_on_the_5th_of_a_31_day_month_pays_5_31():
    july = evaluate(plan("days"), ds(), "2024-07").result("x1", "2024-07")
    assert july.line("base_bonus").value == D("483.87")  # 3,000 × 5 / 31 = 483.870…
    assert target_input(july).value == D(100000) * 5 / 31
    assert july.notes == ["prorated 5/31 days employed (terminated 2024-07-05)"]


def test_scorecard_scaled_base_bonus_and_combined_task_amounts_are_prorated():
    doc = plan_dict(
        proration="days",
        segments__veteran__base_bonus={"amount": 3000},
        segments__veteran__combined_task={
            "amount": 1000,
            "parts": {"rev": {"metric": "revenue", "target": {"metric": "revenue_target"}, "weight": 1}},
        },
    )
    p = parse_plan(plan_yaml(doc), "t").plan
    june = evaluate(p, ds(), "2024-06").result("h1", "2024-06")
    # revenue 60,000 on the prorated 50,000: scorecard revenue 120% capped at 120 × weight 60 = 72 points
    assert june.scorecard_total == D("72")
    assert june.line("base_bonus").value == D("1080.00")  # 1,500 × 72 / 100
    assert june.line("combined_task").value == D("500.00")  # the prorated 500 × min(120%, cap 100%)


def test_without_proration_a_mid_month_hire_is_paid_the_whole_month():
    run = evaluate(plan("none"), ds(), "2024-06")
    june = run.result("h1", "2024-06")
    assert june.line("base_bonus").value == D("3000.00") and june.notes == []
    assert june.line("commission").value == D("6000.00")  # 60% of the full 100,000
    assert run.result("v1", "2024-06").line("base_bonus").value == D("3000.00")


def test_the_built_in_plan_prorates_a_mid_month_hire():
    assert load_plan("sales-default").proration == "days"
    june = evaluate("sales-default", ds(), "2024-06").result("h1", "2024-06")
    assert june.segment == "new_staff"
    assert target_input(june).value == D("50000")
    assert june.notes == ["prorated 15/30 days employed (hired 2024-06-16)"]


def test_a_plan_version_ending_mid_month_prorates_that_month_by_its_days():
    july = evaluate(plan("none", effective_to="2024-07-10"), ds(), "2024-07").result("v1", "2024-07")
    assert july.line("base_bonus").value == D("967.74")  # 3,000 × 10 / 31
    assert july.notes == [
        "prorated 10/31 days under plan test-plan (plan test-plan v1 effective 2020-01-01..2024-07-10)"
    ]
