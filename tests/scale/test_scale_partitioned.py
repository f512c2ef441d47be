"""What the Dask client holds (an outline, labels from the workers) and the transfer features' groups."""

from __future__ import annotations

import pandas as pd
import pytest

from perfml.dataset import Dataset
from perfml.errors import PerfmlError
from perfml.modeling.gate import data_months
from perfml.pipelines import PIPELINE_NAMES, get_pipeline
from perfml.scale import DaskEngine, features
from perfml.scale.layout import employee_buckets, partition
from perfml.scale.outline import load_outline
from perfml.scale.transfers import bucket_pieces, group_count, plan


def test_the_client_outline_answers_as_the_whole_company(small_dataset, small_parquet, dask_client, tmp_path):
    outline = load_outline(dask_client, small_parquet)
    assert outline.rows() == small_dataset.rows()
    assert outline.date_range() == small_dataset.date_range()
    for tables in ((), ("orders",), ("activities", "leads"), ("employees", "orders")):
        assert data_months(outline, tables) == data_months(small_dataset, tables) > 3
    # the bucketed tables are month digests (two stamps a month), not records
    assert len(outline.activities) <= 2 * data_months(small_dataset, ("activities",)) < len(small_dataset.activities)
    assert outline.transfer_labels.equals(small_dataset.transfer_labels)  # small tables whole
    with pytest.raises(PerfmlError, match="rows of targets are on the workers"):
        outline.table("targets")
    with pytest.raises(PerfmlError, match="cut it on the workers"):
        outline.before("2025-01-01")
    # the fingerprint follows the files' contents
    assert load_outline(dask_client, small_parquet).fingerprint() == outline.fingerprint()
    tables = {n: small_dataset.table(n) for n in small_dataset.rows()}
    tables["orders"] = tables["orders"].assign(amount=tables["orders"]["amount"] + 1.0)
    other = partition(Dataset(tables, untracked=small_dataset.untracked), tmp_path / "other", buckets=4)
    assert load_outline(dask_client, other).fingerprint() != outline.fingerprint()


@pytest.mark.parametrize("name", PIPELINE_NAMES)
def test_labels_from_the_workers_equal_the_pandas_path(name, small_dataset, small_parquet, dask_client):
    spec = get_pipeline(name)
    frame = spec.build_features(small_dataset).reset_index(drop=True)
    cols = list(dict.fromkeys([spec.time_column, *spec.key]))
    expected = frame[cols].assign(label=spec.build_labels(small_dataset, frame).to_numpy())
    engine = DaskEngine(dask_client, small_parquet)
    got_frame, labels, known = engine.training_frame(spec, engine.outline())
    got = got_frame[cols].assign(label=labels.to_numpy())
    expected = expected.sort_values(cols, kind="stable").reset_index(drop=True)
    assert labels.notna().sum() > 20 and (labels == 1).sum() >= 5
    pd.testing.assert_frame_equal(got, expected)
    expected_known = spec.label_known_at(small_dataset, frame)
    assert (known is None) == (expected_known is None)


def _cross_bucket_company(small_dataset: Dataset, buckets: int):
    """The small company plus, around one transfer between employees of two buckets, records of a third
    bucket's employee: an order on the customer an hour after the change (its next order), a lead on the
    customer a day before it; and the giver's call on another customer a day before it. Returns (dataset,
    change id)."""
    emp = small_dataset.employees
    of = employee_buckets(emp, buckets)
    changes = small_dataset.ownership_changes
    moves = changes[changes["from_employee_id"].notna()].reset_index(drop=True)
    giver_b = of.reindex(moves["from_employee_id"].astype("string")).to_numpy()
    receiver_b = of.reindex(moves["to_employee_id"].astype("string")).to_numpy()
    across = moves[giver_b != receiver_b]
    move = across.iloc[len(across) // 3]
    used = {of[move["from_employee_id"]], of[move["to_employee_id"]]}
    third = emp[~of.reindex(emp["employee_id"].astype("string")).isin(used).to_numpy()]["employee_id"].iloc[0]
    t0 = move["changed_at"]
    tables = {n: small_dataset.table(n) for n in small_dataset.rows()}
    order = (
        tables["orders"]
        .iloc[:1]
        .assign(
            order_id="X-ORDER", customer_id=move["customer_id"], employee_id=third, closed_at=t0 + pd.Timedelta(hours=1)
        )
    )
    order["amount"] = 12345.0
    lead = (
        tables["leads"]
        .iloc[:1]
        .assign(lead_id="X-LEAD", customer_id=move["customer_id"], owner_id=third, created_at=t0 - pd.Timedelta(days=1))
    )
    lead[["first_contact_at", "converted_at", "lost_at"]] = pd.NaT
    other = tables["customers"]["customer_id"].iloc[0]
    call = (
        tables["activities"]
        .iloc[:1]
        .assign(
            activity_id="X-CALL",
            employee_id=move["from_employee_id"],
            customer_id=other,
            type="call",
            occurred_at=t0 - pd.Timedelta(days=1),
        )
    )
    for name, row in (("orders", order), ("leads", lead), ("activities", call)):
        tables[name] = pd.concat([tables[name], row.astype(tables[name].dtypes.to_dict())], ignore_index=True)
    return Dataset(tables, untracked=small_dataset.untracked), move["change_id"]


def test_transfer_features_read_records_of_every_bucket(small_dataset, dask_client, tmp_path):
    company, change = _cross_bucket_company(small_dataset, buckets=4)
    folder = partition(company, tmp_path / "cross", buckets=4)
    spec = get_pipeline("transfer-anomaly")
    cols = [spec.time_column, *spec.key]
    expected = spec.build_features(company).sort_values(cols, kind="stable").reset_index(drop=True)
    got = features("transfer-anomaly", folder, client=dask_client).compute()
    pd.testing.assert_frame_equal(got.sort_values(cols, kind="stable").reset_index(drop=True), expected)
    # the added records did reach the transfer (the equality would hold vacuously otherwise)
    row = expected[expected["change_id"] == change].iloc[0]
    before = spec.build_features(small_dataset).set_index("change_id").loc[change]
    assert row["order_amount"] == 12345.0 and row["days_to_order"] == pytest.approx(1 / 24)
    assert row["lead_age_days"] == 1.0
    assert row["giver_activity_rate_before"] == pytest.approx(before["giver_activity_rate_before"] + 1 / 14)


def test_no_transfer_group_reads_the_whole_company(small_parquet, small_dataset):
    spec = get_pipeline("transfer-anomaly")
    the_plan = plan(small_parquet, spec.p.max_window_days, groups=group_count(4))
    groups = sorted(the_plan.units)
    pieces = [bucket_pieces(small_parquet, k, the_plan, groups) for k in range(4)]
    assert len(groups) > 1 and group_count(4) == 4 and group_count(64) == 16
    assert (
        sum(len(ids) for ids in the_plan.units.values())
        == small_dataset.ownership_changes["from_employee_id"].notna().sum()
    )
    for g in groups:
        for table in ("activities", "orders", "leads"):
            rows = sum(len(p[g][table]) for p in pieces)
            assert 0 < rows < len(small_dataset.table(table)), (g, table)
