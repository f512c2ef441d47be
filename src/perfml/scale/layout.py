"""The partitioned Parquet layout the Dask engine reads, and the conversion of a normal export to it.

```
<root>/_perfml_layout.json              {"buckets": N, "untracked": [...], ...}
<root>/<table>/bucket=<kkkkk>/*.parquet one or more files per bucket (tables in BUCKETED)
<root>/<table>/*.parquet                the whole table (every other table, read by every task)
```

A row of a bucketed table belongs to the bucket of its employee's team: `team_buckets(team_id, N)`
(CRC-32 of the team id modulo N), the employee read from `BUCKETED[table]`. Whole teams share a
bucket because the metrics layer and the decline features compare an employee with the team
(team revenue, team medians): a bucket then holds every record those comparisons read. Files hold
the typed columns of `perfml.dataset.Dataset` (write them with `write_part`). A missing table
folder or bucket folder is an empty table or bucket.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from perfml.dataset import Dataset
from perfml.errors import PerfmlError
from perfml.schema import TABLES
from perfml.validation import empty_table

LAYOUT_FILE = "_perfml_layout.json"
BUCKETED: dict[str, str] = {  # table -> its employee column; the employee's team picks the bucket
    "activities": "employee_id",
    "orders": "employee_id",
    "leads": "owner_id",
    "targets": "employee_id",
    "metrics": "employee_id",
}
DEFAULT_BUCKETS = 16


def team_buckets(team_ids: pd.Series, buckets: int) -> np.ndarray:
    """The bucket (0..buckets-1) of each team id: CRC-32 of its UTF-8 text modulo `buckets`."""
    codes = pd.Series(team_ids).astype("string")
    return np.array([zlib.crc32(str(t).encode()) % buckets for t in codes], dtype="int64")


def employee_buckets(employees: pd.DataFrame, buckets: int) -> pd.Series:
    """employee_id -> bucket of the employee's team."""
    return pd.Series(
        team_buckets(employees["team_id"], buckets), index=employees["employee_id"].astype("string"), dtype="int64"
    )


def write_part(df: pd.DataFrame, root: Path, table: str, bucket: int | None = None, name: str = "part-0") -> Path:
    """Write one file of `table` (of `bucket` for a bucketed table) in the layout; returns its path."""
    if (bucket is None) == (table in BUCKETED):
        raise PerfmlError(f"{table}: {'a bucket' if table in BUCKETED else 'no bucket'} is needed in this layout")
    folder = Path(root) / table if bucket is None else Path(root) / table / f"bucket={bucket:05d}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.parquet"
    df.to_parquet(path, index=False)
    return path


def write_layout(
    root: Path, buckets: int, untracked: frozenset[str] | set[str] = frozenset(), about: dict | None = None
) -> None:
    """Write the layout file (last, so a folder without it is an unfinished conversion); `about`: more keys
    describing the folder (the simulator's run), which readers of the layout ignore."""
    layout = {**(about or {}), "buckets": buckets, "untracked": sorted(untracked)}
    (Path(root) / LAYOUT_FILE).write_text(json.dumps(layout, indent=2) + "\n")


def read_layout(root: Path) -> dict:
    """The layout file of a partitioned folder: {"buckets": N, "untracked": [...]}."""
    path = Path(root) / LAYOUT_FILE
    if not path.is_file():
        raise PerfmlError(f"{root}: not a partitioned Parquet folder ({LAYOUT_FILE} is missing)")
    layout = json.loads(path.read_text())
    if not isinstance(layout.get("buckets"), int) or layout["buckets"] < 1:
        raise PerfmlError(f"{path}: buckets must be a positive integer, got {layout.get('buckets')!r}")
    unknown = sorted(set(layout.get("untracked", [])) - set(TABLES))
    if unknown:
        raise PerfmlError(f"{path}: untracked names unknown tables: {', '.join(unknown)}")
    return layout


def is_partitioned(root: Path) -> bool:
    """Whether `root` is a partitioned Parquet folder (has the layout file)."""
    return (Path(root) / LAYOUT_FILE).is_file()


def partition(dataset: Dataset, out: Path, buckets: int = DEFAULT_BUCKETS) -> Path:
    """Write a validated dataset in the layout at `out` (complete or not at all)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        of = employee_buckets(dataset.employees, buckets)
        for name, rows in dataset.rows().items():
            df = dataset.table(name)
            if name not in BUCKETED:
                write_part(df, tmp, name)
                continue
            bucket = of.reindex(df[BUCKETED[name]].astype("string")).to_numpy()
            (tmp / name).mkdir()  # a supplied table stays supplied, even with no rows
            for k in range(buckets):
                if rows and (bucket == k).any():
                    write_part(df[bucket == k], tmp, name, k)
        write_layout(tmp, buckets, dataset.untracked)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def table_files(root: Path, table: str, buckets: list[int] | None = None) -> list[Path]:
    """The Parquet files of a table in the layout: whole, or those of `buckets` (bucketed tables), in read order."""
    root = Path(root)
    if table not in BUCKETED:
        return _files(root / table)
    folders = (
        [root / table / f"bucket={k:05d}" for k in buckets]
        if buckets is not None
        else sorted((root / table).glob("bucket=*"))
    )
    return [f for folder in folders for f in _files(folder)]


def read_table(
    root: Path, table: str, buckets: list[int] | None = None, columns: list[str] | None = None
) -> pd.DataFrame:
    """A table of the layout: whole, or the rows of `buckets` (bucketed tables), all columns or `columns`;
    typed empty when absent."""
    frames = [pd.read_parquet(f, columns=columns) for f in table_files(root, table, buckets)]
    out = concat_parts(frames, table)
    return out if columns is None else out[columns]


def concat_parts(frames: list[pd.DataFrame], table: str) -> pd.DataFrame:
    """Pieces of one table in order as one frame (typed empty without rows)."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_table(table)
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    out = pd.concat(frames, ignore_index=True)
    for col in frames[0].columns:  # files written apart have their own categories: categorical over the union
        first = frames[0][col].dtype
        if isinstance(first, pd.CategoricalDtype) and not isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(first.categories.dtype).astype("category")
    return out
