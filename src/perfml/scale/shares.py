"""A bucket's share of the whole tables: the rows its decline and high-performer code reads, cut once per run.

Reading the whole tables in every bucket's task costs buckets x company: customers and ownership changes
grow with the company, and so does the work the metrics layer and the decline features do on them. One
task (`cut`) reads them once and gives each bucket the rows its employees' features read:

- ownership_changes: every change of a customer that some change hands to one of the bucket's employees
  (the accounts an employee owns end at the customer's next change, whoever receives it);
- satisfaction: the surveys of the bucket's employees, and the unattributed surveys of those customers
  (a survey without an employee counts for the customer's owner then: the receiver of one of its changes);
- customers: those of the changes and surveys kept; transfer_labels: those of the changes kept;
  demographics: those of the employees kept (neither pipeline reads these three);
- employees: the bucket's, and with `levels` one employee for each level of each categorical `attr_`
  column, whose one-hot columns span the company's levels (their own units are dropped after the features);
- any other whole table is not cut: the task reads it whole.

Rows keep the order of the files. The month spans of the cut tables' time columns (`SHARED_SPANS`) are
the whole tables', given to the slice with the bucketed tables' (`whole_spans`), since the metrics layer
reads the data's range through them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from perfml.scale.layout import employee_buckets, read_table
from perfml.scale.slices import month_firsts

CUT = ("employees", "ownership_changes", "satisfaction", "customers", "transfer_labels", "demographics")
SHARED_SPANS: tuple[tuple[str, str], ...] = (("satisfaction", "responded_at"), ("ownership_changes", "changed_at"))
# table, its key, and the (table, column)s whose rows kept for a bucket bring that key's rows along
FOLLOWERS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("customers", "customer_id", (("ownership_changes", "customer_id"), ("satisfaction", "customer_id"))),
    ("transfer_labels", "change_id", (("ownership_changes", "change_id"),)),
    ("demographics", "employee_id", (("employees", "employee_id"),)),
)


def whole_spans(root: Path) -> dict[tuple[str, str], pd.Series]:
    """Per `SHARED_SPANS` column of a present table, month index -> earliest timestamp in that month."""
    return {
        (table, col): month_firsts(read_table(root, table, columns=[col])[col])
        for table, col in SHARED_SPANS
        if (Path(root) / table).is_dir()
    }


def cut(root: Path, buckets: int, *, levels: bool) -> dict[int, dict[str, pd.DataFrame]]:
    """Bucket -> {table: its share of that whole table} for every bucket of a partitioned folder (module doc)."""
    root = Path(root)
    tables = {name: read_table(root, name) for name in CUT if (root / name).is_dir()}
    emp = tables["employees"]
    of = employee_buckets(emp, buckets)
    rows = {"employees": _employee_rows(emp, of, buckets, levels)}  # table -> (row, bucket) of its share
    held = pd.DataFrame({"key": pd.Series([], dtype="string"), "bucket": pd.Series([], dtype="int64")})
    if "ownership_changes" in tables:
        changes = tables["ownership_changes"]
        receivers = _located(of.reindex(changes["to_employee_id"].astype("string")).to_numpy())
        held = _keys(changes["customer_id"], receivers)  # (customer, bucket of one of its receivers)
        rows["ownership_changes"] = _keyed_rows(changes["customer_id"], held)
    if "satisfaction" in tables:
        sat = tables["satisfaction"]
        unattributed = sat["customer_id"].where(sat["employee_id"].isna())
        own = _located(of.reindex(sat["employee_id"].astype("string")).to_numpy())
        rows["satisfaction"] = pd.concat([own, _keyed_rows(unattributed, held)])
    for name, key, sources in FOLLOWERS:
        if name in tables:
            keys = [_keys(tables[t][col], rows[t]) for t, col in sources if t in rows]
            rows[name] = _keyed_rows(tables[name][key], pd.concat(keys)) if keys else _located(np.array([]))
    shares: dict[int, dict[str, pd.DataFrame]] = {k: {} for k in range(buckets)}
    for name, picked in rows.items():
        for k, frame in _split(tables[name], picked, buckets).items():
            shares[k][name] = frame
    return shares


def _employee_rows(emp: pd.DataFrame, of: pd.Series, buckets: int, levels: bool) -> pd.DataFrame:
    """(row, bucket) of each bucket's employees, and with `levels` each bucket's level keepers (module doc)."""
    own = _located(of.to_numpy())
    if not levels:
        return own
    keepers = np.zeros(len(emp), dtype=bool)
    for col in (c for c in emp.columns if c.startswith("attr_")):
        values = emp[col]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            continue  # a numeric attribute is the employee's own value, no company-wide levels
        text = values.dropna().astype(str)
        keepers[emp.index.get_indexer(text.index[~text.duplicated()])] = True
    first = np.flatnonzero(keepers)
    extra = pd.DataFrame({"row": np.tile(first, buckets), "bucket": np.repeat(np.arange(buckets), len(first))})
    return pd.concat([own, extra])


def _located(bucket: np.ndarray) -> pd.DataFrame:
    """(row, bucket) of each row with a bucket (NaN: none)."""
    bucket = np.asarray(bucket, dtype="float64")
    found = np.flatnonzero(~np.isnan(bucket))
    return pd.DataFrame({"row": found, "bucket": bucket[found].astype("int64")})


def _keys(values: pd.Series, picked: pd.DataFrame) -> pd.DataFrame:
    """(key, bucket): the `values` of the picked rows, with their buckets."""
    keys = values.astype("string").to_numpy()[picked["row"].to_numpy()]
    return pd.DataFrame({"key": keys, "bucket": picked["bucket"].to_numpy()}).dropna().drop_duplicates()


def _keyed_rows(keys: pd.Series, held: pd.DataFrame) -> pd.DataFrame:
    """(row, bucket) of each row whose key a bucket holds (`held`: key, bucket); a missing key: none."""
    left = pd.DataFrame({"key": keys.astype("string").to_numpy(), "row": np.arange(len(keys))}).dropna()
    return left.merge(held, on="key", how="inner")[["row", "bucket"]]


def _split(table: pd.DataFrame, picked: pd.DataFrame, buckets: int) -> dict[int, pd.DataFrame]:
    """Bucket -> the picked rows of `table` in file order (every bucket, empty when none)."""
    picked = picked.drop_duplicates().sort_values(["bucket", "row"], kind="stable")
    bounds = np.searchsorted(picked["bucket"].to_numpy(), np.arange(buckets + 1))
    rows = picked["row"].to_numpy()
    return {k: table.iloc[rows[bounds[k] : bounds[k + 1]]].reset_index(drop=True) for k in range(buckets)}
