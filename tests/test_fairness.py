"""Bias audit numbers on a hand-made frame."""

import numpy as np
import pandas as pd
import pytest

from perfml.errors import PerfmlError
from perfml.fairness import UNKNOWN, bias_audit


def _frame():
    # 100 scored rows: group A 50 rows (20 alerted), B 40 rows (8 alerted), C 1 row (alerted),
    # 9 rows of employees without demographics / with an empty value.
    rows = []

    def add(emp, n, n_sel):
        rows.extend([(emp, 0.9)] * n_sel + [(emp, 0.1)] * (n - n_sel))

    add("a1", 25, 10)
    add("a2", 25, 10)
    add("b1", 40, 8)
    add("c1", 1, 1)
    add("x1", 5, 5)  # not in demographics
    add("e1", 4, 0)  # empty gender
    scores = pd.DataFrame(rows, columns=["employee_id", "score"])
    demo = pd.DataFrame(
        {
            "employee_id": ["a1", "a2", "b1", "c1", "e1"],
            "gender": ["F", "F", "M", "X", "  "],
            "age_band": ["<30", "<30", "<30", "30+", "30+"],
        }
    )
    return scores, demo


def test_selection_rates_impact_ratios_and_flags():
    scores, demo = _frame()
    out = bias_audit(scores, demo, threshold=0.5)
    g = out[out["column"] == "gender"].set_index("group")
    assert set(g.index) == {"F", "M", "X", UNKNOWN}
    assert g.loc["F", "n"] == 50 and g.loc["F", "selected"] == 20
    assert g.loc["F", "selection_rate"] == pytest.approx(0.4)
    assert g.loc["M", "selection_rate"] == pytest.approx(0.2)
    # X is 1% of rows: reported, excluded, so its 100% rate is not the reference
    assert g.loc["X", "share"] == pytest.approx(0.01) and not g.loc["X", "included"]
    assert np.isnan(g.loc["X", "impact_ratio"]) and not g.loc["X", "flagged"]
    assert g.loc["F", "impact_ratio"] == pytest.approx(1.0)
    assert g.loc["M", "impact_ratio"] == pytest.approx(0.5) and g.loc["M", "flagged"]
    assert not g.loc["F", "flagged"]
    # unknowns: 5 missing from demographics + 4 with a blank value
    assert g.loc[UNKNOWN, "n"] == 9 and not g.loc[UNKNOWN, "included"]
    assert g["n"].sum() == len(scores)
    # scoring rate: share above the median score (0.1), i.e. the alerted rows here
    assert g.loc["M", "scoring_rate"] == pytest.approx(0.2)
    assert g.loc["M", "scoring_impact_ratio"] == pytest.approx(0.5)


def test_second_column_and_ratio_at_threshold():
    scores, demo = _frame()
    out = bias_audit(scores, demo, threshold=0.5)
    a = out[out["column"] == "age_band"].set_index("group")
    # <30: a1,a2,b1 = 90 rows, 28 selected; 30+: c1 (1 row) + e1 (4 rows) = 5 rows, 1 selected; unknown x1 = 5
    assert a.loc["<30", "n"] == 90 and a.loc["<30", "selected"] == 28
    assert a.loc["30+", "n"] == 5 and a.loc["30+", "included"]
    assert a.loc["<30", "impact_ratio"] == pytest.approx(1.0)
    assert a.loc["30+", "impact_ratio"] == pytest.approx((1 / 5) / (28 / 90))
    assert a.loc["30+", "flagged"]  # 0.64 < 0.8
    assert a.loc[UNKNOWN, "n"] == 5


def test_nobody_selected_gives_no_ratio_and_no_flag():
    scores, demo = _frame()
    out = bias_audit(scores.assign(score=0.0), demo, threshold=0.5)
    assert out["impact_ratio"].isna().all() and not out["flagged"].any()


def test_errors():
    scores, demo = _frame()
    with pytest.raises(PerfmlError, match="no group columns"):
        bias_audit(scores, demo[["employee_id"]], threshold=0.5)
    with pytest.raises(PerfmlError, match="nothing was scored"):
        bias_audit(scores.head(0), demo, threshold=0.5)
