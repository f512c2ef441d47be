"""Hand-over flows as company policy: labels, policy files, peer comparisons, explanations, floors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from helpers.asof_perturb import add_activity_noise_at, perturb_after
from helpers.transfer_company import tiny_dataset
from perfml.catalog import format_value
from perfml.cli import app
from perfml.config import Settings
from perfml.dataset import Dataset
from perfml.modeling.evaluate import binary_metrics
from perfml.pipelines import get_pipeline
from perfml.pipelines.run import explain_pipeline, train_pipeline
from perfml.pipelines.transfer_anomaly import nodes
from perfml.pipelines.transfer_anomaly.flows import (
    MIN_PEERS,
    UNDECLARED,
    PolicyError,
    change_stage,
    default_policy,
    label_flows,
    load_policy,
    parse_policy,
    peer_medians,
)
from perfml.pipelines.transfer_anomaly.pipeline import TransferAnomaly

POLICY_TEXT = "flows:\n  - {name: qualification, from: SDR, to: AE, stage: before_first_order}\n"
POLICY = parse_policy(POLICY_TEXT, "test")
FLOW_COLUMNS = [*nodes.FLOW_FEATURES, "flow_usual_days_to_order", "flow_usual_giver_acts_after"]


# -- labelling and the policy file ------------------------------------------------------------
def test_flow_labelling_on_hand_made_rows():
    policy = parse_policy(
        "flows:\n"
        "  - {name: qualification, from: SDR, to: AE, stage: before_first_order}\n"
        "  - {name: care, from: AE, to: AM, stage: after_first_order}\n"
        "  - {name: cover, from: AE, to: AE, stage: on_leave_or_departure}\n",
        "test",
    )
    stage = change_stage(
        prior_orders=np.array([0, 0, 2, 0, 3, 0, 0]),
        giver_days_to_exit=np.array([np.nan, np.nan, np.nan, 12.0, np.nan, 45.0, np.nan]),
        reason_leave=np.array([False, False, False, False, True, False, False]),
    )
    assert list(stage) == [
        "before_first_order",
        "before_first_order",
        "after_first_order",
        "on_leave_or_departure",
        "on_leave_or_departure",
        "before_first_order",
        "before_first_order",
    ]
    giver = pd.Series(["sdr", "SDR", "AE", "AE", "AE", "AE", None], dtype="string")
    receiver = pd.Series(["AE ", "AM", "AM", "AE", "ae", "AE", "AE"], dtype="string")
    assert list(label_flows(giver, receiver, stage, policy)) == [
        "qualification",  # functions compare case-folded and trimmed
        UNDECLARED,  # SDR -> AM is not declared
        "care",
        "cover",
        "cover",  # leave cover by the reason text, whatever the orders
        UNDECLARED,  # AE -> AE before the first order (exit in 45 days is no departure hand-over)
        UNDECLARED,
    ]  # no job function
    assert list(label_flows(giver, receiver, stage, default_policy())) == [UNDECLARED] * 7


def test_flows_on_a_hand_made_company_mask_the_ripe_prior_where_the_flow_expects_it():
    emp = tiny_dataset().employees.assign(job_function=["SDR", "AE", "AE", None])
    ds = tiny_dataset(employees=emp)
    policy = parse_policy("flows:\n  - {name: q, from: SDR, to: AE, stage: after_first_order}\n", "test")
    plain = nodes.build_features(ds).set_index("change_id")
    f = nodes.build_features(ds, policy=policy).set_index("change_id")
    assert list(plain.reset_index().columns) == [*nodes.META, *nodes.FEATURES]  # no policy: a plain company's frame
    assert list(f.reset_index().columns) == [*nodes.META, *nodes.FLOW_META, *nodes.FEATURES, *nodes.FLOW_FEATURES]
    assert f.loc["ch1", "flow"] == "q" and f.loc["ch3", "flow"] == UNDECLARED  # ch3: r2 is leaving -> other stage
    # after the first order the flow designs who receives, not a quick order: only the role is masked
    assert np.isnan(f.loc["ch1", "receiver_is_assistant"])
    assert f.loc["ch1", list(nodes.RIPE_FEATURES)].equals(plain.loc["ch1", list(nodes.RIPE_FEATURES)])
    assert f.loc["ch1", "has_order"] == 1
    assert f.loc["ch3", "has_order"] == plain.loc["ch3", "has_order"]
    other = [c for c in nodes.FEATURES if c not in (*nodes.RIPE_FEATURES, *nodes.ROLE_FEATURES)]
    pd.testing.assert_frame_equal(f[other], plain[other])
    assert np.isnan(f.loc["ch1", "flow_days_to_order_vs_peers"])  # no settled peers yet
    # before the first order (c1 has no earlier order) the flow expects the order soon: the ripe prior is off
    first = parse_policy("flows:\n  - {name: q, from: SDR, to: AE, stage: before_first_order}\n", "test")
    no_prior = tiny_dataset(employees=emp, orders=ds.orders[ds.orders["order_id"] == "o2"].astype(str))
    g = nodes.build_features(no_prior, policy=first).set_index("change_id")
    assert g.loc["ch1", "flow"] == "q"
    assert g.loc["ch1", [*nodes.RIPE_FEATURES, *nodes.ROLE_FEATURES]].isna().all()
    assert g.loc["ch1", "receiver_acts_after"] == 0  # what the receiver did still counts


def test_peer_medians_use_only_peers_settled_strictly_before():
    t = pd.Timestamp("2024-01-01")
    settled = pd.Series([t + pd.Timedelta(days=d) for d in range(8)])
    values = np.array([1.0, 3.0, np.nan, 5.0, 7.0, 9.0, 100.0, 2.0])
    flow = np.array(["a"] * 7 + ["b"], dtype=object)
    queries = pd.Series([t + pd.Timedelta(days=6), t + pd.Timedelta(days=6, seconds=1), t + pd.Timedelta(days=99), t])
    got = peer_medians(values, flow, settled, np.array(["a", "a", "b", UNDECLARED], dtype=object), queries)
    assert MIN_PEERS == 5
    assert got[0] == 5.0  # 1, 3, 5, 7, 9 (the NaN and the peer settled at that instant do not count)
    assert got[1] == 6.0  # ... and once it is settled, 100 too
    assert np.isnan(got[2]) and np.isnan(got[3])  # too few peers; undeclared


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "flows:\n  - {name: q, from: SDR, to: AE, stage: before}\n",
            "flows[0].stage: must be one of before_first_order, after_first_order, on_leave_or_departure, got 'before'",
        ),
        (
            "flows:\n  - {name: q, from: SDR, to: AE, stage: after_first_order}\n"
            "  - {name: r, to: AE, stage: after_first_order}\n",
            "flows[1].from: Field required",
        ),
        (
            "flows:\n  - {name: q, from: SDR, to: AE, stage: after_first_order, owner: x}\n",
            "flows[0].owner: unknown key",
        ),
        (
            "flows:\n  - {name: q, from: '  ', to: AE, stage: after_first_order}\n",
            "flows[0].from: must be a non-empty text",
        ),
        (
            "flows:\n  - {name: q, from: A, to: B, stage: after_first_order}\n"
            "  - {name: q, from: B, to: C, stage: after_first_order}\n",
            "flows: flow names must be unique; repeated: q",
        ),
        ("flows: {name: q}\n", "flows: Input should be a valid"),
        ("flow: []\n", "flow: unknown key"),
        ("- a\n", "must be a mapping with one key, `flows`"),
        ("flows: [\n", "not valid YAML"),
    ],
)
def test_policy_file_errors_name_the_yaml_path(tmp_path, text, message):
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_pipeline_takes_the_policy_from_settings(tmp_path, monkeypatch):
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_TEXT, encoding="utf-8")
    default = get_pipeline("transfer-anomaly", Settings(home=tmp_path))
    company = get_pipeline("transfer-anomaly", Settings(home=tmp_path, handover_policy=path))
    assert default.features == nodes.FEATURES and default.policy.flows == ()
    assert company.features == (*nodes.FEATURES, *nodes.FLOW_FEATURES)
    assert company.params()["handover_policy_sha256"] == POLICY.digest() != default.params()["handover_policy_sha256"]
    monkeypatch.setenv("PERFML_HANDOVER_POLICY", str(path))
    assert Settings().handover_policy == path
    with pytest.raises(PolicyError, match="not found"):
        get_pipeline("transfer-anomaly", Settings(home=tmp_path, handover_policy=tmp_path / "missing.yaml"))


# -- the funnel company -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def funnel(funnel_dir):
    return Dataset.load(funnel_dir)


@pytest.fixture(scope="module")
def funnel_truth(funnel_dir):
    return pd.read_csv(funnel_dir / "truth" / "transfers.csv", dtype={"change_id": str}).set_index("change_id")


def test_policy_check_reports_coverage_and_unknown_functions(funnel_dir, funnel, funnel_truth, tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_TEXT + "  - {name: care, from: AE, to: CSM, stage: after_first_order}\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["policy", "check", "--data", str(funnel_dir), "--policy", str(path)])
    assert r.exit_code == 1
    assert "flows[1].to: 'CSM' is not a job_function of any employee" in r.output
    assert "flow care (AE→CSM) (after_first_order) matches no hand-over" in " ".join(r.output.split())
    report = nodes.policy_coverage(funnel, POLICY)
    row = report["flows"].set_index("flow").loc["qualification (SDR→AE)"]
    transfers = funnel_truth[funnel_truth["kind"] != "first_assignment"]
    assert report["transfers"] == len(transfers)
    # the declared flow covers the funnel's hand-overs (a few leave-time ones fall to another stage)
    assert 0.95 * transfers["is_funnel"].sum() <= row["handovers"] <= transfers["is_funnel"].sum() * 1.01
    assert row["share"] == pytest.approx(row["handovers"] / len(transfers))
    assert f"{row['handovers']:,}" in r.output and f"{row['share']:.1%}" in r.output


def _perturb(ds: Dataset, t: pd.Timestamp, seed: int = 0) -> Dataset:
    def alter(name, df, late):
        if name == "orders":
            df.loc[late, "amount"] = df.loc[late, "amount"] * 3 + 1
        if name == "activities":
            df = add_activity_noise_at(df, t)
        return df

    return perturb_after(ds, t, alter, seed)


def test_flow_features_are_as_of_and_partitionable(funnel):
    stamps = funnel.ownership_changes["changed_at"]
    t = (stamps.min() + (stamps.max() - stamps.min()) * 0.7).floor("D") + pd.Timedelta(hours=13)
    base = nodes.build_features(funnel, as_of=t, policy=POLICY).set_index("change_id").sort_index()
    declared = base["flow"] != UNDECLARED
    assert declared.sum() > 100 and base.loc[declared, "flow_days_to_order_vs_peers"].notna().sum() > 50
    again = nodes.build_features(_perturb(funnel, t), as_of=t, policy=POLICY).set_index("change_id").sort_index()
    pd.testing.assert_frame_equal(
        base[["flow", *FLOW_COLUMNS]], again[["flow", *FLOW_COLUMNS]], check_exact=False, rtol=1e-12
    )
    ids = base.index[declared][::7]
    part = nodes.build_features(funnel, as_of=t, policy=POLICY, change_ids=ids).set_index("change_id").sort_index()
    pd.testing.assert_frame_equal(base.loc[ids, ["flow", *FLOW_COLUMNS]], part[["flow", *FLOW_COLUMNS]])


def _no_labels(dataset: Dataset) -> Dataset:
    return Dataset({k: v for k, v in dataset.tables.items() if k != "transfer_labels"}, source="nolabels")


@pytest.fixture(scope="module")
def with_policy(funnel):
    return train_pipeline(TransferAnomaly(handover_policy=POLICY), funnel, register=False)


@pytest.fixture(scope="module")
def unsupervised_with_policy(funnel):
    return train_pipeline(TransferAnomaly(handover_policy=POLICY), _no_labels(funnel), register=False)


@pytest.fixture(scope="module")
def without_policy(funnel):
    return train_pipeline(TransferAnomaly(), funnel, register=False)


@pytest.fixture(scope="module")
def unsupervised_without_policy(funnel):
    return train_pipeline(TransferAnomaly(), _no_labels(funnel), register=False)


def _floors(result, truth):
    """(share of the funnel's test-side hand-overs at or above the alert threshold, their number, their mean
    score percentile among all test-side transfers, metrics of the collusive ones against truth)."""
    test = result.test.set_index("change_id")
    t = truth.reindex(test.index)
    funnel = t["is_funnel"].to_numpy() == 1
    above = float((test["score"].to_numpy()[funnel] >= result.model.threshold).mean())
    rank = float(test["score"].rank(pct=True).to_numpy()[funnel].mean())
    return above, int(funnel.sum()), rank, binary_metrics(t["is_collusive"].to_numpy(float), test["score"].to_numpy())


def test_without_a_policy_the_funnel_company_fails_the_floor(
    without_policy, unsupervised_without_policy, with_policy, unsupervised_with_policy, funnel_truth
):
    """The funnel company reproduces the failure the policy fixes: without it, its designed hand-overs (ripe,
    quick to order, to a closer recorded with the assistants) rank among the suspicious, collusion drowns among
    them below the supervised floor, and declaring the flow lifts it over (held-out side, simulator truth)."""
    _, n, rank_sup, m_sup = _floors(without_policy, funnel_truth)
    _, _, rank_uns, m_uns = _floors(unsupervised_without_policy, funnel_truth)
    assert without_policy.kind == "supervised" and n >= 100
    assert m_sup["pr_auc"] < 0.87  # 0.84 on seed 1: below the 0.90 floor
    assert rank_sup >= 0.68 and rank_uns >= 0.6  # funnel hand-overs above most transfers (0.71, 0.64)
    _, _, pol_sup, pm_sup = _floors(with_policy, funnel_truth)
    _, _, pol_uns, pm_uns = _floors(unsupervised_with_policy, funnel_truth)
    assert pm_sup["pr_auc"] >= m_sup["pr_auc"] + 0.05 and pm_uns["pr_auc"] >= m_uns["pr_auc"] + 0.03
    assert pol_sup <= rank_sup - 0.08 and pol_uns <= rank_uns - 0.15  # compared with their flow, not the company


def test_funnel_handovers_are_not_flagged_and_collusion_still_is(with_policy, unsupervised_with_policy, funnel_truth):
    """Held-out side, simulator truth: at most 5% of the funnel's hand-overs above the alert threshold,
    collusive rep -> assistant hand-overs at PR-AUC >= 0.90 (supervised) and >= 0.65 (no labels)."""
    above, n, _, m = _floors(with_policy, funnel_truth)
    assert with_policy.kind == "supervised" and n >= 100 and m["positives"] >= 20
    assert above <= 0.05 and m["pr_auc"] >= 0.90
    above, n, _, m = _floors(unsupervised_with_policy, funnel_truth)
    assert unsupervised_with_policy.kind == "unsupervised"
    assert above <= 0.05 and m["pr_auc"] >= 0.65


def test_the_explanation_names_the_flow_and_its_peers(with_policy, funnel, funnel_truth):
    spec = TransferAnomaly(handover_policy=POLICY)
    features, ex = explain_pipeline(spec, funnel, model=with_policy.model)
    out = spec.output(features, ex.score, ex.reasons(3, "en")).set_index("change_id")
    funnel_ids = funnel_truth.index[funnel_truth["is_funnel"] == 1]
    reasons = out.loc[out.index.intersection(funnel_ids), "reasons"]
    assert reasons.str.startswith("hand-over along the declared flow qualification (SDR→AE)").mean() >= 0.95
    # every one that ordered, once the flow has 5 settled peers
    compared = reasons[reasons.str.contains("usual for SDR→AE here: ", regex=False)]
    assert len(compared) >= 0.7 * len(reasons)
    sample = compared.iloc[0]
    assert "ordered " in sample and " days after the hand-over" in sample
    collusive = out.loc[out.index.intersection(funnel_truth.index[funnel_truth["is_collusive"] == 1]), "reasons"]
    assert not collusive.str.contains("declared flow").any()  # undeclared hand-overs read as before
    # in Chinese, the flow line follows the language of the other reasons
    zh = spec.output(features, ex.score, ex.reasons(3, "zh"), lang="zh").set_index("change_id")["reasons"]
    row = features.set_index("change_id").loc[compared.index[0]]
    usual = row["flow_usual_days_to_order"]
    days = format_value(usual + row["flow_days_to_order_vs_peers"], "days", "zh")
    assert zh[compared.index[0]].startswith(
        f"按已声明的交接流程qualification (SDR→AE)转交; 交接后{days}下单，"
        f"本公司SDR→AE通常为{format_value(usual, 'days', 'zh')}"
    )
    assert not zh.loc[reasons.index].str.contains("hand-over|usual|ordered").any()


def test_job_function_is_validated_like_other_text():
    from perfml.errors import DataValidationError

    emp = tiny_dataset().employees.assign(job_function=["SDR", "A\x00E", "AE", None])
    with pytest.raises(DataValidationError, match="employees.job_function: must not contain a NUL"):
        tiny_dataset(employees=emp)
