"""Reminders and review lists as of a moment: suggestions with evidence, from records before it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from helpers.rule_data import make_dataset
from perfml.cli import app
from perfml.rules import reminders

EMPLOYEES = [dict(employee_id=e, role="sales", team_id="t1", hire_date="2020-01-01") for e in ("r1", "r2", "r3")]
CUSTOMERS = [dict(customer_id="c1", created_at="2020-01-01")]
AS_OF = "2024-03-13T15:00:00"  # a Wednesday afternoon


def targets():
    rows = []
    for emp in ("r1", "r2", "r3"):
        for period in ("2024-01", "2024-02", "2024-03"):
            rows += [
                dict(employee_id=emp, period=period, metric="revenue", target="100000"),
                dict(employee_id=emp, period=period, metric="visits", target="31"),
            ]
    return rows


def orders():
    # r1 is on target every month; r2 is weak two months running; r3 is weak only in February
    rows, n = [], 0
    for emp, jan, feb in (("r1", 100000, 100000), ("r2", 10000, 20000), ("r3", 100000, 30000)):
        for period, amount in (("2024-01", jan), ("2024-02", feb)):
            n += 1
            rows.append(
                dict(order_id=f"o{n}", customer_id="c1", employee_id=emp, closed_at=f"{period}-15", amount=str(amount))
            )
    return rows


def visits():
    rows = []
    # r1: 4 visits this week (Mon-Wed), r2: 1 visit, r3: 0; plus one visit after as_of that must not count
    for i, (emp, day) in enumerate([("r1", 11), ("r1", 11), ("r1", 12), ("r1", 13), ("r2", 12), ("r3", 13)]):
        hour = "10:00" if (emp, day) != ("r3", 13) else "16:00"
        rows.append(dict(activity_id=f"v{i}", employee_id=emp, type="visit", occurred_at=f"2024-03-{day:02d}T{hour}"))
    # visits in Jan/Feb so the scorecard's visits indicator is met for everyone
    for emp in ("r1", "r2", "r3"):
        for period in ("2024-01", "2024-02"):
            rows += [
                dict(
                    activity_id=f"{emp}{period}{k}",
                    employee_id=emp,
                    type="visit",
                    occurred_at=f"{period}-{k + 1:02d}T09:00",
                )
                for k in range(28)
            ]
    return rows


LEADS = [
    # overdue: created 2 days ago, never contacted
    dict(lead_id="l1", owner_id="r1", created_at="2024-03-11T09:00"),
    # contacted in time
    dict(lead_id="l2", owner_id="r1", created_at="2024-03-11T09:00", first_contact_at="2024-03-11T12:00"),
    # not yet 24 h old
    dict(lead_id="l3", owner_id="r2", created_at="2024-03-13T09:00"),
    # contact recorded only after as_of: still overdue as of then
    dict(lead_id="l4", owner_id="r2", created_at="2024-03-10T09:00", first_contact_at="2024-03-14T09:00"),
    # lost before as_of: nothing to remind
    dict(lead_id="l5", owner_id="r3", created_at="2024-03-10T09:00", lost_at="2024-03-12T09:00"),
    # too old (outside the 14-day lookback)
    dict(lead_id="l6", owner_id="r3", created_at="2024-02-01T09:00"),
]


@pytest.fixture(scope="module")
def ds():
    return make_dataset(
        employees=EMPLOYEES, customers=CUSTOMERS, orders=orders(), targets=targets(), activities=visits(), leads=LEADS
    )


@pytest.fixture(scope="module")
def report(ds):
    return reminders("sales-default", ds, AS_OF)


def test_overdue_leads_as_of(report):
    overdue = [(r["lead_id"], r["owner_id"]) for r in report["lead_followups"]]
    assert overdue == [("l1", "r1"), ("l4", "r2")]
    assert report["lead_followups"][0]["hours_overdue"] == 30.0  # 2024-03-12 09:00 deadline -> 15:00 next day


def test_weekly_visits_under_half_the_prorated_target_by_mid_week(report):
    wk = report["weekly_visits"]
    assert wk["checked"] and wk["week_start"] == "2024-03-11"
    # 31 a month -> 7 a week -> bar 3.5 visits by mid-week; r3's 16:00 visit is after as_of
    flagged = {r["employee_id"]: r["visits_this_week"] for r in wk["employees"]}
    assert flagged == {"r2": 1, "r3": 0}
    r2 = next(r for r in wk["employees"] if r["employee_id"] == "r2")
    assert (r2["weekly_target"], r2["bar"]) == ("7", "3.5")
    assert r2["evidence"]["activities"] == ["v4"]


def test_weekly_visits_not_checked_before_mid_week(ds):
    early = reminders("sales-default", ds, "2024-03-13T11:59:59")["weekly_visits"]
    assert not early["checked"] and early["employees"] == []
    assert early["reason"] == "checked from Wednesday 12:00 on"


def test_low_performer_pool_and_two_period_review_list(report):
    pool = report["low_performer_pool"]
    assert pool["period"] == "2024-02" and pool["bar"] == "60"
    by_emp = {r["employee_id"]: r for r in pool["employees"]}
    assert set(by_emp) == {"r2", "r3"}
    # r2 in Feb: (revenue 20 × 40 + visits 28/31 = 90.32 × 20) over the 60 weight present = 43.44 -> coaching
    assert (by_emp["r2"]["scorecard_total"], by_emp["r2"]["suggested_action"]) == ("43.44", "coaching")
    assert by_emp["r2"]["evidence"][0]["inputs"][0]["ids"] == ["o4"]
    # r3 in Feb: (30 × 40 + 90.32 × 20) / 60 = 50.11, under the bar for one month only
    assert (by_emp["r3"]["scorecard_total"], by_emp["r3"]["suggested_action"]) == ("50.11", "coaching")
    assert [r["employee_id"] for r in report["review_list"]] == ["r2"]
    # January: (10 × 40 + 90.32 × 20) / 60 = 36.77
    assert report["review_list"][0]["scorecard_totals"] == ["36.77", "43.44"]
    assert "nothing here is decided automatically" in report["notice"]


def test_cli_reminders_prints_and_writes_json(ds, tmp_path):
    data = tmp_path / "data"
    ds.save(data)
    out = tmp_path / "rem.json"
    res = CliRunner().invoke(app, ["reminders", "--data", str(data), "--as-of", AS_OF, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "review list" in res.output and out.exists()
    assert b'"lead_id": "l4"' in out.read_bytes()
