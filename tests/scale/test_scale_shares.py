"""A bucket's task and a transfer group read their share of the whole tables; the features stay the pandas path's."""

from __future__ import annotations

import pandas as pd
import pytest

from perfml.dataset import Dataset
from perfml.pipelines import get_pipeline
from perfml.scale import DaskEngine, features
from perfml.scale.layout import employee_buckets, partition
from perfml.scale.shares import cut
from perfml.scale.transfers import group_changes, plan

AS_OF = pd.Timestamp("2025-11-17 09:30")


def test_a_bucket_share_holds_its_employees_customers_changes_and_surveys(small_dataset, small_parquet):
    shares = cut(small_parquet, 4, levels=False)
    of = employee_buckets(small_dataset.employees, 4)
    changes = small_dataset.ownership_changes
    total = 0
    for k, share in shares.items():
        mine = set(of.index[of.to_numpy() == k])
        assert set(share["employees"]["employee_id"]) == mine
        got = share["ownership_changes"]
        # every change of a customer that reached one of the bucket's employees, and no other
        held = set(changes.loc[changes["to_employee_id"].isin(mine), "customer_id"])
        assert set(got["change_id"]) == set(changes.loc[changes["customer_id"].isin(held), "change_id"])
        assert got["change_id"].tolist() == [
            c for c in changes["change_id"] if c in set(got["change_id"])
        ]  # file order
        assert set(share["satisfaction"]["employee_id"]) <= mine
        assert set(share["customers"]["customer_id"]) == held | set(share["satisfaction"]["customer_id"])
        total += len(got)
    # customers that changed hands between buckets are in each: far fewer than every bucket reading them all
    assert len(changes) < total < 1.2 * len(changes)


def test_rare_levels_and_unattributed_surveys_give_the_pandas_features(small_dataset, dask_client, tmp_path):
    tables = {n: small_dataset.table(n).copy() for n in small_dataset.rows()}
    of = employee_buckets(tables["employees"], 4)
    # surveys without an employee count for the customer's owner then, found from the ownership changes
    sat = tables["satisfaction"]
    sat.loc[sat.index % 3 == 0, "employee_id"] = pd.NA
    # an education level held by one employee of the last bucket only: every bucket's frame has its column
    hp = get_pipeline("high-performer")
    units = hp.build_features(small_dataset)["employee_id"].astype("string")
    rare = units[of.reindex(units).to_numpy() == of.max()].iloc[0]
    emp = tables["employees"]
    emp["attr_education"] = emp["attr_education"].cat.add_categories(["doctorate"])
    emp.loc[emp["employee_id"] == rare, "attr_education"] = "doctorate"
    changed = Dataset(tables, untracked=small_dataset.untracked)
    folder = partition(changed, tmp_path / "parts", buckets=4)
    # the unattributed surveys of customers that moved between buckets go to both buckets' shares
    shares = cut(folder, 4, levels=True)
    spread = pd.concat([s["satisfaction"]["survey_id"] for s in shares.values()]).value_counts()
    assert (spread > 1).sum() > 0
    assert sum(len(s["satisfaction"]) for s in shares.values()) > len(sat)
    for name in ("decline", "high-performer"):
        spec = get_pipeline(name)
        for as_of in (None, AS_OF):
            expected = spec.build_features(changed, as_of=as_of)
            expected = expected.sort_values([spec.time_column, *spec.key], kind="stable").reset_index(drop=True)
            got = features(name, folder, client=dask_client, as_of=as_of).compute()
            got = got.sort_values([spec.time_column, *spec.key], kind="stable").reset_index(drop=True)
            pd.testing.assert_frame_equal(got[list(expected.columns)], expected)
            if name == "high-performer" and as_of is None:
                assert got["attr_education=doctorate"].sum() == pytest.approx(1.0)
            elif name == "decline":
                assert got["satisfaction_6m"].notna().mean() > 0.8  # most employee-months have surveys


def test_a_transfer_group_reads_its_share_of_the_ownership_changes(small_dataset, small_parquet):
    spec = get_pipeline("transfer-anomaly")
    the_plan = plan(small_parquet, spec.p.max_window_days, groups=2)
    changes = small_dataset.ownership_changes
    emp = small_dataset.employees
    of = employee_buckets(emp, 4)
    total = 0
    for g, ids in the_plan.units.items():
        receivers = of.index[of.to_numpy() % 2 == g]
        kept = group_changes(changes, emp, receivers, ids, small_dataset.orders)
        assert changes["change_id"][kept].isin(ids).sum() == len(ids) > 50
        # every transfer to the group's receivers is there (their records), most others are not
        to_them = changes["from_employee_id"].notna() & changes["to_employee_id"].isin(receivers)
        assert kept[to_them.to_numpy()].all()
        assert kept.sum() < len(changes)
        total += kept.sum()
    assert total < 1.5 * len(changes)


@pytest.mark.parametrize("groups", [2, 3])
def test_transfer_features_in_any_number_of_groups_equal_the_pandas_path(
    groups, small_dataset, small_parquet, dask_client
):
    spec = get_pipeline("transfer-anomaly")
    cols = [spec.time_column, *spec.key]
    for as_of in (None, AS_OF):
        expected = spec.build_features(small_dataset, as_of=as_of).sort_values(cols, kind="stable")
        engine = DaskEngine(dask_client, small_parquet, transfer_groups=groups)
        frame = engine.features(spec, as_of)
        assert frame.npartitions > 1  # one per group with transfers (a bucket of this company has none)
        got = frame.compute().sort_values(cols, kind="stable")
        pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True))
