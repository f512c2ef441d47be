"""The shared metrics layer on tiny hand-made frames: exact numbers, zero versus NaN, time rules."""

from __future__ import annotations

import math
from decimal import Decimal

import pandas as pd
import pytest

from helpers.rule_data import make_dataset
from perfml.errors import PerfmlError
from perfml.metrics import (
    METRICS,
    employee_period_metrics,
    metric_evidence,
    metric_table,
    period_label,
    period_of,
    period_range,
    shift_period,
)

EMPLOYEES = [
    dict(employee_id="r1", role="sales", team_id="t1", hire_date="2023-01-10"),
    dict(employee_id="a1", role="assistant", team_id="t1", hire_date="2024-01-15", termination_date="2024-03-02"),
    dict(employee_id="r2", role="sales", team_id="t2", hire_date="2023-01-01"),
]
CUSTOMERS = [dict(customer_id=c, created_at="2022-12-01") for c in ("c1", "c2", "c3")]


def _row(frame: pd.DataFrame, employee: str, period: str) -> pd.Series:
    hit = frame[(frame["employee_id"] == employee) & (frame["period"] == period)]
    assert len(hit) == 1, f"expected one row for {employee} {period}, got {len(hit)}"
    return hit.iloc[0]


@pytest.fixture(scope="module")
def ds():
    return make_dataset(
        employees=EMPLOYEES,
        customers=CUSTOMERS,
        ownership_changes=[
            dict(change_id="x1", customer_id="c1", to_employee_id="r1", changed_at="2023-01-05"),
            dict(change_id="x2", customer_id="c1", from_employee_id="r1", to_employee_id="a1", changed_at="2024-02-10"),
        ],
        orders=[
            dict(order_id="o1", customer_id="c1", employee_id="r1", closed_at="2023-02-03T10:00", amount="50"),
            dict(order_id="o2", customer_id="c1", employee_id="r1", closed_at="2024-02-03T10:00", amount="100.10"),
            dict(order_id="o3", customer_id="c2", employee_id="r1", closed_at="2024-02-28T23:59:59", amount="30"),
            dict(order_id="o4", customer_id="c1", employee_id="a1", closed_at="2024-02-20", amount="1000"),
            dict(order_id="o5", customer_id="c3", employee_id="r2", closed_at="2024-02-05", amount="0.1"),
            dict(order_id="o6", customer_id="c3", employee_id="r2", closed_at="2024-02-06", amount="0.2"),
        ],
        activities=[
            dict(activity_id="v1", employee_id="r1", type="visit", occurred_at="2024-02-01"),
            dict(activity_id="v2", employee_id="r1", type="visit", occurred_at="2024-02-29T23:00"),
            dict(activity_id="v3", employee_id="r1", type="call", occurred_at="2024-02-02"),
            dict(activity_id="v4", employee_id="r1", type="email", occurred_at="2024-03-01T00:00"),
        ],
        leads=[
            # contacted after 2 h; converted in Feb
            dict(
                lead_id="l1",
                owner_id="r1",
                created_at="2024-02-01T08:00",
                first_contact_at="2024-02-01T10:00",
                converted_at="2024-02-10",
            ),
            # contacted after 30 h (late); lost in Feb
            dict(
                lead_id="l2",
                owner_id="r1",
                created_at="2024-02-05T00:00",
                first_contact_at="2024-02-06T06:00",
                lost_at="2024-02-20",
            ),
            # created on the last evening: its 24 h deadline is in March, so it counts there
            dict(lead_id="l3", owner_id="r1", created_at="2024-02-29T20:00", first_contact_at="2024-03-01T09:00"),
            # never contacted
            dict(lead_id="l4", owner_id="r1", created_at="2024-02-10T00:00"),
        ],
        satisfaction=[
            dict(survey_id="s1", customer_id="c2", employee_id="r1", responded_at="2024-02-10", score="79"),
            dict(survey_id="s2", customer_id="c2", employee_id="r1", responded_at="2024-02-11", score="80"),
            # unattributed: goes to c1's owner on 2024-02-15, which is a1 (changed on 02-10)
            dict(survey_id="s3", customer_id="c1", responded_at="2024-02-15", score="90"),
        ],
        targets=[
            dict(employee_id="r1", period="2024-02", metric="revenue", target="100"),
            dict(employee_id="r1", period="2024-02", metric="visits", target="8"),
            dict(employee_id="r1", period="2024-02", metric="calls", target="5"),
        ],
        metrics=[dict(employee_id="r1", period="2024-02", metric="teaching_score", value="4.5")],
    )


@pytest.fixture(scope="module")
def m(ds):
    return employee_period_metrics(ds)


def test_one_row_per_employed_month_from_first_to_last_event_month(m):
    assert list(m.columns[:4]) == ["employee_id", "period", "team_id", "role"]
    assert m["period"].min() == "2023-01" and m["period"].max() == "2024-03"
    assert list(m.loc[m["employee_id"] == "a1", "period"]) == ["2024-01", "2024-02", "2024-03"]
    assert (m["employee_id"] == "r1").sum() == 15
    assert not m.duplicated(["employee_id", "period"]).any()
    assert m.equals(m.sort_values(["employee_id", "period"]).reset_index(drop=True))
    assert _row(m, "a1", "2024-03")["tenure_months"] == 2


def test_revenue_orders_and_new_repeat_split(m):
    r1 = _row(m, "r1", "2024-02")
    assert r1["revenue"] == pytest.approx(130.10)
    assert r1["revenue_at_close"] == pytest.approx(130.10)
    assert r1["new_revenue"] == 30 and r1["repeat_revenue"] == pytest.approx(100.10)
    assert (r1["orders"], r1["new_customers"]) == (2, 1)
    a1 = _row(m, "a1", "2024-02")
    assert (a1["revenue"], a1["orders"], a1["new_customers"]) == (1000, 1, 0)


def test_zero_when_nothing_happened_nan_when_undefined(m):
    quiet = _row(m, "r2", "2023-06")
    for col in ("revenue", "orders", "visits", "activities", "leads", "satisfaction_responses"):
        assert quiet[col] == 0
    for col in (
        "lead_conversion_rate",
        "leads_contacted_24h_share",
        "avg_satisfaction",
        "attainment",
        "revenue_target",
        "teaching_score",
    ):
        assert math.isnan(quiet[col])


def test_activity_counts_by_type_and_month(m):
    feb, mar = _row(m, "r1", "2024-02"), _row(m, "r1", "2024-03")
    assert (feb["visits"], feb["calls"], feb["emails"], feb["activities"]) == (2, 1, 0, 3)
    assert (mar["emails"], mar["activities"]) == (1, 1)


def test_lead_metrics(m):
    feb, mar = _row(m, "r1", "2024-02"), _row(m, "r1", "2024-03")
    assert (feb["leads"], feb["leads_converted"], feb["leads_lost"]) == (4, 1, 1)
    assert feb["lead_conversion_rate"] == 0.5
    # l1, l2, l4 are due in Feb, only l1 was contacted in time; l3 is due (and on time, 13 h) in March
    assert feb["leads_due_24h"] == 3 and feb["leads_contacted_24h_share"] == pytest.approx(1 / 3)
    assert mar["leads_due_24h"] == 1 and mar["leads_contacted_24h_share"] == 1
    assert feb["lead_response_hours"] == pytest.approx((2 + 30) / 2)
    assert mar["lead_response_hours"] == pytest.approx(13)


def test_satisfaction_mean_and_unattributed_survey_goes_to_owner_at_response(m):
    r1 = _row(m, "r1", "2024-02")
    assert (r1["satisfaction_responses"], r1["avg_satisfaction"]) == (2, 79.5)
    a1 = _row(m, "a1", "2024-02")
    assert (a1["satisfaction_responses"], a1["avg_satisfaction"]) == (1, 90)


def test_targets_attainment_and_extra_metrics(m):
    r1 = _row(m, "r1", "2024-02")
    assert (r1["revenue_target"], r1["visits_target"], r1["calls_target"]) == (100, 8, 5)
    assert math.isnan(r1["new_customers_target"])
    assert r1["attainment"] == pytest.approx(1.301)
    assert r1["teaching_score"] == 4.5


def test_growth_year_on_year_and_trailing_six(m):
    r1 = _row(m, "r1", "2024-02")
    assert r1["revenue_last_year"] == 50
    assert r1["revenue_growth_yoy"] == pytest.approx(130.10 / 50 - 1)
    # 2023-08 looks back at 2023-02..07: one 50 order -> mean 50/6
    aug = _row(m, "r1", "2023-08")
    assert aug["revenue_trailing6_mean"] == pytest.approx(50 / 6)
    assert aug["revenue_growth_trailing6"] == -1
    # 2023-07 has only 6 prior months if hire month counts: 2023-01..06 -> defined
    assert _row(m, "r1", "2023-07")["revenue_trailing6_mean"] == pytest.approx(50 / 6)
    assert math.isnan(_row(m, "r1", "2023-06")["revenue_trailing6_mean"])
    # base of zero: growth undefined, base itself reported as 0
    assert _row(m, "r1", "2024-02")["revenue_trailing6_mean"] == 0
    assert math.isnan(_row(m, "r1", "2024-02")["revenue_growth_trailing6"])
    # the assistant was not employed a year ago
    assert math.isnan(_row(m, "a1", "2024-02")["revenue_last_year"])


def test_team_totals_and_team_growth(m):
    for emp in ("r1", "a1"):
        row = _row(m, emp, "2024-02")
        assert row["team_revenue"] == pytest.approx(1130.10)
        assert row["team_revenue_last_year"] == 50
        assert row["team_revenue_growth_yoy"] == pytest.approx(1130.10 / 50 - 1)
    # team t1 existed a year before March 2024 but sold nothing then: base 0, growth undefined
    mar = _row(m, "r1", "2024-03")
    assert mar["team_revenue_last_year"] == 0 and math.isnan(mar["team_revenue_growth_yoy"])


def test_exact_money_units_do_not_drift(ds):
    table = metric_table(ds)
    rows = table.frame.index[(table.frame["employee_id"] == "r2") & (table.frame["period"] == "2024-02")]
    assert table.decimal("revenue", rows[0]) == Decimal("0.3")  # 0.1 + 0.2, exactly
    r1 = table.frame.index[(table.frame["employee_id"] == "r1") & (table.frame["period"] == "2024-02")][0]
    assert table.decimal("revenue", r1) == Decimal("130.1")
    assert table.decimal("revenue_last_year", r1) == Decimal("50")


def test_crediting_ledger_moves_revenue_and_nobody_gets_held(ds):
    ledger = pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3", "o4", "o4", "o5", "o6"],
            "employee_id": pd.array(["r1", None, "r1", "a1", "r1", "r2", "r2"], dtype="string"),
            "share_bp": [10_000, 10_000, 10_000, 2_000, 8_000, 10_000, 10_000],
        }
    )
    table = metric_table(ds, crediting=ledger)
    m = table.frame
    r1, a1 = _row(m, "r1", "2024-02"), _row(m, "a1", "2024-02")
    assert a1["revenue"] == 200 and a1["repeat_revenue"] == 200
    assert r1["revenue"] == 830  # o2 held (nobody), o3 30, 80% of o4
    assert r1["revenue_at_close"] == pytest.approx(130.10)  # at close is unchanged by crediting
    assert r1["team_revenue"] == pytest.approx(1130.10)  # the team still sold everything
    assert r1["attainment"] == pytest.approx(8.3)
    assert table.decimal("revenue", int(a1.name)) == Decimal("200")


def test_periods_filter_keeps_history_for_growth(ds, m):
    only = employee_period_metrics(ds, periods=["2024-02"])
    assert set(only["period"]) == {"2024-02"} and len(only) == 3
    full = m[m["period"] == "2024-02"].reset_index(drop=True)
    pd.testing.assert_frame_equal(only, full)


def test_extra_metric_may_not_shadow_a_computed_one():
    ds = make_dataset(
        employees=EMPLOYEES[:1],
        customers=CUSTOMERS[:1],
        metrics=[dict(employee_id="r1", period="2024-02", metric="revenue", value="1")],
    )
    with pytest.raises(PerfmlError, match="revenue would shadow a computed metric"):
        employee_period_metrics(ds)


def test_empty_dataset_gives_empty_frame_with_columns():
    m = employee_period_metrics(make_dataset(employees=EMPLOYEES))
    assert m.empty and {"revenue", "attainment", "team_revenue_growth_yoy"} <= set(m.columns)


def test_every_catalogued_metric_is_a_column(m):
    assert set(METRICS) <= set(m.columns)


def test_period_helpers():
    ts = pd.Series(pd.to_datetime(["2024-01-31T23:59:59", "2024-12-01T00:00:00", None]))
    assert list(period_of(ts).fillna("NA")) == ["2024-01", "2024-12", "NA"]
    assert period_label(24291) == "2024-04"
    assert shift_period("2024-01", -1) == "2023-12" and shift_period("2024-12", 1) == "2025-01"
    assert period_range("2023-11", "2024-02") == ["2023-11", "2023-12", "2024-01", "2024-02"]
    with pytest.raises(PerfmlError, match="YYYY-MM"):
        shift_period("2024-13", 0)


def test_evidence_lists_the_rows_behind_each_metric(ds):
    ev = metric_evidence(
        ds, periods=["2024-02"], metrics=["revenue", "visits", "lead_conversion_rate", "avg_satisfaction"]
    )
    got = {(r.employee_id, r.metric): (r.table, list(r.ids)) for r in ev.itertuples()}
    assert got[("r1", "revenue")] == ("orders", ["o2", "o3"])
    assert got[("r1", "visits")] == ("activities", ["v1", "v2"])
    assert got[("r1", "leads_converted")] == ("leads", ["l1"])
    assert got[("r1", "leads_lost")] == ("leads", ["l2"])
    assert got[("a1", "satisfaction_responses")] == ("satisfaction", ["s3"])
    assert set(ev["period"]) == {"2024-02"}
