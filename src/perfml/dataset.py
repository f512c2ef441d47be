"""`Dataset`: the canonical tables of one company, typed and validated.

Load from a directory of CSV/Parquet files (`Dataset.load`), from in-memory frames
(`Dataset.from_frames`, used by HTTP ingest and tests) or from the store
(`perfml.store.read_dataset`). Frames are typed: ids and text as pandas strings, timestamps as
naive-UTC `datetime64[ns]`, money as float64 (exact `Decimal` for the rule engine via
`perfml.money.to_decimal`, which recovers the decimal text for amounts with at most 15
significant digits).

A dataset folder may hold a manifest, `dataset.yaml`, declaring the tables the company does
not track at all (`untracked: [activities, satisfaction]`). Such a table may be absent and
reads as a typed empty table; models leave out every feature read from it. That differs
from a tracked table with no rows for a person, which says "this person did nothing".
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml
from pandas._libs import NaTType

from perfml.errors import DataValidationError, Problem
from perfml.frames import column_bytes
from perfml.schema import MANIFEST, TABLES
from perfml.validation import empty_table, validate_tables

FORMATS = ("csv", "parquet")


def _read_file(path: Path) -> tuple[pd.DataFrame, int]:
    """Read one table file as text (CSV) or as stored (Parquet); return the frame and its first data row number.

    A folder is a partitioned Parquet table (the layout of `perfml.scale.layout`, which `perfml simulate
    --format partitioned-parquet` writes): its files in path order, without the `bucket=` folder names
    (a bucket is derived from the row's employee)."""
    if path.is_dir():
        return pd.read_parquet(path, partitioning=None), 1
    if path.suffix == ".csv":
        # Everything as text: parsing happens in validation, where a bad row can be named.
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""]), 2
    return pd.read_parquet(path), 1


def find_table_files(path: Path) -> tuple[dict[str, Path], list[Problem]]:
    """Map table name -> file or partitioned Parquet folder in a dataset directory (truth/, unknown files ignored)."""
    files: dict[str, Path] = {}
    problems: list[Problem] = []
    for name in TABLES:
        found = [path / f"{name}.{fmt}" for fmt in FORMATS if (path / f"{name}.{fmt}").is_file()]
        found += [path / name] if (path / name).is_dir() else []
        if len(found) > 1:
            problems.append(Problem(name, None, f"{' and '.join(f.name for f in found)} present; keep one"))
        elif found:
            files[name] = found[0]
    return files, problems


def read_manifest(path: Path) -> tuple[frozenset[str], list[Problem]]:
    """The tables `dataset.yaml` declares untracked (none without the file), and the manifest's own problems."""
    file = path / MANIFEST
    if not file.is_file():
        return frozenset(), []
    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        return frozenset(), [Problem(MANIFEST, None, "is not valid YAML", detail=" ".join(str(exc).split())[:200])]
    if doc is None:  # an empty file declares nothing
        return frozenset(), []
    if not isinstance(doc, dict):
        return frozenset(), [
            Problem(
                MANIFEST,
                None,
                "must be a mapping such as `untracked: [activities]`",
                detail=f"got {type(doc).__name__}",
            )
        ]
    problems = [Problem(MANIFEST, str(key), "unknown key (expected: untracked)") for key in doc if key != "untracked"]
    names = doc.get("untracked") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        problems.append(Problem(MANIFEST, "untracked", "must be a list of table names", detail=f"got {names!r}"[:200]))
        names = []
    return frozenset(names), problems


def write_manifest(path: Path, untracked: Iterable[str]) -> None:
    """Write `dataset.yaml` declaring `untracked` (nothing to write when every table is tracked)."""
    if untracked:
        (path / MANIFEST).write_text(
            yaml.safe_dump({"untracked": sorted(untracked)}, default_flow_style=None), encoding="utf-8"
        )


class Dataset:
    """The validated canonical tables; absent optional tables read as typed empty frames."""

    def __init__(self, tables: Mapping[str, pd.DataFrame], source: str = "frames", untracked: Iterable[str] = ()):
        self._tables = dict(tables)
        self._fingerprint: str | None = None  # tables are not changed after construction: hashed once
        self.source = source
        # Tables the company does not track at all ("not tracked" is not "zero"): models trained
        # on this dataset leave out every feature read from them.
        self.untracked: frozenset[str] = frozenset(untracked)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> Dataset:
        """Read and validate a directory of `<table>.csv|parquet` files (and its `dataset.yaml`, if any)."""
        path = Path(path)
        if not path.is_dir():
            raise DataValidationError([Problem("dataset", None, f"directory not found: {path}")])
        untracked, problems = read_manifest(path)
        files, found = find_table_files(path)
        problems += found
        raw, first_rows = {}, {}
        for name, file in files.items():
            try:
                raw[name], first_rows[name] = _read_file(file)
            except Exception as exc:  # unreadable file: report it with the others
                problems.append(Problem(name, None, f"cannot read {file.name}", detail=str(exc)[:200]))
        try:
            tables = validate_tables(raw, first_rows, untracked)
        except DataValidationError as err:  # one list: file and manifest problems, then the data's
            raise DataValidationError(problems + err.problems) from None
        if problems:
            raise DataValidationError(problems)
        return cls(tables, source=str(path), untracked=untracked)

    @classmethod
    def from_frames(
        cls,
        frames: Mapping[str, pd.DataFrame],
        first_row: int = 2,
        source: str = "frames",
        untracked: Iterable[str] = (),
    ) -> Dataset:
        """Validate raw or typed frames (e.g. from an HTTP batch); `first_row` numbers the first record."""
        untracked = frozenset(untracked)
        return cls(
            validate_tables(frames, {name: first_row for name in frames}, untracked), source=source, untracked=untracked
        )

    # -- access -------------------------------------------------------------------------
    def __getattr__(self, name: str) -> pd.DataFrame:
        if name.startswith("_") or name not in TABLES:
            raise AttributeError(name)
        return self.table(name)

    def table(self, name: str) -> pd.DataFrame:
        """The typed frame of a table (typed and empty when an optional table is absent)."""
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}")
        if name not in self._tables:
            return empty_table(name)  # not stored: reading must not change what `rows()` reports
        return self._tables[name]

    def has(self, name: str) -> bool:
        """Whether the table was supplied (even if it has zero rows)."""
        return name in self._tables and not self._tables[name].empty

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {name: self.table(name) for name in TABLES}

    def rows(self) -> dict[str, int]:
        """Rows per supplied table."""
        return {name: len(df) for name, df in self._tables.items()}

    def date_range(self) -> tuple[pd.Timestamp | NaTType, pd.Timestamp | NaTType]:
        """First and last event timestamp across the event tables (NaT, NaT without events)."""
        stamps = [
            self.table(n)[t.time_column]
            for n, t in TABLES.items()
            if t.time_column and n in self._tables and not self._tables[n].empty
        ]
        if not stamps:
            return pd.NaT, pd.NaT
        return min(s.min() for s in stamps), max(s.max() for s in stamps)

    def month_span(self, table: str, column: str) -> tuple[int, int] | None:
        """First and last month index (year * 12 + month - 1) of a timestamp or `YYYY-MM` column's values;
        None without values. The metrics layer reads data ranges only through this, so a slice of a
        company (`perfml.scale`) can answer with the whole company's range."""
        values = self.table(table)[column].dropna()
        if values.empty:
            return None
        if pd.api.types.is_datetime64_any_dtype(values):
            first, last = values.min(), values.max()
            return first.year * 12 + first.month - 1, last.year * 12 + last.month - 1
        first_label, last_label = str(values.min()), str(values.max())
        return int(first_label[:4]) * 12 + int(first_label[5:7]) - 1, int(last_label[:4]) * 12 + int(
            last_label[5:7]
        ) - 1

    def fingerprint(self) -> str:
        """Content hash of all supplied tables (sha256 hex), for run tracking (computed once)."""
        if self._fingerprint is None:
            self._fingerprint = self._content_hash()
        return self._fingerprint

    def _content_hash(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self._tables):
            df = self._tables[name]
            h.update(name.encode())
            h.update(",".join(map(str, df.columns)).encode())
            for column in df.columns:
                for part in column_bytes(df[column]):
                    h.update(part)
        return h.hexdigest()

    def before(self, cutoff) -> Dataset:
        """A copy with only records dated strictly before `cutoff` (for as-of checks and backtests)."""
        cutoff = pd.Timestamp(cutoff)
        out = {}
        for name, df in self._tables.items():
            col = TABLES[name].time_column
            out[name] = df[df[col] < cutoff].reset_index(drop=True) if col and name != "employees" else df
        return Dataset(out, source=f"{self.source}<{cutoff.date()}", untracked=self.untracked)

    # -- output -------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, format: Literal["csv", "parquet"] = "csv") -> Path:
        """Write every supplied table (and `dataset.yaml` when some are untracked); complete or not at all."""
        if format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            for name, df in self._tables.items():
                write_table(df, tmp / f"{name}.{format}")
            write_manifest(tmp, self.untracked)
            if path.exists():
                (path / MANIFEST).unlink(missing_ok=True)
                for name in TABLES:  # replace only our files; leave e.g. truth/ alone
                    for fmt in FORMATS:
                        (path / f"{name}.{fmt}").unlink(missing_ok=True)
                for file in tmp.iterdir():
                    file.replace(path / file.name)
                tmp.rmdir()
            else:
                tmp.rename(path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    def __repr__(self) -> str:
        return f"Dataset({self.source!r}, {self.rows()})"


def write_table(df: pd.DataFrame, file: Path) -> None:
    """Write one typed table in the contract's text conventions (ISO timestamps, plain numbers)."""
    if file.suffix == ".parquet":
        df.to_parquet(file, index=False)
        return
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%dT%H:%M:%S")
    out.to_csv(file, index=False)
