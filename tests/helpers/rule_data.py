"""Tiny hand-made datasets for the rule engine and metrics tests."""

from __future__ import annotations

import pandas as pd

from perfml.dataset import Dataset
from perfml.schema import TABLES


def make_dataset(**tables: list[dict]) -> Dataset:
    """A validated Dataset from lists of row dicts; tables not given are empty."""
    frames = {}
    for name, table in TABLES.items():
        rows = tables.get(name)
        if rows is None and table.optional:
            continue
        cols = list(table.names)
        frame = pd.DataFrame(rows or [], columns=None if rows else cols)
        frames[name] = frame.astype(str).replace({"None": "", "nan": ""}) if rows else frame.astype("string")
    return Dataset.from_frames(frames)
