"""Decline early warning: label rules on hand-made months, as-of features, split, lead time, quality floor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from helpers.asof_perturb import add_activity_noise_at, perturb_after
from perfml import catalog
from perfml.dataset import Dataset
from perfml.errors import PerfmlError
from perfml.explain import explain
from perfml.metrics import activity_period_metrics
from perfml.modeling import registry
from perfml.pipelines import get_pipeline
from perfml.pipelines.decline import nodes
from perfml.pipelines.decline.nodes import DeclineParams
from perfml.pipelines.decline.pipeline import DeclinePipeline
from perfml.pipelines.run import score_pipeline, train_pipeline
from perfml.serving.render import explained

FEATURES = list(nodes.FEATURES)
KEY = ["employee_id", "as_of"]


# -- labels on hand-made months -----------------------------------------------------------------
def _months(rows: dict[str, list[float]], target: float | None = 100.0) -> pd.DataFrame:
    parts = [
        pd.DataFrame(
            {
                "employee_id": e,
                "p": np.arange(len(r)),
                "revenue": r,
                "revenue_target": target if target is not None else np.nan,
            }
        )
        for e, r in rows.items()
    ]
    return pd.concat(parts, ignore_index=True)


def _labels(monthly: pd.DataFrame, **params) -> dict[tuple[str, int], float]:
    snaps = monthly[["employee_id", "p"]]
    y = nodes.decline_labels(monthly, snaps, DeclineParams(**params))
    return {(e, int(p)): v for e, p, v in zip(snaps["employee_id"], snaps["p"], y, strict=True)}


MONTHS = _months(
    {
        # A: three months at 60% after six at 100 -> future mean 60 <= 70% of the base 100.
        "a": [100] * 6 + [60, 60, 60] + [100] * 3,
        # B only: two months under 60% of target, but a big third month keeps the mean up (101.7 > 70).
        "b": [100] * 6 + [50, 55, 200, 100, 100, 100],
        # leaves after month 7: horizons past it are unknown, even when B already fired.
        "c": [100] * 6 + [10, 10],
    }
)


def test_rule_a_revenue_drop_against_the_trailing_base():
    y = _labels(MONTHS)
    assert y[("a", 5)] == 1.0  # base months 0-5 = 100, future 6-8 = 60
    assert y[("a", 6)] == 0.0  # base (5x100 + 60)/6 = 93.3 -> bar 65.3 < future (60+60+100)/3 = 73.3
    assert y[("a", 8)] == 0.0  # base 80 -> bar 56 < future 100
    assert np.isnan(y[("a", 4)])  # no full 6-month base yet
    assert np.isnan(y[("a", 9)]) and np.isnan(y[("a", 11)])  # horizon runs past the data


def test_rule_b_two_consecutive_months_under_60_percent_of_target():
    y = _labels(MONTHS)
    assert y[("b", 5)] == 1.0  # 50% and 55% of target in months 6-7
    assert _labels(MONTHS, consecutive=0)[("b", 5)] == 0.0  # rule B off: the mean did not drop
    assert y[("b", 6)] == 0.0  # 55%, 200%, 100%: only one month under the floor
    # exactly 60% is not "under 60%"
    at_floor = _months({"f": [100] * 6 + [60, 60, 200]})
    assert _labels(at_floor)[("f", 5)] == 0.0
    # no target -> rule B cannot fire; rule A still applies
    no_target = _months({"n": [100] * 6 + [50, 50, 200]}, target=None)
    assert _labels(no_target)[("n", 5)] == 0.0


def test_labels_unknown_when_the_horizon_is_not_observed():
    y = _labels(MONTHS)
    assert np.isnan(y[("c", 5)])  # employee gone after month 7, though months 6-7 were under target
    assert np.isnan(_labels(MONTHS, horizon=2)[("a", 10)])  # month 12 is beyond the data
    assert _labels(MONTHS, horizon=2)[("c", 5)] == 1.0  # with H=2 the horizon is observed: rule B fires
    assert np.isnan(
        nodes.decline_labels(MONTHS, MONTHS[["employee_id", "p"]], DeclineParams(), last_period=7)[
            (MONTHS["employee_id"] == "a").to_numpy() & (MONTHS["p"] == 5).to_numpy()
        ].iloc[0]
    )


def test_configurable_horizon_and_drop():
    y = _labels(MONTHS, drop=0.5)
    assert y[("a", 5)] == 0.0  # 60 > 50% of 100
    zero = _months({"z": [0] * 9}, target=None)
    assert _labels(zero)[("z", 5)] == 0.0  # nothing to fall from
    with pytest.raises(ValidationError):
        DeclineParams(horizon=0)
    with pytest.raises(ValidationError):
        DeclineParams(drop=1.2)
    assert DeclinePipeline({"horizon": 4}).horizon == pd.Timedelta(days=124)


def test_baseline_is_last_months_fall():
    f = pd.DataFrame({"revenue_change_1m": [-0.4, -0.3, 0.2, np.nan, -1.0, -0.1]})
    np.testing.assert_allclose(nodes.revenue_fell_baseline(f, DeclineParams()), [0.4, 0.3, 0.0, 0.0, 1.0, 0.1])


def test_lead_time_from_first_alert_to_decline_start():
    frame = pd.DataFrame(
        {
            "employee_id": ["e"] * 8 + ["f"] * 4 + ["g"] * 4,
            "p": list(range(10, 18)) + list(range(10, 14)) + list(range(10, 14)),
            "label": [0, 0, 0, 1, 1, 1, 0, 0] + [1, 1, 0, 0] + [0, 1, 1, 0],
            "score": [0.1, 0.6, 0.2, 0.7, 0.8, 0.3, 0.1, 0.1] + [0.9, 0.9, 0.1, 0.1] + [0.1, 0.2, 0.3, 0.1],
        }
    )
    out = nodes.lead_times(frame, 0.5, DeclineParams()).set_index("employee_id")
    # e: label turns 1 at p=13 -> decline starts in month 14; first alert at the end of month 11 -> 3 months.
    assert out.loc["e", "decline_start"] == 14 and out.loc["e", "first_alert"] == 11
    assert out.loc["e", "lead_time_months"] == 3
    assert "f" not in out.index  # left-censored: positive from the first row
    assert np.isnan(out.loc["g", "lead_time_months"])  # never alerted
    late = nodes.lead_times(frame.assign(score=np.where(frame["p"] == 14, 0.9, 0.0)), 0.5, DeclineParams())
    assert late.set_index("employee_id").loc["e", "lead_time_months"] == 0  # alerted as it started
    summary = nodes.alert_summary(frame, 0.5, DeclineParams())
    assert summary["alert_rate"] == pytest.approx(5 / 16)  # e@11, e@13, e@14, f@10, f@11
    assert summary["alert_precision"] == pytest.approx(4 / 5) and summary["alert_recall"] == pytest.approx(4 / 7)
    assert summary["episodes"] == 2 and summary["episodes_alerted"] == 0.5  # e alerted, g not; f censored
    assert summary["lead_time_median"] == 3 and summary["early_share"] == 0.5


def test_activity_fade_rule():
    """Both recent windows at most 70% of the own rate while still active alert; leave, unknowns and
    unscored rows do not."""
    f = pd.DataFrame(
        {
            "activities_2w_vs_rate": [0.5, 0.7, 0.71, 0.5, 0.0, np.nan, 0.5, 0.5],
            "activities_4w_vs_rate": [0.6, 0.7, 0.6, 0.75, 0.5, 0.5, 0.6, 0.6],
            "days_since_activity": [1.0, 7.0, 1.0, 1.0, 12.0, 1.0, 7.5, 1.0],
            "state": ["scored"] * 7 + ["insufficient_history"],
        }
    )
    p = DeclineParams()
    np.testing.assert_array_equal(nodes.activity_fade(f, p), [True, True, False, False, False, False, False, False])
    assert not nodes.activity_fade(f, DeclineParams(fade_level=None)).any()
    assert nodes.activity_fade(f.drop(columns="state"), p)[7]
    assert not nodes.activity_fade(f.drop(columns="days_since_activity"), p).any()  # activities not tracked
    reasons = DeclinePipeline().rule_alerts(f)
    assert reasons[0].startswith("activity fade: the last 2 weeks at 50% and the last 4 weeks at 60%")
    assert list(pd.isna(reasons)) == [False, False, True, True, True, True, True, True]


# -- as-of features -----------------------------------------------------------------------------
def _perturb(ds: Dataset, t: pd.Timestamp, seed: int = 0) -> Dataset:
    """Delete half of the records dated at or after t, alter the rest and values dated after t."""

    def alter(name: str, df: pd.DataFrame, late: np.ndarray) -> pd.DataFrame:
        if name == "orders":
            df.loc[late, "amount"] = (df.loc[late, "amount"] * 3 + 1).round(2)
        if name == "activities":
            df.loc[late, "type"] = "visit"
            df = add_activity_noise_at(df, t)
        if name == "leads":  # outcomes dated after t of leads created before t
            for c in ("first_contact_at", "converted_at", "lost_at"):
                after = (df[c] >= t).fillna(False).to_numpy()
                df.loc[after, c] = df.loc[after, c] + pd.Timedelta(days=9)
        if name == "satisfaction":
            df.loc[late, "score"] = 0.0
        return df

    return perturb_after(ds, t, alter, seed)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a = a.set_index(["employee_id", "as_of"])[FEATURES].sort_index()
    b = b.set_index(["employee_id", "as_of"])[FEATURES].sort_index()
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)


@pytest.fixture(scope="module")
def small_features(small_dataset):
    return DeclinePipeline().build_features(small_dataset)


def test_as_of_invariance(small_dataset, small_features):
    spec = DeclinePipeline()
    for month in ("2025-09-01", "2026-01-01"):
        t = pd.Timestamp(month)
        base = spec.build_features(small_dataset, as_of=t)
        assert len(base) > 20 and (base["as_of"] == t).all()
        _same(base, spec.build_features(_perturb(small_dataset, t), as_of=t))
        # The training frame's rows at t are exactly what scoring at t sees...
        train_rows = small_features[small_features["as_of"] == t]
        _same(base.merge(train_rows[KEY], on=KEY), train_rows)
        # ...and also survive changes at or after t in the full history.
        again = spec.build_features(_perturb(small_dataset, t, seed=3))
        _same(train_rows, again[again["as_of"] == t])


def test_mid_month_as_of_excludes_everything_after_it(small_dataset):
    """A datetime is the instant itself: nothing at or after it is read, nothing is moved to a month end."""
    spec = DeclinePipeline()
    t = pd.Timestamp("2026-01-17T10:30:00")
    base = spec.build_features(small_dataset, as_of=t)
    assert len(base) > 20 and (base["as_of"] == t).all()
    assert (base["months_to"].dropna() == "2025-12").all() and base["months_to"].notna().mean() > 0.9
    _same(base, spec.build_features(_perturb(small_dataset, t), as_of=t))
    pd.testing.assert_frame_equal(
        base[["state", "state_reason"]],
        spec.build_features(_perturb(small_dataset, t, seed=5), as_of=t)[["state", "state_reason"]],
    )
    # An activity one second before t counts; the noise dated exactly at t did not.
    acts = small_dataset.activities
    who = base.loc[base["state"] == "scored", "employee_id"].iloc[0]
    extra = (
        acts[acts["employee_id"] == who].head(1).assign(activity_id="late-1", occurred_at=t - pd.Timedelta(seconds=1))
    )
    more = Dataset(
        {
            **{n: df for n, df in small_dataset.tables.items() if small_dataset.has(n)},
            "activities": pd.concat([acts, extra], ignore_index=True),
        },
        source="plus-one",
    )
    after = spec.build_features(more, as_of=t).set_index("employee_id")
    before = base.set_index("employee_id")
    assert after.loc[who, "activities_2w_vs_rate"] > before.loc[who, "activities_2w_vs_rate"]
    assert after.loc[who, "days_since_activity"] == pytest.approx(1 / 86400)


def test_two_mid_month_instants_differ_in_recent_weeks(small_dataset):
    """Two instants in the same month used to score the same month end; activity between them now shows."""
    spec = DeclinePipeline()
    a = spec.build_features(small_dataset, as_of="2026-01-10").set_index("employee_id")
    b = spec.build_features(small_dataset, as_of="2026-01-24").set_index("employee_id")
    scored = a.index[a["state"] == "scored"].intersection(b.index[b["state"] == "scored"])
    assert len(scored) > 20
    assert (a.loc[scored, "months_to"] == b.loc[scored, "months_to"]).all()  # same complete months...
    month_cols = [
        c for c in FEATURES if not c.endswith("_vs_rate") and not c.endswith("_activity") and "vs_team" not in c
    ]
    pd.testing.assert_frame_equal(a.loc[scored, month_cols], b.loc[scored, month_cols])
    # ...but two weeks of activity between the instants change the recent-weeks features of nearly everyone
    recent = ["activities_2w_vs_rate", "activities_4w_vs_rate", "days_since_activity"]
    changed = (a.loc[scored, recent] != b.loc[scored, recent]).any(axis=1)
    assert changed.mean() > 0.9


def test_feature_frame_contract(small_features, small_dataset):
    f = small_features
    assert not f.duplicated(["employee_id", "as_of"]).any()
    sales = set(small_dataset.employees.loc[small_dataset.employees["role"] == "sales", "employee_id"])
    assert set(f["employee_id"]) <= sales
    assert (
        f["as_of"].dt.day.isin(DeclineParams().snapshot_days).all() and (f["as_of"] == f["as_of"].dt.normalize()).all()
    )
    assert all(catalog.has(c) for c in FEATURES)
    assert np.isfinite(
        f[FEATURES].to_numpy(dtype="float64", na_value=np.nan)[
            ~np.isnan(f[FEATURES].to_numpy(dtype="float64", na_value=np.nan))
        ]
    ).all()


def test_hand_checked_features(small_dataset, small_features):
    """Windows agree with the metrics layer month by month."""
    monthly = activity_period_metrics(small_dataset)
    row = small_features[small_features["revenue_6m"].notna()].iloc[17]
    hist = monthly[(monthly["employee_id"] == row["employee_id"]) & (monthly["p"] <= row["p"])].tail(6)
    assert row["revenue_1m"] == pytest.approx(hist["revenue"].iloc[-1])
    assert row["revenue_3m"] == pytest.approx(hist["revenue"].tail(3).mean())
    assert row["revenue_6m"] == pytest.approx(hist["revenue"].mean())
    assert row["activities_trend"] == pytest.approx(hist["activities"].tail(3).sum() / hist["activities"].head(3).sum())
    assert row["attainment_3m"] == pytest.approx(hist["revenue"].tail(3).sum() / hist["revenue_target"].tail(3).sum())
    peers = small_features[(small_features["team_id"] == row["team_id"]) & (small_features["as_of"] == row["as_of"])]
    assert row["revenue_3m_vs_team"] == pytest.approx(row["revenue_3m"] / peers["revenue_3m"].median() - 1)


def test_partitionable_by_team(small_dataset, small_features):
    """A team's rows come out the same from its own slice of the data (customers' records kept whole)."""
    team = small_features["team_id"].iloc[0]
    emp = small_dataset.employees
    ids = set(emp.loc[emp["team_id"] == team, "employee_id"])
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
        source="team",
    )
    a = small_features[small_features["team_id"] == team]
    b = DeclinePipeline().build_features(part)
    assert len(a) > 50
    _same(a, b)


# -- training on the default-size simulator (seed 1) ----------------------------------------------
@pytest.fixture(scope="module")
def trained(medium_dataset):
    return train_pipeline("decline", medium_dataset, register=False)


def test_split_keeps_a_horizon_gap(trained, medium_dataset):
    spec = get_pipeline("decline")
    f = spec.build_features(medium_dataset)
    y = spec.build_labels(medium_dataset, f)
    split = spec.split(f, y)
    assert split.gap >= pd.Timedelta(days=28 * spec.p.horizon)
    assert (f.loc[split.test, "as_of"] >= split.cutoff + split.gap).all()  # no test row before cut-off + gap
    assert (f.loc[split.train, "as_of"] < split.cutoff).all()
    # the last training label ends before the first test snapshot
    assert f.loc[split.train, "label_known_at"].max() <= f.loc[split.test, "as_of"].min()
    test = trained.test.loc[:, ~trained.test.columns.duplicated()]  # key and time column are both `as_of`
    assert (test["as_of"] >= pd.Timestamp(trained.split["split_test_start"])).all()


def test_quality_floor_and_lead_time(trained):
    """Held-out months: ROC-AUC at least the naive rule + 0.10; lead time is reported."""
    m = trained.metrics
    assert m["model_n"] >= 300 and 0.1 < m["model_prevalence"] < 0.7
    assert m["model_roc_auc"] >= m["baseline_roc_auc"] + 0.10, m
    assert m["model_pr_auc"] > m["baseline_pr_auc"]
    assert m["model_brier"] < m["baseline_brier"]
    # lead time is reported at the fitted alert threshold (the top 40% of training scores)
    assert 0 < trained.model.threshold < 1
    assert m["model_episodes"] >= 20 and m["model_episodes_alerted"] >= 0.3
    assert 0 <= m["model_lead_time_median"] <= 6 and 0 < m["model_early_share"] <= 1


def test_first_alert_within_a_month_of_the_activity_fade(trained, medium_dataset, medium_dir):
    """Simulator truth, test side only: every test-side instant (weekly) is scored; the first alert (the
    model's threshold or the activity-fade rule, as served) comes a median of at most 1 month after a rep's
    activity starts to fade (truth `decline_onset`); the threshold alone came 4.3 months after."""
    truth = pd.read_csv(medium_dir / "truth" / "employees.csv", dtype=str)
    dec = truth[truth["is_decliner"] == "1"]
    fades = pd.DataFrame(
        {
            "employee_id": dec["employee_id"].astype("string").to_numpy(),
            "fade_start": pd.to_datetime(dec["decline_onset"] + "-01").to_numpy(),
        }
    )
    spec = get_pipeline("decline")
    frame = spec.build_features(medium_dataset)
    frame = frame[frame["as_of"] >= pd.Timestamp(trained.split["split_test_start"])].reset_index(drop=True)
    model_alert = trained.model.predict(frame[trained.features].astype(float)) >= trained.model.threshold
    alerted = model_alert | nodes.activity_fade(frame, spec.p)
    summary = {}
    for who, flags in (("served", alerted), ("model", model_alert)):
        scores = frame[["employee_id", "as_of"]].assign(score=flags.astype(float))
        summary[who] = nodes.fade_summary(
            nodes.fade_alerts(scores, fades, activity_period_metrics(medium_dataset), 0.5)
        )
    assert summary["served"]["fades"] >= 4, summary
    assert summary["served"]["alert_delay_median"] <= 1.0, summary
    assert summary["served"]["alerted_within_1m"] > summary["model"]["alerted_within_1m"], summary
    assert summary["served"]["lead_before_fall_median"] >= 0, summary  # alerted no later than revenue fell 30%
    # not by alerting everyone: a few more of the employees scored at an instant, at the model's precision
    share = {who: flags.mean() for who, flags in (("served", alerted), ("model", model_alert))}
    assert share["served"] - share["model"] < 0.05 and share["served"] < 0.5, share
    m = trained.metrics
    assert m["alerts_alert_precision"] >= m["model_alert_precision"] - 0.03, m
    assert m["alerts_alert_precision"] > m["baseline_alert_precision"] + 0.1, m


def test_reproducible(small_dataset):
    a = train_pipeline("decline", small_dataset, register=False)
    b = train_pipeline("decline", small_dataset, register=False)
    np.testing.assert_array_equal(a.test["score"].to_numpy(), b.test["score"].to_numpy())
    assert a.metrics == b.metrics or all(
        (np.isnan(v) and np.isnan(b.metrics[k])) or v == b.metrics[k] for k, v in a.metrics.items()
    )


def test_register_and_score_at_any_date(small_dataset, home):
    result = train_pipeline("decline", small_dataset, home=home)
    assert result.promoted and result.version == "1"
    out = score_pipeline(
        "decline", small_dataset, as_of="2026-02-10", model=registry.champion_or_none("decline", home=home)
    )
    assert {
        "employee_id",
        "as_of",
        "probability",
        "reasons",
        "months_from",
        "months_to",
        "source",
        "state",
        "state_reason",
    } <= set(out.columns)
    assert (out["as_of"] == pd.Timestamp("2026-02-10")).all() and out["employee_id"].is_unique
    assert (out["months_to"] == "2026-01").all()  # the complete months before the instant, said out loud
    assert out["probability"].between(0, 1).all() and out["reasons"].str.len().gt(0).all()
    features = DeclinePipeline().build_features(small_dataset, as_of="2026-02-10").sort_values("employee_id")
    fading = nodes.activity_fade(features, DeclineParams())
    assert 0 < fading.sum() < len(features) / 3  # a few reps fade at this instant
    assert (out.sort_values("employee_id")["rule_alert"].str.startswith("activity fade").to_numpy() == fading).all()
    # The service's explained results alert at the model's threshold or by the rule, and say which rule.
    rules = DeclinePipeline().rule_alerts(features)
    served = explained(explain(result.model, features), threshold=result.model.threshold, rules=rules)
    model_alert = np.array([r["score"] >= result.model.threshold for r in served])
    assert [r["alert"] for r in served] == list(model_alert | fading)
    assert [r["rule_alert"] for r in served] == list(rules)


def test_no_history_is_a_clear_error(small_dataset):
    short = small_dataset.before(small_dataset.activities["occurred_at"].min() + pd.Timedelta(days=120))
    with pytest.raises(PerfmlError):
        train_pipeline("decline", short, register=False)
