"""The Dask engine gives the pandas path's features, scores and (within 0.01) held-out metrics."""

from __future__ import annotations

import pandas as pd
import pytest

from perfml.dataset import Dataset
from perfml.pipelines import PIPELINE_NAMES, get_pipeline
from perfml.pipelines.run import score_pipeline
from perfml.scale import features, load_dataset, score, train
from perfml.scale.layout import employee_buckets, partition

AS_OF = pd.Timestamp("2025-11-17 09:30")


def _sorted(frame: pd.DataFrame, spec) -> pd.DataFrame:
    return frame.sort_values([spec.time_column, *spec.key], kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("name", PIPELINE_NAMES)
@pytest.mark.parametrize("as_of", [None, AS_OF])
def test_features_equal_the_pandas_path(name, as_of, small_dataset, small_parquet, dask_client):
    spec = get_pipeline(name)
    expected = _sorted(spec.build_features(small_dataset, as_of=as_of), spec)
    got = features(name, small_parquet, client=dask_client, as_of=as_of)
    # one partition per bucket with units (the transfers: per bucket of their receivers)
    assert got.npartitions > 1
    assert len(expected) > 30
    pd.testing.assert_frame_equal(_sorted(got.compute(), spec)[list(expected.columns)], expected)


def test_a_record_at_the_cut_off_in_another_bucket_changes_nothing(small_dataset, small_parquet, dask_client, tmp_path):
    emp = small_dataset.employees
    buckets = employee_buckets(emp, 4)
    seller = emp[(emp["role"] == "sales").to_numpy()]["employee_id"].astype("string")
    # a seller of the last bucket closes one order exactly at the cut-off and one after the data ends:
    # had either leaked, the month span of every bucket (and that seller's revenue) would move
    who = seller[buckets.reindex(seller).to_numpy() == buckets.max()].iloc[0]
    extra = small_dataset.orders.iloc[:2].copy()
    extra["order_id"] = ["LEAK-1", "LEAK-2"]
    extra["employee_id"] = who
    extra["closed_at"] = [AS_OF, pd.Timestamp("2027-03-01")]
    tables = {n: small_dataset.table(n) for n in small_dataset.rows()}
    tables["orders"] = pd.concat([tables["orders"], extra], ignore_index=True)
    leaky = partition(Dataset(tables, untracked=small_dataset.untracked), tmp_path / "leaky", buckets=4)
    for name in ("decline", "high-performer"):
        spec = get_pipeline(name)
        clean = _sorted(features(name, small_parquet, client=dask_client, as_of=AS_OF).compute(), spec)
        with_leak = _sorted(features(name, leaky, client=dask_client, as_of=AS_OF).compute(), spec)
        pd.testing.assert_frame_equal(with_leak, clean)
    # and the training frame does see them (the test would pass vacuously otherwise)
    whole = features("decline", leaky, client=dask_client).compute()
    assert whole["as_of"].max() > features("decline", small_parquet, client=dask_client).compute()["as_of"].max()


@pytest.mark.parametrize("name", PIPELINE_NAMES)
def test_scores_of_one_model_equal_on_pandas_and_dask(name, small_dataset, small_parquet, dask_client, pandas_run):
    spec = get_pipeline(name)
    model = pandas_run(name).model
    as_of = None if name == "transfer-anomaly" else AS_OF
    expected = score_pipeline(name, small_dataset, model=model, as_of=as_of)
    got = score(name, small_parquet, client=dask_client, model=model, as_of=as_of)
    key = list(spec.key)
    expected = expected.sort_values(key, kind="stable").reset_index(drop=True)
    assert expected[spec.score_column].notna().sum() > 20
    pd.testing.assert_frame_equal(got.sort_values(key, kind="stable").reset_index(drop=True), expected)


@pytest.mark.parametrize("name", PIPELINE_NAMES)
def test_dask_trained_models_match_the_pandas_metrics(name, small_parquet, dask_client, pandas_run):
    expected = pandas_run(name)
    dask_run = train(name, small_parquet, client=dask_client, register=False)
    assert dask_run.split == expected.split
    assert dask_run.kind == expected.kind
    for metric in ("model_roc_auc", "model_pr_auc", "baseline_roc_auc", "baseline_pr_auc"):
        assert dask_run.metrics[metric] == pytest.approx(expected.metrics[metric], abs=0.01), metric
    # the gate counts the same evidence from the client's outline as from the whole tables
    for key in ("data_months", "test_rows", "test_positives", "test_units"):
        assert dask_run.gate.evidence[key] == expected.gate.evidence[key], key


def test_the_partitioned_folder_reads_back_as_the_dataset(small_dataset, small_parquet):
    back = load_dataset(small_parquet)
    assert back.rows() == small_dataset.rows()
    # rows are regrouped by bucket: compare contents, not order
    for name, key in (
        ("orders", "order_id"),
        ("activities", "activity_id"),
        ("targets", ["employee_id", "period", "metric"]),
    ):
        pd.testing.assert_frame_equal(
            back.table(name).sort_values(key).reset_index(drop=True),
            small_dataset.table(name).sort_values(key).reset_index(drop=True),
        )
