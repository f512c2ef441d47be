"""Partitioned Parquet output for companies too big for memory, and the layout its readers share.

A company of `times` x a size preset is `times` independent divisions of the preset's size:
division 0 is exactly the company `simulate` writes for the seed, division d >= 1 the one for the
seed entropy (seed, d), its ids tagged `d-` after their prefix (`E3-0001`, `C3-000001`). The writer
builds and writes one division at a time, so its memory is that of one preset run whatever `times`.

Layout of a folder written by `write_partitioned`::

    layout.json                                   format, buckets, partition keys, divisions, rows
    <table>/<partition column>=NN/part-DDDD.parquet   bucket NN (00..BUCKETS-1) of division DDDD
    truth/<name>/part-DDDD.parquet                ground truth of division DDDD

Employee-keyed tables are split by `employee_bucket` (the bucket of their employee column, see
`PARTITIONS`), customer-keyed ones by `customer_bucket`; `transfer_labels` by the bucket of the
changed customer, so a change and its label share a bucket. `bucket_of` is the one definition of a
bucket. Columns are typed as `Dataset` types them (ids and text as strings, timestamps and dates as
naive-UTC timestamps, money as float64; integers as int64). `Dataset.load` reads such a folder.
"""

from __future__ import annotations

import gc
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from perfml.schema import ATTR_PREFIX, TABLES
from perfml.simulate.output import CHUNK_ROWS
from perfml.simulate.runner import Progress, build_world, preset_size
from perfml.simulate.tables import TABLE_FILES, activity_rows, small_tables, table_ids, truth_tables
from perfml.simulate.world import World

FORMAT = "perfml-partitioned-parquet"
LAYOUT_FILE = "layout.json"
BUCKETS = 32
EMPLOYEE_BUCKET = "employee_bucket"
CUSTOMER_BUCKET = "customer_bucket"
# table -> (partition column, the id column whose bucket it is). Orders and leads follow the
# employee credited/owning them: the metrics layer sums them per employee-period.
PARTITIONS: dict[str, tuple[str, str]] = {
    "employees": (EMPLOYEE_BUCKET, "employee_id"),
    "demographics": (EMPLOYEE_BUCKET, "employee_id"),
    "targets": (EMPLOYEE_BUCKET, "employee_id"),
    "activities": (EMPLOYEE_BUCKET, "employee_id"),
    "leads": (EMPLOYEE_BUCKET, "owner_id"),
    "orders": (EMPLOYEE_BUCKET, "employee_id"),
    "satisfaction": (EMPLOYEE_BUCKET, "employee_id"),
    "customers": (CUSTOMER_BUCKET, "customer_id"),
    "ownership_changes": (CUSTOMER_BUCKET, "customer_id"),
    "transfer_labels": (CUSTOMER_BUCKET, "customer_id"),  # of the labelled change (not a column of the table)
}
# Presets larger than one run: name -> (division preset, divisions).
MULTIPLES: dict[str, tuple[str, int]] = {"xlarge": ("large", 16)}


def bucket_of(ids, buckets: int = BUCKETS) -> np.ndarray:
    """Bucket (0..buckets-1) of each id: SipHash of its UTF-8 text (pandas' fixed key), the same on every machine."""
    values = np.asarray(pd.Series(ids, copy=False).astype(object))
    return (pd.util.hash_array(values, categorize=False) % np.uint64(buckets)).astype(np.int64)


def resolve_scale(scale: str, times: int) -> tuple[str, int]:
    """(division preset, divisions) of a preset name and a multiplier ('xlarge', 1 -> ('large', 16))."""
    if times < 1:
        raise ValueError(f"times must be at least 1, got {times}")
    preset, base = MULTIPLES.get(scale, (scale, 1))
    return preset, base * times


def division_seed(seed: int, division: int) -> int | list[int]:
    """Root entropy of a division's random streams: the seed itself for division 0, else (seed, division)."""
    return seed if division == 0 else [seed, division]


def write_partitioned(
    out: str | Path,
    *,
    seed: int = 0,
    scale: str = "large",
    times: int = 1,
    teams: int | None = None,
    months: int | None = None,
    start: str = "2024-11-01",
    buckets: int = BUCKETS,
    progress: Progress | None = None,
) -> dict:
    """Write `times` x `scale` (teams/months override the preset's) as partitioned Parquet into the
    new folder `out`, one division at a time; complete or not at all. Returns a summary with row counts."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not an empty folder; partitioned output needs a new one")
    preset, divisions = resolve_scale(scale, times)
    teams, months = preset_size(preset, teams, months)
    report = progress or (lambda stage, fraction: None)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        rows = dict.fromkeys(TABLE_FILES, 0)
        for d in range(divisions):
            report(f"division {d + 1}/{divisions}", d / divisions)
            world = build_world(
                division_seed(seed, d), scale=preset, teams=teams, months=months, start=start, progress=_quiet
            )
            for name, n in write_division(tmp, world, d, buckets).items():
                rows[name] += n
            del world
            gc.collect()  # free the division before building the next: memory stays one division's
        summary = {
            "format": FORMAT,
            "seed": seed,
            "scale": scale,
            "times": times,
            "division_scale": preset,
            "divisions": divisions,
            "teams_per_division": teams,
            "months": months,
            "start": start,
            "buckets": buckets,
            "partitions": {name: list(PARTITIONS[name]) for name in TABLE_FILES},
            "rows": rows,
        }
        (tmp / LAYOUT_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report("done", 1.0)
    return summary


def _quiet(stage: str, fraction: float) -> None:
    """Stage progress of a division is not shown: the writer reports per division."""


def write_division(root: Path, w: World, division: int, buckets: int = BUCKETS) -> dict[str, int]:
    """Write every table of one division into `root` (bucketed) and its truth; returns rows per table."""
    tag = "" if division == 0 else f"{division}-"
    ids = table_ids(w, tag)
    part = f"part-{division:04d}.parquet"
    tables = small_tables(w, ids)
    keys = {name: tables[name][PARTITIONS[name][1]] for name in tables if name != "transfer_labels"}
    keys["transfer_labels"] = ids["cust"][w.own.customer[w.audit.change]]
    rows = {}
    for name, columns in tables.items():
        rows[name] = _write_buckets(
            root / name, part, name, _slicer(columns), bucket_of(keys[name], buckets), PARTITIONS[name][0], buckets
        )
    employee_bucket = bucket_of(ids["emp"], buckets)[w.acts.employee]  # = bucket_of(activities.employee_id)
    rows["activities"] = _write_buckets(
        root / "activities", part, "activities", activity_rows(w, ids, tag), employee_bucket, EMPLOYEE_BUCKET, buckets
    )
    for name, columns in truth_tables(w, ids).items():
        (root / "truth" / name).mkdir(parents=True, exist_ok=True)
        pq.write_table(_arrow(None, columns), root / "truth" / name / part)
    return rows


def _slicer(columns: dict[str, np.ndarray]) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    return lambda idx: {name: values[idx] for name, values in columns.items()}


def _write_buckets(
    folder: Path,
    part: str,
    table: str,
    make_rows: Callable[[np.ndarray], dict[str, np.ndarray]],
    bucket: np.ndarray,
    column: str,
    buckets: int,
) -> int:
    """Write rows `make_rows(idx)` into `folder/<column>=NN/part` per bucket NN, at most CHUNK_ROWS at a time."""
    order = np.argsort(bucket, kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(buckets + 1))
    for b in range(buckets):
        idx = order[bounds[b] : bounds[b + 1]]
        if not len(idx):
            continue
        file = folder / f"{column}={b:02d}" / part
        file.parent.mkdir(parents=True, exist_ok=True)
        writer: pq.ParquetWriter | None = None
        try:
            for lo in range(0, len(idx), CHUNK_ROWS):
                chunk = _arrow(table, make_rows(idx[lo : lo + CHUNK_ROWS]))
                writer = writer or pq.ParquetWriter(file, chunk.schema)
                writer.write_table(chunk)
        finally:
            if writer is not None:
                writer.close()
    return len(bucket)


def _arrow(table: str | None, columns: dict[str, np.ndarray]) -> pa.Table:
    """Type the simulator's text columns as `Dataset` would (blank = missing); `table` None: truth, kept as text."""
    schema = TABLES[table] if table else None
    typed = {}
    for name, values in columns.items():
        col = schema.column(name) if schema else None
        typed[name] = _array(values, col.kind if col else "attr" if name.startswith(ATTR_PREFIX) else "text")
    return pa.table(typed)


def _array(values: np.ndarray, kind: str) -> pa.Array:
    if values.dtype.kind in "iufb":
        return pa.array(values)
    text = pa.array(values, type=pa.string())
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    if kind in ("timestamp", "date"):
        return text.cast(pa.timestamp("ns"))
    if kind in ("float", "int", "flag"):
        return text.cast(pa.float64())
    # attributes are numeric when every value is a number, as Dataset reads them
    if kind == "attr" and pc.all(pc.is_valid(text)).as_py():
        try:
            return text.cast(pa.float64())
        except pa.ArrowInvalid:
            return text
    return text


def read_layout(path: str | Path) -> dict:
    """The `layout.json` of a partitioned folder (ValueError naming the file when absent or not this format)."""
    file = Path(path) / LAYOUT_FILE
    if not file.is_file():
        raise ValueError(f"{file} not found: not a partitioned simulator folder")
    layout = json.loads(file.read_text(encoding="utf-8"))
    if layout.get("format") != FORMAT:
        raise ValueError(f"{file}: format must be {FORMAT!r}, got {layout.get('format')!r}")
    return layout


__all__ = [
    "BUCKETS",
    "CUSTOMER_BUCKET",
    "EMPLOYEE_BUCKET",
    "MULTIPLES",
    "PARTITIONS",
    "bucket_of",
    "division_seed",
    "read_layout",
    "resolve_scale",
    "write_partitioned",
]
