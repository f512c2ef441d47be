"""High-performer profile: units and windows, behaviour features and labels on hand-made records,
as-of invariance, the cohort split, the quality floor and the profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.asof_perturb import perturb_after
from perfml import catalog
from perfml.dataset import Dataset
from perfml.pipelines import get_pipeline
from perfml.pipelines.high_performer import nodes
from perfml.pipelines.high_performer.nodes import HighPerformerParams
from perfml.pipelines.high_performer.pipeline import HighPerformer
from perfml.pipelines.run import score_pipeline, train_pipeline

JAN_2024 = 2024 * 12  # month index of 2024-01
PLANTED = {  # simulator trait -> the behaviour features that measure it
    "visit rate": ("visit_share", "visits_per_week"),
    "fast lead follow-up": ("first_response_hours", "leads_contacted_24h_share"),
    "early-hour contact": ("early_contact_share",),
}
TOP_K = 5  # of 21 model inputs on the simulator


def _ts(*values) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), format="ISO8601"), dtype="datetime64[ns]")


# -- units and windows ------------------------------------------------------------------------------
EMPLOYEES = pd.DataFrame(
    {
        "employee_id": pd.Series(["vet", "new", "late", "gone", "boss"], dtype="string"),
        "role": pd.Series(["sales", "sales", "assistant", "sales", "manager"], dtype="string"),
        "team_id": pd.Series(["t"] * 5, dtype="string"),
        "hire_date": _ts("2020-05-04", "2024-03-18", "2024-10-01", "2023-06-01", "2019-01-01"),
        "termination_date": _ts(None, None, None, "2024-04-15", None),
    }
)


def test_units_and_their_windows():
    p = HighPerformerParams()
    u = nodes.profile_units(EMPLOYEES, JAN_2024, JAN_2024 + 17, p).set_index("employee_id")
    # boss is not a profiled role; gone left (2024-04-15) before its cut-off (2024-07-01)
    assert set(u.index) == {"vet", "new", "late"}
    assert u.loc["vet", "window_start"] == pd.Timestamp("2024-01-01")  # hired before the data: from its first month
    assert u.loc["vet", "cutoff"] == pd.Timestamp("2024-07-01") and u.loc["vet", "tenure_at_start_months"] == 44
    assert u.loc["new", "window_start"] == pd.Timestamp("2024-03-18")  # from the hire date
    assert u.loc["new", "cutoff"] == pd.Timestamp("2024-09-01")
    assert u.loc["new", "label_known_at"] == pd.Timestamp("2025-03-01")
    short = nodes.profile_units(EMPLOYEES, JAN_2024, JAN_2024 + 12, p)
    assert "late" not in set(short["employee_id"])  # its months 1-6 (2024-10..2025-03) are not all in the data
    strict = nodes.profile_units(EMPLOYEES, JAN_2024, JAN_2024 + 17, HighPerformerParams(only_new_hires=True))
    assert set(strict["employee_id"]) == {"new", "late"}


def test_scoring_units_at_a_date():
    p = HighPerformerParams(min_weeks=4)
    u = nodes.profile_units(EMPLOYEES, JAN_2024, JAN_2024 + 17, p, as_of=pd.Timestamp("2024-04-10")).set_index(
        "employee_id"
    )
    assert set(u.index) == {"vet", "gone", "new"}  # late is not hired yet
    assert u.loc["vet", "cutoff"] == pd.Timestamp("2024-04-10")
    u = nodes.profile_units(EMPLOYEES, JAN_2024, JAN_2024 + 17, p, as_of=pd.Timestamp("2024-04-16"))
    assert set(u["employee_id"]) == {"vet", "new"}  # gone left the day before


def test_scoring_states_say_why_there_is_no_score():
    p = HighPerformerParams(min_weeks=4)
    units = nodes.profile_units(EMPLOYEES, JAN_2024, JAN_2024 + 17, p, as_of=pd.Timestamp("2024-04-10T12:00"))
    acts = pd.DataFrame(
        {
            "employee_id": pd.Series(["vet", "new"], dtype="string"),
            "occurred_at": _ts("2024-02-01T10:00", "2024-03-25T10:00"),
        }
    )
    orders = pd.DataFrame(
        {"employee_id": pd.Series(["gone"], dtype="string"), "closed_at": _ts("2024-04-10T12:00")}
    )  # at the instant: not before it
    leads = pd.DataFrame({"owner_id": pd.Series([], dtype="string"), "created_at": _ts()})
    weeks = (units["cutoff"] - units["window_start"]) / nodes.WEEK
    state, reason = nodes.unit_states(units, weeks, acts, orders, leads, p)
    got = dict(zip(units["employee_id"], zip(state, reason, strict=True), strict=True))
    assert got["vet"] == ("scored", "")
    assert got["new"][0] == "insufficient_history"
    assert got["new"][1] == "3.4 weeks of behaviour from 2024-03-18 to before 2024-04-10 12:00; 4 needed"
    assert got["gone"] == (
        "no_activity",
        "no activity on record: no orders, activities or leads from 2024-01-01 to before 2024-04-10 12:00",
    )


# -- behaviour features on hand-made records -----------------------------------------------------------
def _tiny_inputs():
    units = pd.DataFrame(
        {
            "employee_id": pd.Series(["e"], dtype="string"),
            "role": pd.Series(["sales"], dtype="string"),
            "start_month": [JAN_2024],
            "window_start": _ts("2024-01-01"),
            "cutoff": _ts("2024-03-01"),
            "tenure_at_start_months": [0.0],
        }
    )
    acts = pd.DataFrame(
        {
            "employee_id": pd.Series(["e"] * 9 + ["x"], dtype="string"),
            "customer_id": pd.Series(["c1", "c1", "c2", "c2", None, None, None, "c1", "c1", "c1"], dtype="string"),
            "lead_id": pd.Series([None, None, None, None, "L1", "L1", None, None, None, None], dtype="string"),
            "type": pd.Series(
                ["visit", "visit", "visit", "call", "call", "email", "call", "visit", "visit", "visit"], dtype="string"
            ),
            "occurred_at": _ts(
                "2024-01-02T10:00",
                "2024-01-09T08:30",
                "2024-02-01T11:00",
                "2024-02-02T12:00",
                "2024-01-03T07:30",
                "2024-01-08T15:00",
                "2024-02-20T16:00",
                "2024-03-01T00:00",  # at the cut-off: not in the window
                "2023-12-31T10:00",  # before the window
                "2024-01-05T08:00",
            ),  # someone else
        }
    )
    leads = pd.DataFrame(
        {
            "lead_id": pd.Series(["L1", "L2", "L3", "L4"], dtype="string"),
            "owner_id": pd.Series(["e", "e", "e", "x"], dtype="string"),
            "created_at": _ts("2024-01-01T08:00", "2024-01-10T09:00", "2024-02-28T09:00", "2024-01-01"),
            "first_contact_at": _ts("2024-01-01T10:00", "2024-01-11T09:00", "2024-03-02T09:00", "2024-01-01"),
        }
    )
    monthly = pd.DataFrame(
        {
            "employee_id": pd.Series(["e"] * 3, dtype="string"),
            "p": [JAN_2024, JAN_2024 + 1, JAN_2024 + 2],
            "leads": [2.0, 1.0, 5.0],
            "leads_converted": [1.0, 0.0, 9.0],
            "leads_lost": [0.0, 3.0, 9.0],
            "leads_due_24h": [2.0, 2.0, 9.0],
            "leads_contacted_24h_share": [1.0, 0.5, 0.0],
            "new_customers": [1.0, 0.0, 9.0],
            "new_revenue": [300.0, 0.0, 9.0],
            "revenue": [400.0, 200.0, 9.0],
            "avg_satisfaction": [90.0, np.nan, 0.0],
            "satisfaction_responses": [1.0, 0.0, 9.0],
        }
    )
    return units, acts, leads, monthly


def test_behaviour_features_on_hand_made_records():
    units, acts, leads, monthly = _tiny_inputs()
    f = nodes.behaviour_features(units, monthly, acts, leads, HighPerformerParams()).iloc[0]
    weeks = 60 / 7  # 2024-01-01 .. 2024-03-01
    assert f["weeks_observed"] == pytest.approx(weeks)
    assert f["visits_per_week"] == pytest.approx(3 / weeks)
    assert f["visit_share"] == pytest.approx(3 / 6)  # 3 visits of 6 customer/lead contacts
    assert f["contacts_per_week"] == pytest.approx(6 / weeks)
    assert f["activities_per_week"] == pytest.approx(7 / weeks)
    assert f["calls_per_week"] == pytest.approx(3 / weeks)
    assert f["early_contact_share"] == pytest.approx(2 / 7)  # 08:30 and 07:30 are before 09:00
    assert f["followup_gap_days"] == pytest.approx(
        (pd.Timestamp("2024-01-08T15:00") - pd.Timestamp("2024-01-03T07:30")) / pd.Timedelta(days=1)
    )
    assert f["first_response_hours"] == pytest.approx(13.0)  # median of 2 h and 24 h; L3 answered after the cut-off
    assert f["touches_per_lead"] == pytest.approx(2 / 3)
    months = weeks / nodes.WEEKS_PER_MONTH
    assert f["leads_per_month"] == pytest.approx(3 / months)  # months 1-2 only (month 3 is past the cut-off)
    assert f["leads_contacted_24h_share"] == pytest.approx(3 / 4)
    assert f["lead_conversion_rate"] == pytest.approx(1 / 4)
    assert f["new_customers_per_month"] == pytest.approx(1 / months)
    assert f["new_revenue_share"] == pytest.approx(300 / 600)
    assert f["satisfaction_avg"] == pytest.approx(90.0)


def test_attr_columns_numeric_and_one_hot():
    emp = pd.DataFrame(
        {
            "employee_id": pd.Series(["a", "b"], dtype="string"),
            "attr_years": [1.5, np.nan],
            "attr_edu": pd.Series(["master", "college"], dtype="category"),
        }
    )
    units = pd.DataFrame({"employee_id": pd.Series(["b", "a"], dtype="string")})
    out = nodes.attr_features(units, emp, HighPerformerParams())
    assert list(out.columns) == ["attr_years", "attr_edu=college", "attr_edu=master"]
    np.testing.assert_array_equal(out["attr_edu=college"], [1.0, 0.0])
    assert np.isnan(out["attr_years"].iloc[0]) and out["attr_years"].iloc[1] == 1.5


# -- labels on hand-made months -------------------------------------------------------------------------
def test_label_is_attainment_of_months_7_to_12_top_quartile_within_role():
    units = pd.DataFrame(
        {
            "employee_id": pd.Series(list("abcdefgh"), dtype="string"),
            "role": pd.Series(["sales"] * 4 + ["assistant"] * 4, dtype="string"),
            "start_month": [0] * 7 + [5],
        }
    )
    rows = []
    for i, e in enumerate("abcdefgh"):
        for p in range(0, 12):
            rev = 100.0 * (i + 1) if p >= 6 else 1e6  # months 1-6 do not count
            rows.append({"employee_id": e, "p": p, "revenue": rev, "revenue_target": 100.0})
    monthly = pd.DataFrame(rows)
    monthly.loc[(monthly["employee_id"] == "c") & (monthly["p"] == 11), "revenue"] = 3000.0
    att = nodes.label_attainment(units, monthly, HighPerformerParams(), last_month=11)
    assert att.iloc[0] == pytest.approx(1.0) and att.iloc[1] == pytest.approx(2.0)
    assert att.iloc[2] == pytest.approx((5 * 300 + 3000) / 600)  # 7.5
    assert np.isnan(att.iloc[7])  # h's months 7-12 end in month 16 > last month 11
    y = nodes.top_share_labels(att, units["role"], 0.25)
    np.testing.assert_array_equal(y.to_numpy()[:4], [0, 0, 1, 0])  # within sales, c is on top
    np.testing.assert_array_equal(y.to_numpy()[4:7], [0, 0, 1])  # within assistants (e, f, g), g
    assert np.isnan(y.iloc[7])


# -- as-of ---------------------------------------------------------------------------------------------
def _perturb(ds: Dataset, t: pd.Timestamp, seed: int = 0) -> Dataset:
    def alter(name: str, df: pd.DataFrame, late: np.ndarray) -> pd.DataFrame:
        if name == "activities":
            df.loc[late, "type"] = "visit"
            df.loc[late, "occurred_at"] = df.loc[late, "occurred_at"].dt.normalize() + pd.Timedelta(hours=7)
        if name == "orders":
            df.loc[late, "amount"] = (df.loc[late, "amount"] * 5).round(2)
        if name == "leads":
            after = (df["first_contact_at"] >= t).fillna(False).to_numpy()
            df.loc[after, "first_contact_at"] = df.loc[after, "first_contact_at"] + pd.Timedelta(days=20)
        return df

    return perturb_after(ds, t, alter, seed)


def _cols(frame: pd.DataFrame) -> list[str]:
    return nodes.feature_columns(frame, early_results=True)  # every computed feature, model input or not


def test_as_of_invariance(small_dataset):
    spec = HighPerformer()
    full = spec.build_features(small_dataset)
    t = full["cutoff"].min()  # the common cut-off of everyone hired before the data
    at_t = full[full["cutoff"] <= t].set_index("employee_id")
    assert len(at_t) > 20
    again = spec.build_features(_perturb(small_dataset, t)).set_index("employee_id").loc[at_t.index]
    pd.testing.assert_frame_equal(at_t[_cols(full)], again[_cols(full)], rtol=1e-12)
    # scoring at a date sees the same behaviour as the training frame when the window has closed
    scored = spec.build_features(small_dataset, as_of=t).set_index("employee_id")
    common = at_t.index.intersection(scored.index)
    assert len(common) > 20
    pd.testing.assert_frame_equal(at_t.loc[common, _cols(full)], scored.loc[common, _cols(full)], rtol=1e-12)
    mid = t - pd.Timedelta(days=45)
    a = spec.build_features(small_dataset, as_of=mid).set_index("employee_id")
    b = spec.build_features(_perturb(small_dataset, mid, seed=1), as_of=mid).set_index("employee_id")
    assert (a["cutoff"] == mid).all()
    pd.testing.assert_frame_equal(a[_cols(a)], b.loc[a.index, _cols(a)], rtol=1e-12)


def test_partitionable_by_employee(small_dataset):
    spec = HighPerformer()
    full = spec.build_features(small_dataset).set_index("employee_id")
    ids = list(full.index[:5])
    by = {
        "employees": "employee_id",
        "activities": "employee_id",
        "orders": "employee_id",
        "leads": "owner_id",
        "targets": "employee_id",
    }
    part = Dataset(
        {
            name: df[df[by[name]].isin(ids)] if name in by else df
            for name, df in small_dataset.tables.items()
            if small_dataset.has(name)
        },
        source="part",
    )
    got = spec.build_features(part).set_index("employee_id")
    cols = [c for c in _cols(full) if "=" not in c]  # one-hot levels depend on who is in the slice
    pd.testing.assert_frame_equal(full.loc[ids, cols], got.loc[ids, cols], rtol=1e-12)


# -- training on the default-size simulator (seed 1) ---------------------------------------------------------
@pytest.fixture(scope="module")
def trained(medium_dataset):
    return train_pipeline("high-performer", medium_dataset, register=False)


def test_cohort_split(medium_dataset):
    spec = get_pipeline("high-performer")
    f = spec.build_features(medium_dataset)
    y = spec.build_labels(medium_dataset, f)
    split = spec.split(f, y)
    assert f.loc[split.test, "hire_date"].min() >= f.loc[split.train, "hire_date"].max()
    assert split.test.sum() >= 30 and not (split.train & split.test).any()
    assert y.notna().sum() >= 100 and y[y.notna()].mean() == pytest.approx(0.25, abs=0.03)


@pytest.fixture(scope="module")
def trait_ranking(trained, medium_dataset) -> list[str]:
    """Features ranked by mean |SHAP| over the medium company."""
    from perfml.explain import explain

    features = get_pipeline("high-performer").build_features(medium_dataset)
    return list(explain(trained.model, features).global_importance().index)


def test_quality_floor(trained):
    """Held-out hire-date cohort: ROC-AUC >= 0.75 and above the visits-per-week baseline."""
    m = trained.metrics
    assert m["model_roc_auc"] >= 0.75, m
    assert m["model_roc_auc"] > m["baseline_roc_auc"], m


@pytest.mark.parametrize("trait", ["visit rate", "fast lead follow-up", "early-hour contact"])
def test_planted_traits_among_top_features(trait_ranking, trait):
    assert set(trait_ranking[:TOP_K]) & set(PLANTED[trait]), (trait, trait_ranking[:TOP_K])


def test_early_results_are_opt_in_inputs(small_dataset):
    """Months 1-6 results are computed (for the contrasts and the as-of test) but are model inputs only on request."""
    f = HighPerformer().build_features(small_dataset)
    assert set(nodes.EARLY_RESULTS) <= set(f.columns)
    assert not set(nodes.EARLY_RESULTS) & set(HighPerformer().feature_columns(f))
    assert set(nodes.EARLY_RESULTS) <= set(HighPerformer({"early_results": True}).feature_columns(f))
    assert set(HighPerformer.features) == set(nodes.BEHAVIOURS) | set(nodes.EARLY_RESULTS) | set(nodes.CONTEXT)


def test_reproducible(small_dataset):
    a = train_pipeline("high-performer", small_dataset, register=False)
    b = train_pipeline("high-performer", small_dataset, register=False)
    np.testing.assert_array_equal(a.test["score"].to_numpy(), b.test["score"].to_numpy())


def test_profile_and_match_scores(small_dataset):
    """The global profile and per-employee match scores (the registry round trip is the notebook's)."""
    spec = get_pipeline("high-performer")
    result = train_pipeline(spec, small_dataset, register=False)
    model = result.model
    prof = spec.profile(small_dataset, model)
    assert list(prof["feature"]) == list(prof.sort_values("shap_importance", ascending=False)["feature"])
    assert set(prof["feature"]) == set(result.features)
    assert set(prof["direction"]) <= {"higher is better", "lower is better", "mixed"}
    row = prof.set_index("feature").loc["visits_per_week"]
    assert row["contrast"].startswith("Visits per week: top quartile ") and " against " in row["contrast"]
    assert (
        catalog.get("visits_per_week").display("zh")
        in spec.profile(small_dataset, model, lang="zh")["contrast"].str.cat()
    )
    out = score_pipeline("high-performer", small_dataset, model=model)
    assert list(out.columns) == [
        "employee_id",
        "score",
        "reasons",
        "window_start",
        "cutoff",
        "source",
        "state",
        "state_reason",
    ]
    assert out["employee_id"].is_unique and (out["cutoff"] > out["window_start"]).all()
    assert out["score"].between(0, 1).all() and (out["reasons"].str.len() > 0).mean() > 0.9
