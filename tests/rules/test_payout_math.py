"""Commission and bonus arithmetic: the seed worked examples, band boundaries, gates, caps, properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.rule_plans import plan_dict, plan_yaml
from perfml.errors import PlanError
from perfml.rules import evaluate_values, load_plan, parse_plan
from perfml.rules.commission import commission_amount, commission_text
from perfml.rules.plan import Commission, RateBand

D = Decimal
SEED_BANDS = [RateBand(**{"from": 0, "to": 100, "rate": 10}), RateBand(**{"from": 100, "rate": 15})]
THREE_BANDS = [
    RateBand(**{"from": 0, "to": 80, "rate": 5}),
    RateBand(**{"from": 80, "to": 120, "rate": 10}),
    RateBand(**{"from": 120, "rate": 15}),
]


TARGET = D(100_000)


def pay(mode, revenue, target=TARGET, bands=SEED_BANDS, **kw) -> Decimal:
    c = Commission(mode=mode, bands=bands, **kw)
    return commission_amount(c, D(revenue), target)[0]


def veteran(**values):
    return evaluate_values("sales-default", values, role="sales", tenure_months=12)


# -- the seed worked examples -----------------------------------------------------------------------
def test_seed_marginal_commission_130k_on_100k_target_is_14500():
    result = veteran(revenue=130_000, revenue_target=100_000)
    line = result.line("commission")
    assert line.value == D("14500.00") and str(line.value) == "14500.00"
    assert line.rule == "segments.veteran.commission"
    assert "10% × 100,000.00 + 15% × 30,000.00" in line.formula
    assert [i.name for i in line.inputs] == ["revenue", "revenue_target"]


def test_marginal_versus_whole_on_the_same_numbers():
    assert pay("marginal", 130_000) == D("14500")
    assert pay("whole", 130_000) == D("19500")  # 15% of the whole 130,000
    assert pay("marginal", 80_000) == pay("whole", 80_000) == D("8000")


@pytest.mark.parametrize(
    "revenue, marginal, whole",
    [
        # boundary at 100% attainment = 100,000: lower-inclusive, so exactly 100,000 is in the 15% band
        ("99999.99", "9999.999", "9999.999"),
        ("100000", "10000", "15000"),
        ("100000.01", "10000.0015", "15000.0015"),
        # boundary at 0
        ("0", "0", "0"),
        ("0.01", "0.001", "0.001"),
    ],
)
def test_every_seed_band_boundary(revenue, marginal, whole):
    assert pay("marginal", revenue) == D(marginal)
    assert pay("whole", revenue) == D(whole)


@pytest.mark.parametrize(
    "revenue, marginal, whole",
    [
        ("79999.99", "3999.9995", "3999.9995"),
        ("80000", "4000", "8000"),
        ("80000.01", "4000.001", "8000.001"),
        ("119999.99", "7999.999", "11999.999"),
        ("120000", "8000", "18000"),
        ("120000.01", "8000.0015", "18000.0015"),
    ],
)
def test_every_boundary_of_three_bands(revenue, marginal, whole):
    assert pay("marginal", revenue, bands=THREE_BANDS) == D(marginal)
    assert pay("whole", revenue, bands=THREE_BANDS) == D(whole)


def test_gate_at_just_below_and_above():
    assert pay("marginal", "49999.99", gate=50) == 0
    assert pay("marginal", "50000", gate=50) == D("5000")
    assert pay("marginal", "50000.01", gate=50) == D("5000.001")


def test_cap_limits_the_commission():
    assert pay("marginal", 300_000, cap=20_000) == D("20000")
    assert pay("marginal", 100_000, cap=20_000) == D("10000")


def test_amount_bands_without_target():
    c = Commission(
        mode="marginal",
        on="amount",
        bands=[RateBand(**{"from": 0, "to": 50000, "rate": 2}), RateBand(**{"from": 50000, "rate": 4})],
    )
    assert commission_amount(c, D(60000), None)[0] == D("1400")


def test_no_target_pays_no_attainment_commission():
    c = Commission(mode="marginal", bands=SEED_BANDS)
    value, facts = commission_amount(c, D(5000), None)
    assert value == 0 and "no target" in commission_text(c, *facts)


@given(st.decimals(min_value=0, max_value=500_000, places=2), st.decimals(min_value=0, max_value=500_000, places=2))
@settings(max_examples=200, deadline=None)
def test_property_marginal_payout_non_decreasing(a, b):
    lo, hi = sorted((a, b))
    assert pay("marginal", lo, bands=THREE_BANDS) <= pay("marginal", hi, bands=THREE_BANDS)


@given(st.decimals(min_value=0, max_value=500_000, places=2))
@settings(max_examples=200, deadline=None)
def test_property_marginal_payout_continuous(x):
    # One cent more revenue never moves a marginal payout by more than the top rate times one cent.
    cent = D("0.01")
    step = pay("marginal", x + cent, bands=THREE_BANDS) - pay("marginal", x, bands=THREE_BANDS)
    assert 0 <= step <= D("0.15") * cent


# -- growth, team, satisfaction, milestone, base ------------------------------------------------------
def growth_rate(growth_pct: str) -> str:
    base = D(100_000)
    revenue = base * (1 + D(growth_pct) / 100)
    line = veteran(revenue=revenue, revenue_target=100_000, revenue_last_year=base).line("growth_bonus")
    return line.formula.split("rate ")[1].split(";")[0]


def test_seed_growth_25_percent_gets_rate_15():
    assert growth_rate("25") == "15%"
    line = veteran(revenue=125_000, revenue_target=100_000, revenue_last_year=100_000).line("growth_bonus")
    assert line.value == D("3750.00")  # 15% of the 25,000 increase


@pytest.mark.parametrize(
    "growth, rate",
    [
        ("-10", "10%"),
        ("19.99", "10%"),
        ("20", "15%"),
        ("20.01", "15%"),
        ("29.99", "15%"),
        ("30", "20%"),
        ("30.01", "20%"),
    ],
)
def test_growth_band_boundaries(growth, rate):
    assert growth_rate(growth) == rate


def test_growth_without_last_year_pays_nothing_and_says_why():
    line = veteran(revenue=125_000, revenue_target=100_000).line("growth_bonus")
    assert line.value == 0 and "no revenue_last_year" in line.formula


def team(growth_pct):
    last = D(1_000_000)
    values = dict(
        revenue=100_000,
        revenue_target=100_000,
        visits=10,
        visits_target=10,
        team_revenue_last_year=last,
        team_revenue=last * (1 + D(growth_pct) / 100),
    )
    return veteran(**values)


def test_seed_team_growth_12_percent_adds_5_percent_of_base_bonus():
    result = team("12")
    base = result.line("base_bonus").value
    assert base == D("5000.00")  # scorecard 100 (revenue 100%, visits 100%, no lead/satisfaction data)
    assert result.line("team_bonus").value == D("250.00")


@pytest.mark.parametrize("growth, paid", [("9.99", False), ("10", True), ("10.01", True), ("-5", False)])
def test_team_growth_boundary(growth, paid):
    assert (team(growth).line("team_bonus").value == D("250.00")) is paid


def gate(score):
    return veteran(revenue=130_000, revenue_target=100_000, avg_satisfaction=score).line("satisfaction_gate")


def test_seed_satisfaction_79_deducts_80_does_not():
    at79, at80 = gate(79), gate(80)
    assert at80.value == 0 and "80 ≥ 80" in at80.formula
    assert at79.value < 0
    # 10% of the subtotal before the gate
    result = veteran(revenue=130_000, revenue_target=100_000, avg_satisfaction=79)
    subtotal = sum(ln.value for ln in result.lines if ln.name != "satisfaction_gate")
    assert at79.value == (-subtotal / 10).quantize(D("0.01"))
    assert result.total == subtotal + at79.value
    assert gate("79.99").value < 0 and gate("80.01").value == 0


def test_milestone_pays_per_large_order():
    result = evaluate_values(
        "sales-default",
        {"revenue": 450_000, "revenue_target": 100_000},
        role="sales",
        tenure_months=12,
        orders=[("o1", "200000"), ("o2", "199999.99"), ("o3", "250000")],
    )
    line = result.line("milestone_bonus")
    assert line.value == D("2000.00") and line.inputs[0].ids == ["o1", "o3"]


@pytest.mark.parametrize("amount", [None, float("nan")])
def test_milestone_order_without_an_amount_is_refused_by_id(amount):
    with pytest.raises(PlanError, match=r"orders: order o2 has no amount"):
        evaluate_values("sales-default", {}, orders=[("o1", "200000"), ("o2", amount)])


def test_base_bonus_scales_with_scorecard_and_is_capped_at_max_score():
    result = veteran(revenue=200_000, revenue_target=100_000, visits=5, visits_target=10)
    # revenue 120 (cap) × 40 + visits 50 × 20 over the 60 weight present = 96.67
    assert result.scorecard["total"] == D("96.67")
    assert result.line("base_bonus").value == D("4833.50")


def test_new_staff_segment_selected_by_tenure():
    assert evaluate_values("sales-default", {}, role="sales", tenure_months=5).segment == "new_staff"
    assert evaluate_values("sales-default", {}, role="sales", tenure_months=6).segment == "veteran"
    assert evaluate_values("sales-default", {}, role="assistant", tenure_months=0).segment == "assistant"


def test_combined_task_caps_new_customer_target_at_70_percent_of_capacity():
    values = {
        "repeat_revenue": 30_000,
        "revenue_target": 60_000,
        "new_customers": 7,
        "new_customers_target": 20,
        "new_customers_best3": 10,
    }
    # The built-in plan no longer caps by capacity (its 70% rule is about transferred revenue): a plan of its own.
    doc = load_plan("sales-default").model_dump(mode="json", by_alias=True, exclude_none=True)
    doc["segments"]["assistant"]["combined_task"]["parts"] = {
        "repeat_revenue": {"metric": "repeat_revenue", "target": {"metric": "revenue_target"}, "weight": 30},
        "new_customers": {
            "metric": "new_customers",
            "target": {"metric": "new_customers_target"},
            "weight": 10,
            "capacity": {"share": 70, "months": 3},
        },
    }
    plan = parse_plan(plan_yaml(doc), "capacity").plan
    result = evaluate_values(plan, values, role="assistant")
    line = result.line("combined_task")
    # target 20 capped at 70% × 10 = 7 -> 100%; repeat 50%; (50×30 + 100×10) / 40 = 62.5% of 3,000
    assert line.value == D("1875.00")
    assert "capped at 70% of capacity 10" in line.formula
    no_history = evaluate_values(plan, {**values, "new_customers_best3": 0}, role="assistant")
    # no demonstrated capacity: the target stands (7/20 = 35%) -> (1500 + 350) / 40 = 46.25%
    assert no_history.line("combined_task").value == D("1387.50")


def test_rounding_is_once_per_line_half_up_by_default():
    # 10% of 0.05 = 0.005 -> 0.01 half-up (a half-even rule would give 0.00)
    assert veteran(revenue="0.05", revenue_target=100_000).line("commission").value == D("0.01")
    doc = plan_dict(rounding={"places": 0.01, "mode": "half_even"})
    plan = parse_plan(plan_yaml(doc), "t").plan
    res = evaluate_values(plan, {"revenue": "0.05", "revenue_target": 100_000})
    assert res.line("commission").value == D("0.00")


def test_what_if_values_flow_into_derived_metrics():
    result = veteran(revenue=150_000, revenue_target=100_000, revenue_last_year=100_000)
    growth = result.line("growth_bonus")
    assert growth.value == D("10000.00")  # 50% growth -> 20% of the 50,000 increase
    assert growth.formula.startswith("revenue growth 50% over revenue_last_year (the same month last year)")
    assert "→ bands[2] rate 20%" in growth.formula
    # attainment is derived from the given revenue and target, not read from anywhere else
    assert result.line("commission").formula.startswith("marginal on attainment 150%")
