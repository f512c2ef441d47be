"""Sparse exports: a CRM with orders only (no activities, leads, surveys, targets or ownership changes,
dates without times) and agents without deals. Features build, and units without enough record get
a state with a reason instead of a score: "no activity on record" is never "declining"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perfml import catalog
from perfml.dataset import Dataset
from perfml.pipelines.decline import nodes
from perfml.pipelines.decline.pipeline import DeclinePipeline
from perfml.pipelines.high_performer.pipeline import HighPerformer

AS_OF = pd.Timestamp("2026-01-15")


@pytest.fixture(scope="module")
def orders_only(small_dataset) -> Dataset:
    """The small company as an orders-only export: dates without times, two idle agents, one new hire."""
    emp = small_dataset.employees
    template = emp[emp["role"] == "sales"].iloc[0]
    extra = pd.DataFrame([template] * 3).reset_index(drop=True)
    extra["employee_id"] = pd.Series(["IDLE1", "IDLE2", "NEW1"], dtype="string")
    extra["hire_date"] = pd.to_datetime(["2024-01-01", "2024-01-01", "2025-11-03"]).astype(emp["hire_date"].dtype)
    extra["termination_date"] = pd.NaT
    employees = pd.concat([emp, extra], ignore_index=True)
    orders = small_dataset.orders.copy()
    orders["closed_at"] = orders["closed_at"].dt.normalize()
    # The new hire closed one deal in December: one complete data month before the as-of date.
    deal = orders.iloc[[0]].assign(order_id="NEW1-1", employee_id="NEW1", closed_at=pd.Timestamp("2025-12-03"))
    orders = pd.concat([orders, deal], ignore_index=True).astype(small_dataset.orders.dtypes.to_dict())
    return Dataset(
        {"employees": employees, "customers": small_dataset.customers, "orders": orders},
        source="orders-only",
        untracked={"activities", "leads", "satisfaction", "ownership_changes"},
    )


def test_orders_only_export_builds_and_labels(orders_only):
    spec = DeclinePipeline()
    train = spec.build_features(orders_only)
    y = spec.build_labels(orders_only, train)
    assert len(train) > 100 and y.notna().sum() > 100 and 0 < y.mean() < 1
    assert train["revenue_3m"].notna().all() and train["activities_2w_vs_rate"].isna().all()
    # every feature read from an untracked table says so, so the runner can leave it out
    untracked = {f for f in nodes.FEATURES if set(catalog.get(f).tables) & orders_only.untracked}
    assert {"activities_2w_vs_rate", "days_since_activity", "open_leads", "satisfaction_6m"} <= untracked
    assert {"revenue_3m", "revenue_change_1m", "revenue_4w_vs_rate"}.isdisjoint(untracked)
    assert all(catalog.get(f).tables for f in (*nodes.FEATURES, *HighPerformer.features))


def test_agents_without_deals_are_no_activity_not_declining(orders_only):
    frame = DeclinePipeline().build_features(orders_only, as_of=AS_OF).set_index("employee_id")
    idle = frame.loc[["IDLE1", "IDLE2"]]
    assert (idle["state"] == "no_activity").all()
    assert idle["state_reason"].iloc[0] == (
        "no activity on record: no orders, activities or leads from 2025-07-01 to before 2026-01-15"
    )
    new = frame.loc["NEW1"]
    assert new["state"] == "insufficient_history"
    assert new["state_reason"] == "2 complete data months before 2026-01-15 (2025-11 to 2025-12); 3 needed"
    scored = frame[frame["state"] == "scored"]
    assert len(scored) > 20 and (scored["state_reason"] == "").all()
    assert scored["revenue_3m"].notna().all() and (scored["months_to"] == "2025-12").all()
    assert set(frame["state"]) <= {"scored", "insufficient_history", "no_activity"}


def test_min_history_months_is_a_setting(orders_only):
    frame = DeclinePipeline({"min_history_months": 2}).build_features(orders_only, as_of=AS_OF)
    assert frame.set_index("employee_id").loc["NEW1", "state"] == "scored"
    strict = DeclinePipeline({"min_history_months": 24}).build_features(orders_only, as_of=AS_OF)
    assert (strict["state"] != "scored").all()


def test_high_performer_states_on_the_sparse_export(orders_only):
    frame = HighPerformer().build_features(orders_only, as_of=AS_OF).set_index("employee_id")
    assert frame.loc["IDLE1", "state"] == "no_activity"
    assert frame.loc["NEW1", "state"] == "scored"  # ten weeks of window with one deal in it
    assert np.isnan(frame.loc["NEW1", "visits_per_week"]) or frame.loc["NEW1", "visits_per_week"] == 0
