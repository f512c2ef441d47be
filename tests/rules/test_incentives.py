"""Assistant transferred-revenue cap, SPIFFs, recoverable draws, bonus texts and bonus-base warnings."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.rule_data import make_dataset
from helpers.rule_plans import plan_dict, plan_yaml
from perfml.rules import evaluate, evaluate_values, load_plan, parse_plan
from perfml.rules.bands import find_band
from perfml.rules.bonuses import percent_text
from perfml.rules.draws import draw_balance, draw_step
from perfml.rules.plan import Draw
from perfml.rules.spiff import SpiffOrder

D = Decimal


def plan_of(doc):
    report = parse_plan(plan_yaml(doc), "t")
    assert report.ok, [str(e) for e in report.errors]
    return report.plan


def problems(doc) -> tuple[list[str], list[str]]:
    report = parse_plan(plan_yaml(doc), "t")
    return [f"{e.path}: {e.message}" for e in report.errors], [f"{w.path}: {w.message}" for w in report.warnings]


# -- the assistant's transferred-revenue cap ------------------------------------------------------------
def assistant(**values):
    return evaluate_values("sales-default", values, role="assistant").line("combined_task")


def test_assistant_100000_transferred_target_10000_counts_7000():
    # 100,000 transferred at the plan's 20% share -> 20,000 credited; counted up to 70% × 10,000 = 7,000
    assert load_plan("sales-default").crediting.transferred_share["assistant"] == D(20)
    line = assistant(
        revenue=20_000, transferred_revenue=20_000, revenue_target=10_000, new_customers=0, new_customers_target=1
    )
    assert (
        "+ min(20,000.00, 7,000.00)" in line.formula and "= 7,000.00 / target 10,000.00 → 70% of target" in line.formula
    )
    # 7,000 / 10,000 = 70% × weight 30, new customers 0% × 10 -> 52.5% of 3,000
    assert line.value == D("1575.00")
    assert "weighted completion 52.5% (weights sum to 40) of the amount 3,000.00" in line.formula


def test_a_part_fed_by_transferred_revenue_alone_counts_7000():
    task = {
        "amount": 1000,
        "parts": {
            "transferred": {
                "metric": "transferred_revenue",
                "target": {"metric": "revenue_target"},
                "weight": 1,
                "counted_up_to": {"share": 70, "of": "revenue_target"},
            }
        },
    }
    plan = plan_of(plan_dict(segments__veteran__combined_task=task))
    line = evaluate_values(plan, {"transferred_revenue": 20_000, "revenue_target": 10_000}).line("combined_task")
    assert line.value == D("700.00")  # 7,000 counted / 10,000 = 70% of 1,000
    assert "→ 7,000.00) / target 10,000.00 → 70% of target" in line.formula


@pytest.mark.parametrize(
    "revenue, transferred, counted, completion, pays",
    [
        # direct 5,000 counts in full; transferred 20,000 counts up to 14,000: 19,000 / 20,000 = 95%
        (25_000, 20_000, "19,000.00", "95%", "2137.50"),
        # all 20,000 earned directly: 100%, well above the 70% a transfer could count for
        (20_000, 0, "20,000.00", "100%", "2250.00"),
        # under the limit nothing is cut: 5,000 direct + 10,000 transferred = 75%
        (15_000, 10_000, "15,000.00", "75%", "1687.50"),
    ],
)
def test_revenue_earned_directly_is_never_capped(revenue, transferred, counted, completion, pays):
    line = assistant(
        revenue=revenue, transferred_revenue=transferred, revenue_target=20_000, new_customers=0, new_customers_target=1
    )
    assert f"= {counted} / target 20,000.00 → {completion} of target" in line.formula
    assert line.value == D(pays)  # completion × 30 / 40 of 3,000


def test_no_transferred_revenue_this_period_counts_as_none_transferred():
    line = assistant(revenue=8_000, revenue_target=10_000, new_customers=1, new_customers_target=1)
    assert "transferred_revenue 0.00" in line.formula and "→ 80% of target" in line.formula
    assert line.value == D("2550.00")  # (80 × 30 + 100 × 10) / 40 = 85% of 3,000


def test_part_completion_above_the_cap_says_so():
    line = assistant(revenue=30_000, transferred_revenue=0, revenue_target=20_000, new_customers=0)
    assert "→ 150% of target, counted up to the cap of 120% of target" in line.formula


def test_counted_up_to_checks_name_their_yaml_path():
    part = {"metric": "repeat_revenue", "target": {"metric": "revenue_target"}, "weight": 1}
    bad = {**part, "counted_up_to": {"share": 170, "of": "revenue_targt", "portion": "transferred_revenue"}}
    errs, _ = problems(plan_dict(segments__veteran__combined_task={"amount": 100, "parts": {"r": bad}}))
    path = "segments.veteran.combined_task.parts.r.counted_up_to"
    assert f"{path}.share: must be above 0 and at most 100 (percent), got 170" in errs
    assert f"{path}.of: unknown metric 'revenue_targt'" in errs
    assert any(
        e.startswith(f"{path}.portion: transferred_revenue is not a part of the metric repeat_revenue") for e in errs
    )


# -- SPIFFs ------------------------------------------------------------------------------------------
SPRING = {"id": "spring", "from": "2024-03-01", "to": "2024-03-15", "products": ["widget"], "pays": 500}
EMPLOYEES = [dict(employee_id="r1", role="sales", team_id="t1", hire_date="2020-01-01")]
CUSTOMERS = [dict(customer_id="c1", created_at="2020-01-01")]


def order(oid, closed_at, amount="1000", product="widget"):
    return dict(order_id=oid, customer_id="c1", employee_id="r1", closed_at=closed_at, amount=amount, product=product)


def spiff_run(spiffs, orders, periods=("2024-03",)):
    plan = plan_of(plan_dict(segments__veteran__spiffs=spiffs))
    ds = make_dataset(employees=EMPLOYEES, customers=CUSTOMERS, orders=orders)
    return evaluate(plan, ds, list(periods))


def test_spiff_window_is_inclusive_of_its_last_day_and_limited_to_its_products():
    orders = [
        order("o0", "2024-02-29 23:59:59"),  # the day before the window
        order("o1", "2024-03-01 00:00:00"),  # the first day
        order("o2", "2024-03-15 23:59:59"),  # the last day, late: counts
        order("o3", "2024-03-16 00:00:00"),  # the next day: does not
        order("o4", "2024-03-10 12:00:00", product="gadget"),  # another product
        order("o5", "2024-03-11 12:00:00", product=""),  # no product
    ]
    run = spiff_run([SPRING], orders, periods=("2024-02", "2024-03"))
    march = run.result("r1", "2024-03").line("spiff")
    assert march.value == D("1000.00")
    assert march.inputs[0].ids == ["o1", "o2"]
    assert "o1 (widget, 2024-03-01): 500.00 × credited share 100%" in march.formula
    assert "o2 (widget, 2024-03-15)" in march.formula and "o3" not in march.formula
    assert run.result("r1", "2024-02").line("spiff").value == D("0.00")


def test_spiff_without_products_takes_any_and_min_order_is_inclusive():
    spiff = {"id": "any", "from": "2024-03-01", "to": "2024-03-31", "pays": 100, "min_order": 1000}
    orders = [order("o1", "2024-03-02", "1000", ""), order("o2", "2024-03-03", "999.99"), order("o3", "2024-03-04")]
    line = spiff_run([spiff], orders).result("r1", "2024-03").line("spiff")
    assert line.value == D("200.00") and line.inputs[0].ids == ["o1", "o3"]
    assert "o1 (no product, 2024-03-02)" in line.formula


def test_spiffs_of_a_segment_sum_into_one_line_paid_by_credited_share():
    rate = {"id": "rate", "from": "2024-03-01", "to": "2024-03-31", "rate": 2}
    plan = plan_of(plan_dict(segments__veteran__spiffs=[SPRING, rate]))
    orders = [SpiffOrder("o1", dt.date(2024, 3, 5), "widget", D("10000"), D(60))]  # a 60% split
    line = evaluate_values(plan, {}, spiff_orders=orders).line("spiff")
    # 500 × 60% = 300, plus 2% of the credited 6,000 = 120
    assert line.value == D("420.00")
    assert "2% of the credited 6,000.00" in line.formula and [i.name for i in line.inputs] == ["spring", "rate"]


def test_spiff_checks_name_their_yaml_path():
    bad = [
        {"id": "a", "from": "2024-03-31", "to": "2024-03-01", "pays": 1},
        {"id": "a", "from": "2024-03-01", "to": "2024-03-31", "pays": 1, "rate": 2, "products": []},
        {"id": "b", "from": "2024-03-01", "to": "2024-03-31", "pays": -1},
    ]
    errs, _ = problems(plan_dict(segments__veteran__spiffs=bad))
    path = "segments.veteran.spiffs"
    assert errs == [
        f"{path}[0].to: 2024-03-01 is before `from` 2024-03-31; both days are inclusive",
        f"{path}[1].id: 'a' is used by an earlier SPIFF of the segment",
        f"{path}[1]: give exactly one of `pays` (money per order) or `rate` (percent of the order)",
        f"{path}[1].products: an empty list qualifies no order; leave it out for any product",
        f"{path}[2].pays: must not be negative, got -1",
    ]


# -- recoverable draws -------------------------------------------------------------------------------
FLAT_10 = {"mode": "marginal", "on": "amount", "bands": [{"from": 0, "rate": 10}]}


def draw_run(periods, draw=None):
    doc = plan_dict(segments__veteran__commission=FLAT_10, segments__veteran__draw=draw or {"amount": 2000})
    doc["segments"]["veteran"].pop("scorecard")
    # commission 10%: 500 in January, 3,500 in February, 4,000 in March; a shortfall in 2023 is not carried
    orders = [
        order("d0", "2023-12-10", "0"),
        order("j1", "2024-01-10", "5000"),
        order("f1", "2024-02-10", "35000"),
        order("m1", "2024-03-10", "40000"),
    ]
    ds = make_dataset(employees=EMPLOYEES, customers=CUSTOMERS, orders=orders)
    return evaluate(plan_of(doc), ds, periods)


def lines_of(result):
    return {ln.name: ln.value for ln in result.lines}


def test_draw_step_by_hand():
    draw = Draw(amount=D(2000))
    assert draw_step(draw, D(500), D(0)) == (D(1500), D(0), D(1500))  # pays 2,000; owes 1,500
    assert draw_step(draw, D(3500), D(1500)) == (D(0), D(1500), D(0))  # 1,500 above the draw recovers it all
    assert draw_step(draw, D(4000), D(0)) == (D(0), D(0), D(0))
    assert draw_step(draw, D(2500), D(1500)) == (D(0), D(500), D(1000))  # only what is above the draw


def test_recoverable_draw_over_three_months_by_hand():
    run = draw_run(["2024-01", "2024-02", "2024-03"])
    jan, feb, mar = (run.result("r1", p) for p in ("2024-01", "2024-02", "2024-03"))
    assert lines_of(jan) == {"commission": D("500.00"), "draw": D("1500.00"), "draw_recovery": D("0.00")}
    assert lines_of(feb) == {"commission": D("3500.00"), "draw": D("0.00"), "draw_recovery": D("-1500.00")}
    assert lines_of(mar) == {"commission": D("4000.00"), "draw": D("0.00"), "draw_recovery": D("0.00")}
    assert [r.total for r in (jan, feb, mar)] == [D("2000.00"), D("2000.00"), D("4000.00")]
    assert [draw_balance(r) for r in (jan, feb, mar)] == [D(1500), D(0), D(0)]
    assert "advance 2,000.00 − 500.00 = 1,500.00; balance 0.00 + 1,500.00 = 1,500.00" in jan.line("draw").formula
    assert "min(balance 1,500.00, commission above the draw 1,500.00) = 1,500.00" in feb.line("draw_recovery").formula


def test_a_single_period_walks_the_balance_from_january():
    feb = draw_run(["2024-02"]).result("r1", "2024-02")
    assert lines_of(feb)["draw_recovery"] == D("-1500.00") and draw_balance(feb) == D(0)
    # 2023 had no commission, so it ended 24,000 in advance; the plan year starts again at 0 in January
    jan = draw_run(["2024-01"]).result("r1", "2024-01")
    assert next(i.value for i in jan.line("draw").inputs if i.name == "opening_balance") == D(0)
    assert draw_balance(draw_run(["2023-12"]).result("r1", "2023-12")) == D(24000)  # 12 months × 2,000


def test_a_non_recoverable_draw_is_a_guarantee():
    run = draw_run(["2024-01", "2024-02"], draw={"amount": 2000, "recoverable": False})
    jan, feb = run.result("r1", "2024-01"), run.result("r1", "2024-02")
    assert lines_of(jan) == {"commission": D("500.00"), "draw": D("1500.00")}
    assert lines_of(feb) == {"commission": D("3500.00"), "draw": D("0.00")} and feb.total == D("3500.00")


def test_draw_checks():
    doc = plan_dict(segments__veteran__draw={"amount": 0}, segments__veteran__commission=None)
    errs, _ = problems(doc)
    assert "segments.veteran.draw.amount: must be above 0, got 0" in errs
    assert "segments.veteran.draw: a draw is an advance against commission; add a commission" in errs


# -- texts agree with the exact numbers -------------------------------------------------------------
def veteran(**values):
    return evaluate_values("sales-default", values, role="sales", tenure_months=12)


def test_growth_just_under_a_band_is_not_shown_at_the_band():
    line = veteran(revenue="129999.9", revenue_target=100_000, revenue_last_year=100_000).line("growth_bonus")
    assert "revenue growth 29.9999% over revenue_last_year" in line.formula and "bands[1] rate 15%" in line.formula
    assert line.value == D("4499.99")  # 15% of the 29,999.90 increase
    at = veteran(revenue=130_000, revenue_target=100_000, revenue_last_year=100_000).line("growth_bonus")
    assert "revenue growth 30% over" in at.formula and "bands[2] rate 20%; 20% of the increase" in at.formula


def test_team_bonus_says_of_what_and_shows_the_gate_exactly():
    values = dict(revenue=100_000, revenue_target=100_000, visits=10, visits_target=10)
    values |= dict(lead_conversion_rate="0.25", avg_satisfaction=90, team_revenue_last_year=100_000)
    paid = veteran(**values, team_revenue=110_000).line("team_bonus")
    assert "team revenue growth 10% over the same month last year ≥ the minimum 10%" in paid.formula
    assert "→ 5% of the base bonus 5,000.00 = 250.00" in paid.formula and paid.value == D("250.00")
    short = veteran(**values, team_revenue="109999.999").line("team_bonus")
    assert "growth 9.999999% over the same month last year < the minimum 10% → 0" in short.formula


def test_percent_text():
    assert percent_text(D("29.9999"), [D(20), D(30)]) == "29.9999%"
    assert percent_text(D(100) / 3) == "≈33.33%"
    assert percent_text(D("12.5")) == "12.5%"
    assert percent_text(D("19.995"), [D(20)]) == "19.995%"  # 20.00 would read as reaching the band


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=D("90000"), max_value=D("170000"), places=2))
def test_the_growth_text_names_the_band_its_shown_growth_falls_in(revenue):
    plan = load_plan("sales-default")
    bands = plan.segments["veteran"].growth_bonus.bands
    line = veteran(revenue=revenue, revenue_target=100_000, revenue_last_year=100_000).line("growth_bonus")
    shown, index = re.search(r"growth ≈?(-?[\d.]+)% over .* → bands\[(\d)\]", line.formula).groups()
    assert find_band(bands, D(shown)) == int(index) == find_band(bands, (revenue / 100_000 - 1) * 100)


# -- plan check: bonus bases a reader could misread ----------------------------------------------------
def test_bonus_base_warnings():
    whole = {"metric": "revenue", "applies_to": "metric", "bands": [{"to": 10, "rate": 0}, {"from": 10, "rate": 1}]}
    part = {"metric": "revenue", "target": {"metric": "revenue_target"}, "weight": 1}
    task = {
        "amount": 100,
        "cap": 150,
        "parts": {"rev": {**part, "counted_up_to": {"share": 70, "of": "revenue_target"}}},
    }
    doc = plan_dict(
        segments__veteran__growth_bonus=whole,
        segments__veteran__base_bonus={"amount": 4000},
        segments__veteran__team_bonus={"min_growth": 10, "rate": 5},
        segments__veteran__combined_task=task,
    )
    _, warns = problems(doc)
    path = "segments.veteran"
    assert (
        f"{path}.growth_bonus.applies_to: the band's rate is paid on the whole revenue, not on the growth "
        "(a 1% rate pays 1% of all of revenue); use `increase` to pay on the growth only" in warns
    )
    assert (
        f"{path}.team_bonus.rate: 5% of the base bonus as paid, after scaling by the scorecard "
        "(at 80 points: 5% of 3,200.00), not of the amount 4,000.00" in warns
    )
    assert any(w.startswith(f"{path}.combined_task.cap: each part counts up to 150% of its target") for w in warns)
    assert (
        f"{path}.combined_task.parts.rev.counted_up_to: caps all of revenue, including revenue earned directly; "
        "to cap only revenue received by transfer, add `portion: transferred_revenue`" in warns
    )
    fixed = {"amount": 4000, "scale_by_scorecard": False}  # a team bonus on a fixed base reads as written
    assert problems(plan_dict(segments__veteran__base_bonus=fixed, segments__veteran__team_bonus={}))[1] == []
