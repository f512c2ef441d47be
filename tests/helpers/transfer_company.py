"""A hand-made company of four people and two customers for the transfer-anomaly feature tests."""

from __future__ import annotations

import pandas as pd

from perfml.dataset import Dataset


def tiny_dataset(**override) -> Dataset:
    """r1 hands c1 (worked for two months) to assistant a1 four days before it orders; r2 (leaving)
    hands c2 to a1 with a reason, and a1 works it."""
    frames = {
        "employees": pd.DataFrame(
            {
                "employee_id": ["r1", "a1", "r2", "m1"],
                "role": ["sales", "assistant", "sales", "manager"],
                "team_id": ["T1", "T1", "T1", "T1"],
                "manager_id": ["m1", "m1", "m1", None],
                "hire_date": ["2023-01-01", "2023-06-01", "2023-01-01", "2022-01-01"],
                "termination_date": [None, None, "2024-03-20", None],
            }
        ),
        "customers": pd.DataFrame(
            {"customer_id": ["c1", "c2"], "created_at": ["2023-12-15T00:00:00", "2023-12-20T00:00:00"]}
        ),
        "ownership_changes": pd.DataFrame(
            {
                "change_id": ["ch0", "ch1", "ch2", "ch3"],
                "customer_id": ["c1", "c1", "c2", "c2"],
                "from_employee_id": [None, "r1", None, "r2"],
                "to_employee_id": ["r1", "a1", "r2", "a1"],
                "changed_at": [
                    "2024-01-01T00:00:00",
                    "2024-03-01T10:00:00",
                    "2024-01-01T00:00:00",
                    "2024-03-10T09:00:00",
                ],
                "reason": [None, None, None, "leaving the company"],
            }
        ),
        "activities": pd.DataFrame(
            {
                "activity_id": [f"x{i}" for i in range(7)],
                "employee_id": ["r1", "r1", "r1", "r1", "a1", "a1", "r2"],
                "customer_id": ["c1", "c1", "c1", "c1", "c1", "c2", "c2"],
                "type": ["call", "visit", "call", "email", "call", "visit", "call"],
                "occurred_at": [
                    "2024-01-05T00:00:00",
                    "2024-02-10T00:00:00",
                    "2024-02-25T00:00:00",
                    "2024-03-03T00:00:00",
                    "2024-03-10T00:00:00",
                    "2024-03-12T00:00:00",
                    "2024-02-01T00:00:00",
                ],
            }
        ),
        "leads": pd.DataFrame(
            {
                "lead_id": ["l1"],
                "customer_id": ["c1"],
                "owner_id": ["r1"],
                "created_at": ["2024-01-02T00:00:00"],
                "first_contact_at": ["2024-01-05T00:00:00"],
                "converted_at": ["2024-03-05T12:00:00"],
                "lost_at": [None],
            }
        ),
        "orders": pd.DataFrame(
            {
                "order_id": ["o1", "o2"],
                "customer_id": ["c1", "c1"],
                "employee_id": ["r1", "a1"],
                "closed_at": ["2024-01-20T00:00:00", "2024-03-05T12:00:00"],
                "amount": ["1000", "5000"],
                "order_type": ["new", "repeat"],
            }
        ),
        "targets": pd.DataFrame(
            {"employee_id": ["a1"], "period": ["2024-03"], "metric": ["revenue"], "target": ["10000"]}
        ),
        "satisfaction": pd.DataFrame({"survey_id": [], "customer_id": [], "responded_at": [], "score": []}),
        "transfer_labels": pd.DataFrame(
            {"change_id": ["ch1"], "is_anomalous": ["1"], "reviewed_at": ["2024-04-01T00:00:00"]}
        ),
    }
    frames.update(override)
    return Dataset.from_frames(frames)
