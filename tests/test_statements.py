"""Closed periods: a frozen statement never changes; late data and reversals become lines of the next open period."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from helpers.rule_data import make_dataset
from helpers.rule_plans import plan_yaml
from perfml.cli import app
from perfml.errors import PeriodClosed
from perfml.home import Home
from perfml.rules import parse_plan
from perfml.services.pay import close_period, employee_lines, statement
from perfml.store import create_all
from perfml.store.tables import pay_adjustments

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
LATE = dict(order_id="o9", customer_id="c3", employee_id="r2", closed_at="2024-03-30T10:00:00", amount="3000")
PLAN_DOC = {
    "id": "flat",
    "version": "1",
    "effective_from": "2020-01-01",
    "clawback": {"window_days": 90},
    "segments": {
        "reps": {
            "select": {"roles": ["sales"]},
            "commission": {"mode": "marginal", "on": "amount", "bands": [{"from": 0, "rate": 10}]},
        }
    },
}


def flat_plan():
    report = parse_plan(plan_yaml(PLAN_DOC), "test")
    assert report.ok, report.errors
    return report.plan


def data(orders=ORDERS, adjustments=None):
    return make_dataset(employees=EMPLOYEES, customers=CUSTOMERS, orders=orders, order_adjustments=adjustments)


def lines_by_id(stmt, emp):
    entry = next(e for e in stmt.data()["employees"] if e["employee_id"] == emp)
    return {ln["id"]: ln for ln in entry["lines"]}


def test_closing_freezes_the_statement_and_closing_again_is_refused(home):
    plan, ds = flat_plan(), data()
    draft = statement(home=home, plan=plan, dataset=ds, period="2024-03")
    closed = close_period(home=home, plan=plan, dataset=ds, period="2024-03", closed_by="hr1")
    assert (closed.status, closed.closed_by) == ("closed", "hr1")
    assert closed.hash == draft.hash and closed.content == draft.content  # closing adds nothing to the content
    assert lines_by_id(closed, "r1")["segments.reps.commission"]["value"] == "5000.00"
    assert closed.data()["total"] == "7000.00"
    with pytest.raises(PeriodClosed, match=r"2024-03 is already closed \(by hr1 at .* UTC, sha256 [0-9a-f]{12}\)"):
        close_period(home=home, plan=plan, dataset=ds, period="2024-03", closed_by="hr2")
    again = statement(home=home, plan=plan, dataset=ds, period="2024-03")
    assert again.content == closed.content and again.closed_by == "hr1"


def test_a_closed_period_rerun_with_late_data_gives_adjustment_lines_in_the_next_open_period(home):
    plan = flat_plan()
    frozen = close_period(home=home, plan=plan, dataset=data(), period="2024-03", closed_by="hr1")
    late = data(ORDERS + [LATE])  # a March order that reached the data after March was closed
    assert statement(home=home, plan=plan, dataset=late, period="2024-03").content == frozen.content  # byte-identical
    april = statement(home=home, plan=plan, dataset=late, period="2024-04")
    assert april.status == "open"
    line = lines_by_id(april, "r2")["adjustment#2024-03"]
    assert (line["value"], line["for_period"], line["rule"]) == ("300.00", "2024-03", "adjustment")
    assert line["formula"] == "2024-03 re-evaluated 2,300.00 − paid in 2024-03's closed statement 2,000.00 = 300.00"
    assert "segments.reps.commission 2,000.00 → 2,300.00" in line["note"] and frozen.hash[:12] in line["note"]
    assert "adjustment#2024-03" not in lines_by_id(april, "r1")  # r1's March is unchanged
    # paid once: after April closes with it, May owes nothing more for March
    close_period(home=home, plan=plan, dataset=late, period="2024-04", closed_by="hr1")
    may = statement(home=home, plan=plan, dataset=late, period="2024-05")
    assert all(ln["rule"] != "adjustment" for e in may.data()["employees"] for ln in e["lines"])


def test_the_adjustment_waits_for_the_next_open_period(home):
    plan = flat_plan()
    close_period(home=home, plan=plan, dataset=data(), period="2024-03", closed_by="hr1")
    late = data(ORDERS + [LATE])
    # April is open, so the March difference is April's; May (with April open between) does not pay it
    may = statement(home=home, plan=plan, dataset=late, period="2024-05")
    assert all(ln["rule"] != "adjustment" for e in may.data()["employees"] for ln in e["lines"])


def test_a_refund_after_closing_is_a_clawback_not_an_adjustment(home):
    plan = flat_plan()
    close_period(home=home, plan=plan, dataset=data(), period="2024-03", closed_by="hr1")
    refunded = data(adjustments=[dict(adjustment_id="a1", order_id="o1", adjusted_at="2024-04-19", amount="-10000")])
    april = lines_by_id(statement(home=home, plan=plan, dataset=refunded, period="2024-04"), "r1")
    assert april["clawback"]["value"] == "-1000.00" and "adjustment#2024-03" not in april
    assert set(april) == {"segments.reps.commission", "clawback"}


def test_manual_pay_lines_are_paid_in_their_period(home):
    plan = flat_plan()
    create_all(home.engine)
    with home.engine.begin() as conn:
        conn.execute(
            sa.insert(pay_adjustments).values(
                plan_id="flat",
                employee_id="r2",
                period="2024-04",
                for_period="2024-03",
                amount="125.50",
                source="dispute:7",
                reason="order o2 was credited late",
                created_by="hr1",
            )
        )
    lines = employee_lines(home=home, plan=plan, dataset=data(), period="2024-04", employee_id="r2")
    manual = lines[-1]
    assert (manual["id"], manual["name"], manual["value"], manual["for_period"]) == (
        "pay_adjustments#1",
        "adjustment",
        "125.50",
        "2024-03",
    )
    assert manual["formula"] == "order o2 was credited late (dispute:7, by hr1)"
    assert employee_lines(home=home, plan=plan, dataset=data(), period="2024-04", employee_id="nobody") == []


def test_cli_close_and_statement(home, tmp_path):
    data_dir = data().save(tmp_path / "data")
    plan_file = tmp_path / "flat.yaml"
    plan_file.write_text(plan_yaml(PLAN_DOC))
    args = ["--plan", str(plan_file), "--data", str(data_dir), "--home", str(home.dir)]
    runner = CliRunner()
    closed = runner.invoke(app, ["bonus", "close", "--period", "2024-03", "--by", "hr1", *args])
    assert closed.exit_code == 0, closed.output
    assert "total 7000.00 CNY" in closed.output and "closed by hr1" in closed.output
    refused = runner.invoke(app, ["bonus", "close", "--period", "2024-03", *args])
    assert refused.exit_code == 1 and "already closed" in refused.output
    out = tmp_path / "march.json"
    shown = runner.invoke(app, ["bonus", "statement", "--period", "2024-03", "--out", str(out), *args])
    assert shown.exit_code == 0, shown.output
    assert out.read_bytes() == statement(home=home, plan=flat_plan(), dataset=data(), period="2024-03").content


# -- properties -------------------------------------------------------------------------------------------
amounts = st.lists(st.integers(1, 10_000_000), min_size=3, max_size=3)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cents=amounts)
def test_closing_then_rerunning_is_idempotent(cents, tmp_path_factory):
    orders = [o | {"amount": f"{c // 100}.{c % 100:02d}"} for o, c in zip(ORDERS, cents, strict=True)]
    plan, ds = flat_plan(), data(orders)
    first, second = (Home.at(tmp_path_factory.mktemp("home")) for _ in range(2))
    a = close_period(home=first, plan=plan, dataset=ds, period="2024-03", closed_by="hr1")
    b = close_period(home=second, plan=plan, dataset=ds, period="2024-03", closed_by="hr2")
    assert a.hash == b.hash  # the same data and plan close to the same content
    assert statement(home=first, plan=plan, dataset=ds, period="2024-03").content == a.content
    april = statement(home=first, plan=plan, dataset=ds, period="2024-04")
    assert all(ln["rule"] != "adjustment" for e in april.data()["employees"] for ln in e["lines"])  # nothing changed


def test_a_dispute_on_a_closed_period_reads_the_frozen_line_and_is_paid_in_the_first_open_period(home):
    from perfml.services.disputes import InvalidDispute, open_dispute, resolve_dispute

    plan = flat_plan()
    close_period(home=home, plan=plan, dataset=data(), period="2024-03", closed_by="hr")
    late = data(ORDERS + [dict(LATE, employee_id="r1")])  # the data moved on: r1's March would now be 5,300.00
    dispute = open_dispute(
        home=home,
        plan=plan,
        dataset=late,
        employee_id="r1",
        period="2024-03",
        line="commission",
        message="o1 was larger",
        opened_by="key:1/employee",
    )
    assert dispute["line_value"] == "5000.00"  # as frozen, not as re-evaluated
    with pytest.raises(InvalidDispute, match="2024-03 is closed; pay in an open period \\(the first is 2024-04\\)"):
        resolve_dispute(
            home=home,
            dispute_id=dispute["id"],
            decision="accept",
            reason="agreed",
            resolved_by="hr",
            amount="250",
            pay_period="2024-03",
        )
    accepted = resolve_dispute(
        home=home, dispute_id=dispute["id"], decision="accept", reason="agreed", resolved_by="hr", amount="250"
    )
    assert accepted["pay_period"] == "2024-04"
    april = lines_by_id(statement(home=home, plan=plan, dataset=data(), period="2024-04"), "r1")
    assert april[f"pay_adjustments#{accepted['adjustment_id']}"]["value"] == "250.00"
