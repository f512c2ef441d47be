"""The shared core of the as-of invariance tests: what a builder must not see.

`perturb_after(ds, t, alter)` deletes about half of every dated table's records at or after `t`
(employees excepted: hire and exit dates are known ahead) and hands each table with its mask of
remaining late rows to `alter(name, frame, late)`, which changes what the pipeline under test would
read. Each pipeline's tests pass their own `alter`: the fields worth changing differ (the
high-performer one moves late activities to 07:00, which would leak across a mid-day cut-off
such as the transfer tests use).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from perfml.dataset import Dataset
from perfml.schema import TABLES

Alter = Callable[[str, pd.DataFrame, np.ndarray], pd.DataFrame]


def perturb_after(ds: Dataset, t: pd.Timestamp, alter: Alter, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    out = {}
    for name, df in ds.tables.items():
        if not ds.has(name):
            continue
        col = TABLES[name].time_column
        if col is None or name == "employees":
            out[name] = df
            continue
        late = (df[col] >= t).to_numpy()
        df = df[~(late & (rng.random(len(df)) < 0.5))].copy()
        out[name] = alter(name, df, (df[col] >= t).to_numpy()).reset_index(drop=True)
    return Dataset(out, source="perturbed")


def add_activity_noise_at(df: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    """Three extra activities dated exactly at `t` (strictly-before rules must ignore them)."""
    noise = df.head(3).copy()
    noise["activity_id"] = [f"noise{i}" for i in range(len(noise))]
    noise["occurred_at"] = t
    return pd.concat([df, noise], ignore_index=True)
