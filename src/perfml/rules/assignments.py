"""Plan assignments: which plan pays whom on which days (`plan_assignments`, effective_to inclusive).

With no rows the table decides nothing and segments select people as today. With rows, a plan
pays an employee only for the days they are assigned to it; a mid-period change splits the
period by days between the two plans. Overlaps are refused when the data is validated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY = np.timedelta64(1, "D")


def day_numbers(stamps: pd.Series, open_end: int) -> np.ndarray:
    """Dates as whole days since 1970-01-01 (int64); a missing date is `open_end`."""
    days = stamps.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    out = days.astype("int64")
    out[np.isnat(days)] = open_end
    return out


def assigned_days(
    employee: pd.Series, lo: np.ndarray, hi: np.ndarray, assignments: pd.DataFrame, plan_id: str
) -> np.ndarray:
    """Days of [lo, hi] (day numbers, inclusive) each row's employee is assigned to `plan_id` (vectorised)."""
    mine = assignments[assignments["plan_id"] == plan_id]
    rows = pd.DataFrame({"row": np.arange(len(employee)), "employee_id": employee.to_numpy(), "lo": lo, "hi": hi})
    pairs = rows.merge(
        pd.DataFrame(
            {
                "employee_id": mine["employee_id"].to_numpy(),
                "from": day_numbers(mine["effective_from"], 0),
                "to": day_numbers(mine["effective_to"], np.iinfo("int64").max),
            }
        ),
        on="employee_id",
    )
    overlap = np.minimum(pairs["hi"], pairs["to"]) - np.maximum(pairs["lo"], pairs["from"]) + 1
    per_row = pd.Series(np.clip(overlap, 0, None)).groupby(pairs["row"].to_numpy()).sum()
    out = np.zeros(len(employee), dtype="int64")
    out[per_row.index.to_numpy()] = per_row.to_numpy()
    return out


def assignment_text(assignments: pd.DataFrame, employee_id: str, first: pd.Timestamp, last: pd.Timestamp) -> str:
    """The plans `employee_id` is assigned to between two dates, as text ('plan b (2024-06-16..open)')."""
    rows = assignments[
        (assignments["employee_id"] == employee_id)
        & (assignments["effective_from"] <= last)
        & (assignments["effective_to"].isna() | (assignments["effective_to"] >= first))
    ].sort_values("effective_from")
    starts = rows["effective_from"].dt.strftime("%Y-%m-%d").tolist()
    ends = rows["effective_to"].dt.strftime("%Y-%m-%d").fillna("open").tolist()
    parts = [f"plan {p} ({a}..{b})" for p, a, b in zip(rows["plan_id"].tolist(), starts, ends, strict=True)]
    return ", ".join(parts) or "no plan"
