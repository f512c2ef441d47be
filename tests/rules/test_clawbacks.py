"""Reversals and clawbacks: refunds net their own period, later ones claw back inside the plan's window."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.rule_data import make_dataset
from helpers.rule_plans import plan_yaml
from perfml.errors import DataValidationError
from perfml.rules import evaluate, parse_plan

D = Decimal
EMPLOYEES = [
    dict(employee_id="r1", role="sales", team_id="t1", hire_date="2020-01-01"),
    dict(employee_id="r2", role="sales", team_id="t1", hire_date="2020-01-01"),
]
CUSTOMERS = [dict(customer_id=c, created_at="2022-01-01") for c in ("c1", "c2", "c3")]
ORDERS = [
    dict(order_id="o1", customer_id="c1", employee_id="r1", closed_at="2024-03-10T10:00:00", amount="50000"),
    dict(order_id="o2", customer_id="c2", employee_id="r2", closed_at="2024-03-15T10:00:00", amount="20000"),
    dict(order_id="o3", customer_id="c3", employee_id="r1", closed_at="2024-04-05T10:00:00", amount="8000"),
]


def flat_plan(window_days: int | None = 90, bands=None):
    """10% of credited revenue (a flat commission on the amount), optionally with a clawback window."""
    doc = {
        "id": "flat",
        "version": "1",
        "effective_from": "2020-01-01",
        "segments": {
            "reps": {
                "select": {"roles": ["sales"]},
                "commission": {"mode": "marginal", "on": "amount", "bands": bands or [{"from": 0, "rate": 10}]},
            }
        },
    }
    if window_days is not None:
        doc["clawback"] = {"window_days": window_days}
    report = parse_plan(plan_yaml(doc), "test")
    assert report.ok, report.errors
    return report.plan


def data(adjustments, orders=ORDERS):
    return make_dataset(employees=EMPLOYEES, customers=CUSTOMERS, orders=orders, order_adjustments=adjustments)


def refund(aid, order_id, at, amount):
    return dict(adjustment_id=aid, order_id=order_id, adjusted_at=at, amount=amount, reason="refund")


# -- the hand-checked case --------------------------------------------------------------------------------
def test_a_10000_refund_40_days_later_under_10_percent_claws_back_1000_in_the_later_period():
    ds = data([refund("a1", "o1", "2024-04-19T10:00:00", "-10000")])  # 40 days after 2024-03-10
    plan = flat_plan()
    march = evaluate(plan, ds, "2024-03").result("r1", "2024-03")
    assert march.total == D("5000.00") and march.line("clawback") is None  # paid on what was known in March
    april = evaluate(plan, ds, "2024-04").result("r1", "2024-04")
    assert april.line("commission").value == D("800.00")  # April's own order o3
    claw = april.line("clawback")
    assert claw.value == D("-1000.00") and april.total == D("-200.00")
    assert claw.rule == "clawback"
    assert "2024-03: 4,000.00 as known at the end of 2024-04 − 5,000.00 as known at the end of 2024-03" in claw.formula
    adj = claw.inputs[0]
    assert (adj.source, adj.ids, adj.value, adj.period) == ("order_adjustments", ["a1"], D("-10000"), "2024-04")
    assert "order o1 of 2024-03" in adj.note
    assert claw.inputs[1].ids == ["o1"]
    assert "2024-03" in claw.note and "2024-04" in claw.note
    # the teammate sold nothing that was refunded: no line
    assert evaluate(plan, ds, "2024-04").result("r2", "2024-04").line("clawback") is None


def test_a_refund_in_the_orders_own_period_nets_it_there():
    ds = data([refund("a1", "o1", "2024-03-25T10:00:00", "-10000")])
    run = evaluate(flat_plan(), ds, ["2024-03", "2024-04"])
    assert run.result("r1", "2024-03").line("commission").value == D("4000.00")
    assert run.result("r1", "2024-04").line("clawback") is None


def test_outside_the_window_nothing_is_clawed_back_and_the_trace_says_so():
    ds = data([refund("a1", "o1", "2024-06-09T10:00:01", "-10000")])  # 91 days after the close
    april_to_june = evaluate(flat_plan(90), ds, ["2024-04", "2024-05", "2024-06"])
    assert all(r.line("clawback") is None for r in april_to_june.results)
    june = april_to_june.result("r1", "2024-06")
    assert june.total == D("0.00")
    assert len(june.notes) == 1 and "adjustment a1" in june.notes[0] and "order o1 of 2024-03" in june.notes[0]
    assert "more than 90 days (clawback.window_days) after the order closed (2024-03-10 10:00)" in june.notes[0]
    # exactly 90 days after the close is inside the window
    inside = data([refund("a1", "o1", "2024-06-08T10:00:00", "-10000")])
    assert evaluate(flat_plan(90), inside, "2024-06").result("r1", "2024-06").line("clawback").value == D("-1000.00")


def test_without_a_clawback_window_later_refunds_are_only_noted():
    ds = data([refund("a1", "o1", "2024-04-19T10:00:00", "-10000")])
    april = evaluate(flat_plan(None), ds, "2024-04").result("r1", "2024-04")
    assert april.line("clawback") is None and april.total == D("800.00")
    assert "the plan has no clawback window" in april.notes[0]


def test_re_evaluation_is_exact_across_a_tier_boundary():
    # marginal 5% to 40,000, 10% above: 50,000 pays 3,000.00; after a 15,000 refund 35,000 pays 1,750.00
    bands = [{"from": 0, "to": 40000, "rate": 5}, {"from": 40000, "rate": 10}]
    ds = data([refund("a1", "o1", "2024-05-02T00:00:00", "-15000")])
    may = evaluate(flat_plan(90, bands), ds, "2024-05").result("r1", "2024-05")
    assert may.line("clawback").value == D("-1250.00")  # not the top rate 10% × 15,000 = 1,500.00


def test_a_full_reversal_drops_the_order_and_a_later_increase_pays_more():
    ds = data(
        [
            refund("a1", "o2", "2024-04-02T00:00:00", "-20000"),  # r2's March order cancelled in full
            refund("a2", "o1", "2024-04-03T00:00:00", "5000"),  # r1's March order grew
        ]
    )
    run = evaluate(flat_plan(), ds, "2024-04")
    assert run.result("r2", "2024-04").line("clawback").value == D("-2000.00")
    assert run.result("r1", "2024-04").line("clawback").value == D("500.00")


def test_employee_ids_limit_the_clawbacks_too():
    ds = data([refund("a1", "o1", "2024-04-19T10:00:00", "-10000")])
    run = evaluate(flat_plan(), ds, "2024-04", employee_ids=["r2"])
    assert [r.employee_id for r in run.results] == ["r2"] and run.results[0].line("clawback") is None


def test_a_clawback_for_someone_not_evaluated_is_reported_as_skipped():
    employees = [EMPLOYEES[0] | {"termination_date": "2024-03-31"}, EMPLOYEES[1]]
    ds = make_dataset(
        employees=employees,
        customers=CUSTOMERS,
        orders=ORDERS[:2],
        order_adjustments=[refund("a1", "o1", "2024-04-19T10:00:00", "-10000")],
    )
    run = evaluate(flat_plan(), ds, "2024-04")
    assert run.result("r1", "2024-04") is None
    assert any(s["employee_id"] == "r1" and "clawback -1,000.00 not applied" in s["reason"] for s in run.skipped)


# -- validation -------------------------------------------------------------------------------------------
def test_adjustments_may_not_take_an_orders_net_amount_below_zero():
    with pytest.raises(DataValidationError) as err:
        data([refund("a1", "o2", "2024-04-01T00:00:00", "-15000"), refund("a2", "o2", "2024-04-02T00:00:00", "-6000")])
    (problem,) = err.value.problems
    assert (problem.table, problem.column, problem.rows) == ("order_adjustments", "amount", (3,))  # a2, row 3
    assert problem.rule == "must not take the order's net amount below 0"
    assert problem.detail == "order o2: 20000 with a1, a2 nets -1000"


def test_an_adjustment_may_not_precede_its_orders_close():
    with pytest.raises(DataValidationError) as err:
        data([refund("a1", "o1", "2024-03-01T00:00:00", "-100")])
    (problem,) = err.value.problems
    assert (problem.table, problem.column, problem.rows) == ("order_adjustments", "adjusted_at", (2,))
    assert problem.rule == "must not precede its order's closed_at"


# -- properties -------------------------------------------------------------------------------------------
MONTHS = ["2024-04", "2024-05", "2024-06"]
PLANS = {
    "flat": flat_plan(120),
    "marginal": flat_plan(120, [{"from": 0, "to": 30000, "rate": 4}, {"from": 30000, "rate": 9}]),
}


@st.composite
def refunds(draw):
    out = []
    for i in range(draw(st.integers(1, 4))):
        order = draw(st.sampled_from(["o1", "o2"]))
        month = draw(st.sampled_from(MONTHS))
        day = draw(st.integers(1, 28))
        cents = draw(st.integers(1, 400_000))  # at most 4,000.00 each: never below 0 in total
        out.append(refund(f"a{i}", order, f"{month}-{day:02d}T12:00:00", f"-{cents // 100}.{cents % 100:02d}"))
    return out


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(adjustments=refunds(), plan_name=st.sampled_from(sorted(PLANS)))
def test_clawbacks_plus_the_original_equal_the_net(adjustments, plan_name):
    plan = PLANS[plan_name]
    run = evaluate(plan, data(adjustments), ["2024-03", *MONTHS])
    # the reference: March evaluated on orders whose amounts already carry every refund
    net = {o["order_id"]: D(o["amount"]) for o in ORDERS}
    for a in adjustments:
        net[a["order_id"]] += D(a["amount"])
    orders = [o | {"amount": str(net[o["order_id"]])} for o in ORDERS]
    reference = evaluate(plan, make_dataset(employees=EMPLOYEES, customers=CUSTOMERS, orders=orders), "2024-03")
    for emp in ("r1", "r2"):
        paid = run.result(emp, "2024-03").total
        clawed = [ln.value for r in run.results if r.employee_id == emp for ln in r.lines if ln.name == "clawback"]
        assert paid + sum(clawed, D(0)) == reference.result(emp, "2024-03").total
