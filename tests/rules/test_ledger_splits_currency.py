"""The credit ledger: split credits, orders in foreign currencies, and one reading of it by every order metric."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.rule_data import make_dataset
from helpers.rule_plans import plan_dict, plan_yaml
from perfml.dataset import Dataset
from perfml.errors import DataValidationError, PlanError
from perfml.metrics import metric_table
from perfml.rules import credit_ledger, evaluate, parse_plan
from perfml.rules.currency import converted
from perfml.rules.plan import Rounding
from perfml.validation import SPLIT_RULE

D = Decimal
PERIOD = "2024-03"
ORDER_METRICS = ("revenue", "new_revenue", "repeat_revenue", "transferred_revenue", "orders", "new_customers")
EMPLOYEES = [
    dict(employee_id="r1", role="sales", team_id="t1", hire_date="2020-01-01"),
    dict(employee_id="r2", role="sales", team_id="t1", hire_date="2020-01-01"),
    dict(employee_id="a1", role="assistant", team_id="t1", hire_date="2022-01-01"),
]
CUSTOMERS = [dict(customer_id=c, created_at="2022-01-01") for c in ("c1", "c2", "c3", "c4")]
CHANGES = [
    dict(change_id="x1", customer_id="c1", to_employee_id="r1", changed_at="2023-01-01"),
    dict(change_id="x2", customer_id="c1", from_employee_id="r1", to_employee_id="a1", changed_at="2024-03-05"),
    dict(change_id="x3", customer_id="c2", to_employee_id="r1", changed_at="2023-01-01"),
    dict(change_id="x4", customer_id="c3", to_employee_id="r2", changed_at="2023-01-01"),
    dict(change_id="x5", customer_id="c4", to_employee_id="r1", changed_at="2023-01-01"),
    dict(change_id="x6", customer_id="c4", from_employee_id="r1", to_employee_id="r2", changed_at="2024-03-02"),
]
ORDERS = [
    # the deal: the assistant's 50,000 order from a customer r1 handed over (change x2)
    dict(order_id="o1", customer_id="c1", employee_id="a1", closed_at="2024-03-20", amount="50000"),
    dict(order_id="s1", customer_id="c2", employee_id="r1", closed_at="2024-03-10", amount="50000"),
    dict(order_id="u1", customer_id="c3", employee_id="r2", closed_at="2024-03-15", amount="30000", currency="USD"),
    dict(order_id="big", customer_id="c4", employee_id="r2", closed_at="2024-03-25", amount="250000"),
]
SPLIT = [dict(order_id="s1", employee_id="r1", share="60"), dict(order_id="s1", employee_id="r2", share="40")]
RATES = [
    dict(date="2024-02-01", from_currency="USD", to_currency="CNY", rate="7.0"),
    dict(date="2024-03-01", from_currency="USD", to_currency="CNY", rate="7.1"),
    dict(date="2024-03-16", from_currency="USD", to_currency="CNY", rate="7.3"),
]
TARGETS = [
    dict(employee_id="a1", period=PERIOD, metric="new_customers", target="1"),
    dict(employee_id="a1", period=PERIOD, metric="revenue", target="20000"),
]


def dataset(**changes):
    tables = dict(
        employees=EMPLOYEES,
        customers=CUSTOMERS,
        ownership_changes=CHANGES,
        orders=ORDERS,
        order_credits=SPLIT,
        fx_rates=RATES,
        targets=TARGETS,
    )
    tables.update(changes)
    return make_dataset(**{k: v for k, v in tables.items() if v is not None})


def plan(**crediting):
    """CNY plan: reps get a 200,000 milestone; assistants a combined task on repeat revenue and new customers."""
    doc = plan_dict(currency="CNY")
    doc["segments"]["veteran"]["milestone_bonus"] = {"min_order": 200000, "pays": 1000}
    doc["segments"]["assistant"] = {
        "select": {"roles": ["assistant"]},
        "combined_task": {
            "amount": 3000,
            "cap": 120,
            "parts": {
                "repeat_revenue": {"metric": "repeat_revenue", "target": {"metric": "revenue_target"}, "weight": 30},
                "new_customers": {
                    "metric": "new_customers",
                    "target": {"metric": "new_customers_target"},
                    "weight": 10,
                },
            },
        },
    }
    doc["crediting"] = {"transferred_share": {"assistant": 20}, "remainder": "nobody", "hold_threshold": 0.8}
    doc["crediting"].update(crediting)
    return parse_plan(plan_yaml(doc), "test").plan


PLAN = plan()


@pytest.fixture(scope="module")
def ds():
    return dataset()


def ledger_of(ds, p=PLAN, **kw):
    return credit_ledger(ds, p.crediting, currency=p.currency, rounding=p.rounding, **kw)


def metrics(ds, p=PLAN, **kw) -> dict[tuple[str, str], Decimal]:
    """(employee_id, metric) -> exact value in PERIOD of every order metric, read through the plan's ledger."""
    table = metric_table(ds, periods=[PERIOD], crediting=ledger_of(ds, p, **kw))
    out = {}
    for row, emp in enumerate(table.frame["employee_id"]):
        for name in (*ORDER_METRICS, "revenue_at_close", "team_revenue"):
            value = table.decimal(name, row) if name in table.units else D(str(table.frame[name].iloc[row]))
            out[emp, name] = value.normalize()
    return out


def scores(**by_change):
    return pd.DataFrame({"change_id": list(by_change), "score": list(by_change.values())})


def note(run, emp, order_id):
    return next(c for c in run.result(emp, PERIOD).credits if c["order_id"] == order_id)


# -- splits --------------------------------------------------------------------------------------------
def test_a_60_40_split_of_50000_credits_30000_and_20000(ds):
    rows = ledger_of(ds).query("order_id == 's1'")
    assert list(zip(rows["employee_id"], rows["share_bp"], rows["status"], strict=True)) == [
        ("r1", 6000, "direct"),
        ("r2", 4000, "direct"),
    ]
    m = metrics(ds)
    # r1 holds only s1; r2 has 40% of s1 plus its own u1 (213,000.00 CNY) and big (250,000)
    assert m["r1", "revenue"] == D("30000")
    assert m["r2", "revenue"] == D("20000") + D("213000") + D("250000")
    assert m["r1", "revenue_at_close"] == D("50000")  # at close: the closer's order, whole
    assert m["r1", "orders"] == 1 and m["r2", "orders"] == 3  # each holder counts the split order once
    assert m["r1", "new_customers"] == 1 and m["r2", "new_customers"] == 3
    run = evaluate(PLAN, ds, PERIOD)
    assert (
        note(run, "r1", "s1")["explanation"]
        == "split share (order_credits): 60% of order s1's 50,000.00 credited: 30,000.00"
    )
    assert note(run, "r2", "s1")["credited"] == D("20000")


def test_shares_not_summing_to_100_are_refused_naming_the_order():
    bad = [dict(order_id="s1", employee_id="r1", share="60"), dict(order_id="s1", employee_id="r2", share="30")]
    with pytest.raises(DataValidationError) as info:
        dataset(order_credits=bad)
    (problem,) = info.value.problems
    assert (problem.table, problem.column, problem.rule, problem.rows) == ("order_credits", "share", SPLIT_RULE, (2, 3))
    assert problem.detail == "order s1 sums to 90"
    thirds = [
        dict(order_id="s1", employee_id="r1", share="33.33"),
        dict(order_id="s1", employee_id="r2", share="66.67"),
    ]
    assert len(dataset(order_credits=thirds).order_credits) == 2  # 33.33 + 66.67 is exactly 100


def test_a_split_holder_who_received_the_customer_gets_the_transfer_rules_on_its_share_only():
    split = [
        *SPLIT,
        dict(order_id="o1", employee_id="a1", share="50"),
        dict(order_id="o1", employee_id="r2", share="50"),
    ]
    ds = dataset(order_credits=split)
    m = metrics(ds)
    assert m["a1", "revenue"] == D("5000")  # 20% (assistant) of its 50% of 50,000
    assert m["a1", "transferred_revenue"] == D("5000") and m["r2", "transferred_revenue"] == D("250000")  # big
    assert m["r2", "revenue"] == D("20000") + D("25000") + D("213000") + D("250000")  # r2's half of o1 is direct
    text = note(evaluate(PLAN, ds, PERIOD), "a1", "o1")["explanation"]
    assert text == (
        "customer c1 came from r1 (change x2); 10% of order o1's 50,000.00 credited: 5,000.00 "
        "(the transferred share of a1's 50% split share)"
    )
    held = metrics(ds, scores=scores(x2=0.9))  # only a1's half is held; r2's half is not about the transfer
    assert held["a1", "revenue"] == 0 and held["a1", "orders"] == 0 and held["r2", "revenue"] == m["r2", "revenue"]
    assert evaluate(PLAN, ds, PERIOD, scores=scores(x2=0.9)).holds[0]["amount"] == D("25000")
    voided = metrics(ds, reviews={"x2": "void"})
    assert voided["r1", "revenue"] == D("30000") + D("25000") and voided["r1", "orders"] == 2
    run = evaluate(PLAN, ds, PERIOD, reviews={"x2": "void"})
    assert note(run, "r1", "o1")["explanation"] == (
        "change x2 (r1 → a1) was voided by review; a1's 50% split share stays with the original owner: "
        "50% of order o1's 50,000.00 credited: 25,000.00"
    )
    back = metrics(ds, plan(remainder="from_owner"))
    assert back["r1", "revenue"] == D("30000") + D("20000")  # 80% of a1's half goes back to r1


def test_a_share_finer_than_a_hundredth_of_a_percent_rounds_down_and_the_rest_stays_with_the_remainder():
    split = [dict(order_id="o1", employee_id="a1", share="33.33"), dict(order_id="o1", employee_id="r2", share="66.67")]
    ledger = ledger_of(dataset(order_credits=split), plan(remainder="from_owner")).query("order_id == 'o1'")
    shares = dict(zip(ledger["status"], ledger["share_bp"], strict=True))
    assert shares == {"transfer": 666, "remainder": 2667, "direct": 6667}  # 33.33% x 20% = 6.666% -> 6.66%
    assert ledger["share_bp"].sum() == 10_000


# -- currency ------------------------------------------------------------------------------------------
def test_30000_usd_at_7_1_is_213000_cny_and_the_trace_cites_the_rate(ds):
    assert converted(D("30000"), D("7.1")) == D("213000.00")
    row = ledger_of(ds).query("order_id == 'u1'").iloc[0]
    assert (row["currency"], row["amount_original"], row["fx_rate"], row["fx_date"], row["amount"]) == (
        "USD",
        30000.0,
        7.1,
        pd.Timestamp("2024-03-01"),
        213000.0,
    )
    m = metrics(ds)
    assert m["r2", "revenue_at_close"] == D("213000") + D("250000")
    assert m["r1", "team_revenue"] == D("50000") * 2 + D("213000") + D("250000")  # team money in CNY too
    text = note(evaluate(PLAN, ds, PERIOD), "r2", "u1")["explanation"]
    assert (
        text == "100% of order u1's 213,000.00 CNY (30,000.00 USD × 7.1, fx_rates of 2024-03-01) credited: 213,000.00"
    )


def test_the_rate_of_the_close_date_or_else_the_last_earlier_one_is_used():
    orders = ORDERS + [
        dict(
            order_id="u2",
            customer_id="c3",
            employee_id="r2",
            closed_at="2024-03-16T09:00",
            amount="100",
            currency="USD",
        ),
        dict(order_id="u3", customer_id="c3", employee_id="r2", closed_at="2024-02-29", amount="100", currency="USD"),
    ]
    rates = ledger_of(dataset(orders=orders)).set_index("order_id")["fx_rate"]
    assert (rates["u1"], rates["u2"], rates["u3"]) == (7.1, 7.3, 7.0)  # 03-15: 03-01's; 03-16: its own; 02-29: 02-01's
    assert rates["s1"].isna().all()  # already in the plan's currency: not converted


def test_a_converted_amount_is_rounded_once_by_the_plans_rounding():
    assert converted(D("0.15"), D("7.1")) == D("1.07")  # 1.065, half-up (the default)
    assert converted(D("0.15"), D("7.1"), Rounding(mode="half_even")) == D("1.06")
    # the largest contract values multiply exactly (integers in 1e-12), then round half-up to cents
    product = 999999999999999999 * 999999999999  # 999,999,999,999.999999 x 999,999.999999, in 1e-12
    cents = (product + 5 * 10**9) // 10**10
    assert converted(D("999999999999.999999"), D("999999.999999")) == D(cents).scaleb(-2)


def test_a_missing_rate_names_the_order_its_currency_and_the_date():
    late = [dict(date="2024-03-20", from_currency="USD", to_currency="CNY", rate="7.2")]
    with pytest.raises(PlanError, match=r"no rate to CNY .* order u1 \(USD, closed 2024-03-15\)"):
        evaluate(PLAN, dataset(fx_rates=late), PERIOD)
    inverse = [dict(date="2024-03-01", from_currency="CNY", to_currency="USD", rate="0.14")]
    with pytest.raises(PlanError, match="order u1"):  # a quote the other way round is not inverted
        evaluate(PLAN, dataset(fx_rates=inverse), PERIOD)


def test_orders_in_several_currencies_without_any_rate_are_refused():
    orders = ORDERS + [
        dict(order_id="e1", customer_id="c3", employee_id="r2", closed_at="2024-03-15", amount="1", currency="EUR")
    ]
    with pytest.raises(DataValidationError) as info:
        dataset(orders=orders, fx_rates=None)
    (problem,) = info.value.problems
    assert (problem.table, problem.column, problem.rows) == ("orders", "currency", (4, 6))
    assert "need fx_rates" in problem.rule and problem.detail == "currencies found: EUR, USD"


def test_currency_codes_are_iso_4217_and_rates_positive():
    orders = [{**ORDERS[2], "currency": "usd"}] + ORDERS[3:]
    rates = [{**RATES[0], "from_currency": "US$"}, {**RATES[1], "rate": "0"}]
    with pytest.raises(DataValidationError) as info:
        dataset(orders=orders, order_credits=None, fx_rates=rates)
    found = {(p.table, p.column, p.rule, p.rows) for p in info.value.problems}
    assert found == {
        ("orders", "currency", "must be an ISO 4217 currency code", (2,)),
        ("fx_rates", "from_currency", "must be an ISO 4217 currency code", (2,)),
        ("fx_rates", "rate", "must be > 0", (3,)),
    }


# -- one source of truth: a held deal counts in no metric until released ----------------------------
def test_a_held_deal_counts_in_no_metric_and_pays_nothing_until_released(ds):
    held = metrics(ds, scores=scores(x2=0.9))
    assert all(held["a1", name] == 0 for name in ORDER_METRICS)  # o1 was a1's only order
    assert held["r1", "orders"] == 1 and held["r1", "new_customers"] == 1  # s1 only: the giver gets nothing either
    run = evaluate(PLAN, ds, PERIOD, scores=scores(x2=0.9))
    assert run.result("a1", PERIOD).line("combined_task").value == D("0.00")
    assert run.holds[0]["orders"] == ["o1"] and run.holds[0]["amount"] == D("50000")

    released = metrics(ds, scores=scores(x2=0.9), reviews={"x2": "release"})
    assert released["a1", "new_customers"] == 1 and released["a1", "orders"] == 1
    assert (
        released["a1", "revenue"]
        == released["a1", "new_revenue"]
        == released["a1", "transferred_revenue"]
        == D("10000")
    )
    run = evaluate(PLAN, ds, PERIOD, scores=scores(x2=0.9), reviews={"x2": "release"})
    task = run.result("a1", PERIOD).line("combined_task")
    assert task.value == D("750.00")  # new customers 1 / 1 = 100% x weight 10 of 40 x 3,000
    assert note(run, "a1", "o1")["explanation"] == (
        "change x2 was reviewed and released; 20% of order o1's 50,000.00 credited: 10,000.00"
    )


def test_a_voided_deal_counts_for_the_original_owner(ds):
    voided = metrics(ds, reviews={"x2": "void"})
    assert voided["a1", "orders"] == 0 and voided["r1", "orders"] == 2 and voided["r1", "new_customers"] == 2
    assert voided["r1", "revenue"] == D("30000") + D("50000") and voided["r1", "transferred_revenue"] == 0


def test_a_held_milestone_order_pays_no_milestone_until_released(ds):
    held = evaluate(PLAN, ds, PERIOD, scores=scores(x6=0.95)).result("r2", PERIOD).line("milestone_bonus")
    # u1 qualifies in CNY (30,000 USD = 213,000.00 >= 200,000); the held 250,000 does not count
    assert held.value == D("1000.00") and held.inputs[0].ids == ["u1"]
    run = evaluate(PLAN, ds, PERIOD, scores=scores(x6=0.95), reviews={"x6": "release"})
    released = run.result("r2", PERIOD).line("milestone_bonus")
    assert released.value == D("2000.00") and released.inputs[0].ids == ["big", "u1"]


def test_transferred_revenue_is_the_credit_received_by_transfer_after_the_share(ds):
    m = metrics(ds)
    assert m["a1", "transferred_revenue"] == D("10000")  # 20% of the transferred 50,000
    assert m["r2", "transferred_revenue"] == D("250000")  # a rep receives 100%; u1 and the split are direct
    assert m["r1", "transferred_revenue"] == 0
    back = metrics(ds, plan(remainder="from_owner"))
    assert back["r1", "transferred_revenue"] == 0 and back["r1", "revenue"] == D("30000") + D("40000")


# -- property: splits conserve revenue ------------------------------------------------------------------
HOLDERS = [dict(employee_id=f"e{i}", role="sales", team_id="t1", hire_date="2020-01-01") for i in range(5)]


@st.composite
def split_orders(draw):
    n = draw(st.integers(1, 5))
    cuts = sorted(draw(st.lists(st.integers(0, 10_000), min_size=n - 1, max_size=n - 1)))
    shares = [b - a for a, b in zip([0, *cuts], [*cuts, 10_000], strict=True)]
    amount = D(draw(st.integers(0, 10**11))).scaleb(-2)
    rate = draw(st.one_of(st.none(), st.integers(1, 10**9).map(lambda r: D(r).scaleb(-6))))
    return shares, amount, rate


@pytest.fixture(scope="module")
def one_order():
    """A validated one-order dataset the property test varies in place (validating each example is slow)."""
    return make_dataset(
        employees=HOLDERS,
        customers=[dict(customer_id="c", created_at="2022-01-01")],
        orders=[dict(order_id="o", customer_id="c", employee_id="e0", closed_at="2024-03-10", amount="1")],
        fx_rates=[dict(date="2024-03-01", from_currency="USD", to_currency="CNY", rate="1")],
    )


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(case=split_orders())
def test_splits_conserve_revenue(one_order, case):
    shares, amount, rate = case
    orders = one_order.orders.assign(amount=float(amount), currency=pd.array(["USD" if rate else None], dtype="string"))
    credits = pd.DataFrame(
        {
            "order_id": pd.array(["o"] * len(shares), dtype="string"),
            "employee_id": pd.array([f"e{i}" for i in range(len(shares))], dtype="string"),
            "share": [float(D(bp).scaleb(-2)) for bp in shares],
        }
    )
    fx = one_order.fx_rates.assign(rate=float(rate or 1))
    ds = Dataset({**one_order.tables, "orders": orders, "order_credits": credits, "fx_rates": fx})
    ledger = ledger_of(ds)
    table = metric_table(ds, periods=[PERIOD], crediting=ledger)
    credited = sum(table.decimal("revenue", row) for row in range(len(table.frame)))
    assert credited == (converted(amount, rate) if rate is not None else amount)
    assert ledger["share_bp"].sum() == 10_000
    assert table.frame["orders"].sum() == sum(1 for bp in shares if bp > 0)  # once per holder with a share
