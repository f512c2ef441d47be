"""What the client of the Dask engine holds of a partitioned company: its `Outline`, whatever the scale.

The runner reads the dataset on the client only for row counts, the date range, the calendar months
with records (the evidence gate), the untracked tables, the fingerprint and the labels. An `Outline`
answers all of these without the bucketed tables' rows: the small tables (employees, customers,
ownership changes, audit labels...) are held whole, and each bucketed table with a time column is
held as its month digest, the earliest and the latest timestamp of each month, which has the same
first and last record and the same months as the table. Row counts come from the Parquet footers,
the fingerprint from the files' bytes; one small task per bucket reads those on the workers. Labels
that read bucketed tables are computed on the workers (`engine.DaskEngine.training_frame`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from distributed import Client

from perfml.dataset import Dataset
from perfml.errors import PerfmlError
from perfml.scale.layout import BUCKETED, concat_parts, read_layout, read_table, table_files
from perfml.schema import TABLES

DIGESTED = tuple(t for t in BUCKETED if TABLES[t].time_column)  # bucketed tables held as month digests


class Outline(Dataset):
    """A partitioned company on the client: small tables whole, bucketed tables as month digests (see
    the module doc); `rows()` and `fingerprint()` are the whole company's. Reading any other column of a
    bucketed table raises KeyError: its rows are on the workers."""

    def __init__(self, tables, rows: dict[str, int], fingerprint: str, source: str, untracked=()):
        super().__init__(tables, source=source, untracked=untracked)
        self._rows = rows
        self._fingerprint = fingerprint

    def rows(self) -> dict[str, int]:
        """Rows per supplied table (the whole company's)."""
        return dict(self._rows)

    def has(self, name: str) -> bool:
        return self._rows.get(name, 0) > 0

    def table(self, name: str) -> pd.DataFrame:
        if name in BUCKETED and name not in DIGESTED and name in self._rows:
            raise PerfmlError(f"{self.source}: the rows of {name} are on the workers, not in the client's outline")
        return super().table(name)

    def before(self, cutoff) -> Dataset:
        raise PerfmlError(f"{self.source}: the client holds an outline of the company; cut it on the workers")


def month_digest(stamps: pd.Series) -> pd.Series:
    """The earliest and the latest of `stamps` in each calendar month (NaT dropped), in time order."""
    stamps = stamps.dropna()
    month = stamps.dt.to_period("M")
    out = pd.concat([stamps.groupby(month).min(), stamps.groupby(month).max()])
    return out.drop_duplicates().sort_values().reset_index(drop=True).rename(str(stamps.name))


def _file_digest(files: list[Path]) -> tuple[int, str]:
    """(rows from the Parquet footers, sha256 of the files' bytes in order)."""
    h = hashlib.sha256()
    rows = 0
    for f in files:
        rows += pq.ParquetFile(f).metadata.num_rows
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return rows, h.hexdigest()


def bucket_outline(root: Path, bucket: int) -> dict[str, tuple[int, str, pd.Series | None]]:
    """Per bucketed table: (rows, sha256 of its files in this bucket, month digest of its time column)."""
    out: dict[str, tuple[int, str, pd.Series | None]] = {}
    for table in BUCKETED:
        rows, digest = _file_digest(table_files(root, table, [bucket]))
        col = TABLES[table].time_column
        months = month_digest(read_table(root, table, [bucket], columns=[col])[col]) if col and rows else None
        out[table] = (rows, digest, months)
    return out


def load_outline(client: Client, root: Path) -> Outline:
    """The `Outline` of a partitioned folder: small tables read here, one task per bucket for the rest."""
    root = Path(root)
    layout = read_layout(root)
    present = [name for name in TABLES if (root / name).is_dir()]
    parts = client.gather([client.submit(bucket_outline, root, k, pure=False) for k in range(layout["buckets"])])
    tables: dict[str, pd.DataFrame] = {}
    rows: dict[str, int] = {}
    h = hashlib.sha256()
    for name in present:
        h.update(name.encode())
        if name not in BUCKETED:
            tables[name] = read_table(root, name)
            rows[name] = len(tables[name])
            h.update(_file_digest(table_files(root, name))[1].encode())
            continue
        rows[name] = sum(p[name][0] for p in parts)
        for p in parts:
            h.update(p[name][1].encode())
        col = TABLES[name].time_column or ""
        if name not in DIGESTED:  # no time column: nothing on the client reads its rows
            continue
        digests = [p[name][2] for p in parts if p[name][2] is not None]
        stamps = month_digest(pd.concat(digests, ignore_index=True)) if digests else pd.Series(dtype="datetime64[ns]")
        tables[name] = concat_parts([stamps.to_frame(col)], name)
    return Outline(tables, rows, h.hexdigest(), source=str(root), untracked=layout.get("untracked", []))
