"""Commission trace texts never round a number across the rule they explain; every rate says of what."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from perfml.rules.commission import commission_amount, commission_text, percent_text
from perfml.rules.plan import Commission, RateBand

D = Decimal
SEED = [RateBand(**{"from": 0, "to": 100, "rate": 10}), RateBand(**{"from": 100, "rate": 15})]


def text(mode="marginal", base="130000", target="100000", **kw) -> str:
    c = Commission(mode=mode, bands=SEED, **kw)
    return commission_text(c, *commission_amount(c, D(base), D(target) if target else None)[1])


def test_an_attainment_just_below_the_gate_reads_below_it():
    assert text(base="49999", gate=50) == "attainment 49.999% (49,999.00 / 100,000.00) is below the gate 50% → 0"


def test_an_attainment_that_does_not_terminate_is_cut_never_rounded_up():
    assert text(base="99999.999999", gate=100).startswith("attainment 99.9999…% (99,999.999999 / 100,000.00) is below")
    assert "attainment 33.3333…% (100,000.00 / 300,000.00)" in text(base="100000", target="300000")


def test_marginal_bands_say_which_part_of_the_base_they_pay_on():
    assert text() == (
        "marginal on attainment 130% (130,000.00 / 100,000.00): 10% × 100,000.00 + 15% × 30,000.00 "
        "(10% of the part up to 100,000.00, 15% of the part above 100,000.00)"
    )
    middle = [
        RateBand(**{"from": 0, "to": 150000, "rate": 4}),
        RateBand(**{"from": 150000, "to": 250000, "rate": 6}),
        RateBand(**{"from": 250000, "rate": 8}),
    ]
    c = Commission(mode="marginal", on="amount", bands=middle)
    formula = commission_text(c, *commission_amount(c, D(300000), None)[1])
    assert "6% of the part from 150,000.00 to 250,000.00, 8% of the part above 250,000.00" in formula


def test_whole_amount_says_the_tier_applies_to_the_whole_amount():
    assert text(mode="whole", base="129999") == (
        "whole-amount on attainment 129.999% (129,999.00 / 100,000.00): tier bands[1] (attainment from 100%) "
        "15% × 129,999.00 (15% of the whole amount)"
    )


def test_a_cap_shows_both_amounts_with_cents():
    assert text(cap=10000).endswith("= 14,500.00, capped at 10,000.00")


@given(
    x=st.decimals(min_value=-1000, max_value=1000, places=8, allow_nan=False),
    t=st.decimals(min_value=-1000, max_value=1000, places=4, allow_nan=False),
)
def test_a_shown_percent_is_on_the_same_side_of_any_four_decimal_threshold(x, t):
    shown = D(percent_text(x).rstrip("%").rstrip("…"))
    assert (shown < t) == (x < t)
    assert percent_text(x).endswith("…%") == (shown != x)
