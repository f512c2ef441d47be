"""Cumulative commissions (quarter/year to date, the period paying the increment) and true-ups, hand-checked."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.rule_data import make_dataset
from helpers.rule_plans import plan_dict, plan_yaml
from perfml.rules import evaluate, parse_plan
from perfml.rules.bands import round_by
from perfml.rules.commission import commission_amount
from perfml.rules.cumulative import before_column, cumulative_line, to_date_column
from perfml.rules.plan import Commission, RateBand, Rounding
from perfml.rules.values import Values

D = Decimal
YTD_BANDS = [
    {"from": 0, "to": 150000, "rate": 4},
    {"from": 150000, "to": 250000, "rate": 6},
    {"from": 250000, "rate": 8},
]
SEED_BANDS = [{"from": 0, "to": 100, "rate": 10}, {"from": 100, "rate": 15}]
EMPLOYEES = [dict(employee_id="r1", role="sales", team_id="t1", hire_date="2020-01-01")]
CUSTOMERS = [dict(customer_id="c1", created_at="2020-01-01")]


def plan_with(commission: dict):
    report = parse_plan(plan_yaml(plan_dict(segments__veteran__commission=commission)), "t")
    assert report.errors == []
    return report.plan


def sales(by_period: dict[str, str], targets: dict[str, str] | None = None, employees=EMPLOYEES):
    orders = [
        dict(order_id=f"o{i}", customer_id="c1", employee_id="r1", closed_at=f"{p}-10", amount=a)
        for i, (p, a) in enumerate(by_period.items())
    ]
    rows = [dict(employee_id="r1", period=p, metric="revenue", target=t) for p, t in (targets or {}).items()]
    return make_dataset(employees=employees, customers=CUSTOMERS, orders=orders, targets=rows)


def lines(run, name="commission"):
    return {r.period: r.line(name) for r in run.results if r.line(name) is not None}


# -- year to date on amount: the case -----------------------------------------------------------
def test_ytd_145000_before_and_20000_this_month_pays_1100():
    plan = plan_with({"mode": "marginal", "on": "amount", "cumulative": "year", "bands": YTD_BANDS})
    ds = sales({"2024-01": "45000", "2024-03": "100000", "2024-05": "20000"})
    months = ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"]
    paid = lines(evaluate(plan, ds, months))
    assert paid["2024-05"].value == D("1100.00")  # 6% × 15,000 + 4% × 5,000
    assert [paid[p].value for p in months] == [D("1800.00"), D("0.00"), D("4000.00"), D("0.00"), D("1100.00")]
    assert sum(paid[p].value for p in months) == D("6900.00")  # the tiers of the 165,000 year to date
    formula = paid["2024-05"].formula
    assert "year to date 2024-01..2024-05: marginal on amount 165,000.00" in formula
    assert "6,900.00" in formula and "amount 145,000.00" in formula and "6,900.00 − 5,800.00 = 1,100.00" in formula
    inputs = {i.name: i for i in paid["2024-05"].inputs}
    now, before = inputs["revenue_year_to_date"], inputs["revenue_year_to_date_before"]
    assert (now.value, now.period) == (D(165000), "2024-01..2024-05")
    assert (before.value, before.period) == (D(145000), "2024-01..2024-04")


def test_a_new_year_starts_from_zero_and_the_period_mode_is_unchanged():
    ds = sales({"2023-12": "200000", "2024-01": "20000"})
    cumulative = plan_with({"mode": "marginal", "on": "amount", "cumulative": "year", "bands": YTD_BANDS})
    jan = lines(evaluate(cumulative, ds, "2024-01"))["2024-01"]
    assert jan.value == D("800.00") and "nothing earlier in the year" in jan.formula
    monthly = plan_with({"mode": "marginal", "on": "amount", "bands": YTD_BANDS})
    assert lines(evaluate(monthly, ds, "2024-01"))["2024-01"].value == D("800.00")
    assert lines(evaluate(monthly, ds, "2023-12"))["2023-12"].value == D("9000.00")  # 6,000 + 3,000


def test_quarter_to_date_restarts_each_quarter():
    plan = plan_with({"mode": "marginal", "on": "amount", "cumulative": "quarter", "bands": YTD_BANDS})
    ds = sales({"2024-03": "145000", "2024-04": "20000"})
    paid = lines(evaluate(plan, ds, ["2024-03", "2024-04"]))
    assert paid["2024-04"].value == D("800.00")  # April opens Q2: 4% × 20,000
    assert "quarter to date 2024-04..2024-04" in paid["2024-04"].formula


# -- bands on attainment: the target to date is the sum of the monthly targets ---------------------------
def test_attainment_to_date_against_the_summed_monthly_targets():
    plan = plan_with({"mode": "marginal", "cumulative": "year", "bands": SEED_BANDS})
    targets = {"2024-01": "100000", "2024-02": "100000", "2024-03": "100000"}
    ds = sales({"2024-01": "130000", "2024-03": "100000"}, targets)
    paid = lines(evaluate(plan, ds, ["2024-01", "2024-02", "2024-03"]))
    assert paid["2024-01"].value == D("14500.00")  # 130% of 100,000
    # Feb: 130,000 / 200,000 = 65% → 13,000 to date; the month gives back 1,500
    assert paid["2024-02"].value == D("-1500.00")
    assert "attainment 65% (130,000.00 / 200,000.00)" in paid["2024-02"].formula
    # Mar: 230,000 / 300,000 → 23,000 to date
    assert paid["2024-03"].value == D("10000.00")
    assert sum(v.value for v in paid.values()) == D("23000.00")


def test_a_month_without_target_leaves_the_target_to_date_unknown():
    plan = plan_with({"mode": "marginal", "cumulative": "year", "bands": SEED_BANDS})
    ds = sales({"2024-01": "100000", "2024-02": "100000"}, {"2024-02": "100000"})
    paid = lines(evaluate(plan, ds, ["2024-02"]))
    assert paid["2024-02"].value == D("0.00") and "no target" in paid["2024-02"].formula


# -- true-up against a quarterly quota ----------------------------------------------------------------------
QUARTER_TARGETS = {"2024-01": "100000", "2024-02": "100000", "2024-03": "100000"}


def test_quarter_true_up_gives_back_what_one_strong_month_overpaid():
    plan = plan_with({"mode": "marginal", "true_up": "quarter", "bands": SEED_BANDS})
    ds = sales({"2024-01": "150000", "2024-02": "50000", "2024-03": "100000"}, QUARTER_TARGETS)
    run = evaluate(plan, ds, ["2024-01", "2024-02", "2024-03"])
    paid = lines(run)
    assert [paid[p].value for p in ("2024-01", "2024-02", "2024-03")] == [D("17500.00"), D("5000.00"), D("10000.00")]
    true_up = lines(run, "true_up")
    assert list(true_up) == ["2024-03"]  # only the quarter's last month has one
    # 300,000 on a quota of 300,000 → 30,000; the months paid 32,500
    assert true_up["2024-03"].value == D("-2500.00")
    assert true_up["2024-03"].rule == "segments.veteran.commission.true_up"
    text = true_up["2024-03"].formula
    assert "quarter 2024-01..2024-03" in text and "attainment 100% (300,000.00 / 300,000.00)" in text
    assert "17,500.00 (2024-01) + 5,000.00 (2024-02) + 10,000.00 (2024-03) = 32,500.00" in text
    assert "30,000.00 − 32,500.00 = -2,500.00" in text
    assert run.result("r1", "2024-03").total == D("7500.00")


def test_quarter_true_up_pays_what_a_monthly_gate_withheld():
    plan = plan_with({"mode": "marginal", "true_up": "quarter", "gate": 50, "bands": SEED_BANDS})
    ds = sales({"2024-01": "40000", "2024-02": "40000", "2024-03": "220000"}, QUARTER_TARGETS)
    run = evaluate(plan, ds, "2024-03")
    # months: 0 + 0 (below the 50% gate) + 28,000; quarter 300,000 / 300,000 → 30,000
    assert run.result("r1", "2024-03").line("true_up").value == D("2000.00")


def test_year_true_up_only_in_december():
    plan = plan_with({"mode": "marginal", "on": "amount", "true_up": "year", "bands": YTD_BANDS})
    ds = sales({"2024-06": "100000", "2024-12": "100000"})
    run = evaluate(plan, ds, ["2024-11", "2024-12"])
    assert run.result("r1", "2024-11").line("true_up") is None
    # months paid 4,000 + 4,000; the year's 200,000 → 6,000 + 3,000
    assert run.result("r1", "2024-12").line("true_up").value == D("1000.00")


# -- plan checks -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "changes, path, words",
    [
        ({"cumulative": "year", "true_up": "quarter"}, "segments.veteran.commission.true_up", "already pays"),
        ({"cumulative": "year", "target": {"value": 1000}}, "segments.veteran.commission.target", "as a `metric`"),
    ],
)
def test_span_checks_name_the_yaml_path(changes, path, words):
    doc = plan_dict(segments__veteran__commission={"mode": "marginal", "bands": SEED_BANDS, **changes})
    errors = parse_plan(plan_yaml(doc), "t").errors
    assert [(e.path, words in e.message) for e in errors] == [(path, True)]


def test_cumulative_with_proration_is_refused():
    doc = plan_dict(
        proration="days", segments__veteran__commission={"mode": "marginal", "cumulative": "year", "bands": SEED_BANDS}
    )
    errors = parse_plan(plan_yaml(doc), "t").errors
    assert [e.path for e in errors] == ["segments.veteran.commission.cumulative"]


# -- properties ------------------------------------------------------------------------------------------
cents = st.integers(min_value=0, max_value=10**9).map(lambda c: D(c) / 100)


@st.composite
def band_lists(draw):
    edges = sorted(set(draw(st.lists(st.integers(1, 10**7), min_size=0, max_size=4))))
    rates = draw(
        st.lists(st.integers(0, 3000).map(lambda r: D(r) / 100), min_size=len(edges) + 1, max_size=len(edges) + 1)
    )
    bounds = [0, *edges, None]
    return [
        RateBand(**{"from": lo, "to": hi, "rate": rate})
        for lo, hi, rate in zip(bounds[:-1], bounds[1:], rates, strict=True)
    ]


def marginal(bands, amount):
    return commission_amount(Commission(mode="marginal", on="amount", bands=bands), amount, None)[0]


@settings(max_examples=200, deadline=None)
@given(bands=band_lists(), a=cents, b=cents)
def test_marginal_tiers_never_pay_less_for_more(bands, a, b):
    low, high = sorted((a, b))
    assert marginal(bands, low) <= marginal(bands, high)


@settings(max_examples=200, deadline=None)
@given(bands=band_lists())
def test_marginal_tiers_have_no_jump_at_a_band_edge(bands):
    top = max(band.rate for band in bands)
    step = D("0.000001")
    for band in bands[1:]:
        edge = band.lo
        jump = marginal(bands, edge) - marginal(bands, edge - step)
        assert 0 <= jump <= top * step / 100  # the payout at the edge is the limit from below
        assert round_by(Rounding(), marginal(bands, edge)) - round_by(Rounding(), marginal(bands, edge - step)) in (
            D(0),
            D("0.01"),  # only when the edge pay sits exactly on a half cent
        )


@settings(max_examples=100, deadline=None)
@given(
    bands=band_lists(),
    months=st.lists(st.tuples(cents, st.integers(1, 10**6).map(D)), min_size=1, max_size=12),
    on=st.sampled_from(["amount", "attainment"]),
)
def test_cumulative_increments_add_up_to_the_tiers_of_the_total(bands, months, on):
    plan = plan_with(
        {
            "mode": "marginal",
            "on": on,
            "cumulative": "year",
            "bands": [b.model_dump(mode="json", by_alias=True, exclude_none=True) for b in bands],
        }
    )
    base, target = D(0), D(0)
    paid = D(0)
    for i, (amount, month_target) in enumerate(months):
        values = {
            before_column("revenue", "year"): base,
            before_column("revenue_target", "year"): target,
            to_date_column("revenue", "year"): base + amount,
            to_date_column("revenue_target", "year"): target + month_target,
        }
        paid += cumulative_line(plan, "veteran", Values("r1", f"2024-{i + 1:02d}", values)).value
        base, target = base + amount, target + month_target
    c = plan.segments["veteran"].commission
    assert paid == round_by(plan.rounding, commission_amount(c, base, target if on == "attainment" else None)[0])
