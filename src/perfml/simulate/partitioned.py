"""A company too big for memory, written division by division into the partitioned Parquet layout the
Dask engine reads (`perfml.scale.layout`), so `perfml train --engine dask --data <folder>` reads it as is.

A company of `times` x a size preset is `times` independent divisions of the preset's size:
division 0 is exactly the company `simulate` writes for the seed, division d >= 1 the one for the
seed entropy (seed, d), its ids tagged `d-` after their prefix (`E3-0001`, `C3-000001`). The writer
builds and writes one division at a time, so its memory is that of one preset run whatever `times`.

Each division adds its own files to the layout: `<table>/bucket=<kkkkk>/part-DDDD[-CCC].parquet` for a
bucketed table (rows of the teams in bucket k; activities in slices of at most CHUNK_ROWS rows, one
file each), `<table>/part-DDDD.parquet` for every other table, `truth/<name>/part-DDDD.parquet` for
the ground truth (as text). Columns are typed by the data contract's own parser, as `Dataset` types
them. The layout file, written last, also records the run (seed, sizes, divisions, rows per table).
"""

from __future__ import annotations

import gc
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from perfml.errors import DataValidationError
from perfml.scale.layout import BUCKETED, DEFAULT_BUCKETS, employee_buckets, write_layout, write_part
from perfml.schema import TABLES
from perfml.simulate.output import CHUNK_ROWS
from perfml.simulate.runner import Progress, build_world, preset_size
from perfml.simulate.tables import TABLE_FILES, activity_rows, small_tables, table_ids, truth_tables
from perfml.simulate.world import World
from perfml.validation import parse_table

# Presets larger than one run: name -> (division preset, divisions).
MULTIPLES: dict[str, tuple[str, int]] = {"xlarge": ("large", 16)}


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
    buckets: int | None = None,
    progress: Progress | None = None,
) -> dict:
    """Write `times` x `scale` (teams/months override the preset's) as partitioned Parquet into the new
    folder `out`, one division at a time; complete or not at all. `buckets` defaults to DEFAULT_BUCKETS
    per division, so a bucket (one Dask task) holds the same share of a division at every scale.
    Returns the layout file's content (with row counts per table)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not an empty folder; partitioned output needs a new one")
    preset, divisions = resolve_scale(scale, times)
    teams, months = preset_size(preset, teams, months)
    buckets = buckets or DEFAULT_BUCKETS * divisions
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
        run = {
            "seed": seed,
            "scale": scale,
            "times": times,
            "division_scale": preset,
            "divisions": divisions,
            "teams_per_division": teams,
            "months": months,
            "start": start,
            "rows": rows,
        }
        write_layout(tmp, buckets, about=run)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report("done", 1.0)
    return {"buckets": buckets, "untracked": [], **run}


def _quiet(stage: str, fraction: float) -> None:
    """Stage progress of a division is not shown: the writer reports per division."""


def write_division(root: Path, w: World, division: int, buckets: int) -> dict[str, int]:
    """Write every table of one division into the layout at `root`, and its truth; returns rows per table."""
    tag = "" if division == 0 else f"{division}-"
    ids = table_ids(w, tag)
    part = f"part-{division:04d}"
    tables = {name: _typed(name, columns) for name, columns in small_tables(w, ids).items()}
    of = employee_buckets(tables["employees"], buckets)
    for name, df in tables.items():
        if name not in BUCKETED:
            write_part(df, root, name, name=part)
            continue
        bucket = of.reindex(df[BUCKETED[name]]).to_numpy()
        for k in np.unique(bucket):
            write_part(df[bucket == k], root, name, int(k), name=part)
    rows = {name: len(df) for name, df in tables.items()}
    del tables
    activity_bucket = of.reindex(pd.Series(ids["emp"], dtype="string")).to_numpy()[w.acts.employee]
    rows["activities"] = _write_activities(root, part, activity_rows(w, ids, tag), activity_bucket)
    for name, columns in truth_tables(w, ids).items():
        (root / "truth" / name).mkdir(parents=True, exist_ok=True)
        pd.DataFrame(columns).to_parquet(root / "truth" / name / f"{part}.parquet", index=False)
    return rows


def _write_activities(root: Path, part: str, make_rows, bucket: np.ndarray) -> int:
    """Write activities `make_rows(idx)` per bucket, at most CHUNK_ROWS rows per file (the division's
    activity table is never built whole)."""
    order = np.argsort(bucket, kind="stable")
    ordered = bucket[order]
    for k in np.unique(bucket):
        idx = order[np.searchsorted(ordered, k, "left") : np.searchsorted(ordered, k, "right")]
        for c, lo in enumerate(range(0, len(idx), CHUNK_ROWS)):
            chunk = _typed("activities", make_rows(idx[lo : lo + CHUNK_ROWS]))
            write_part(chunk, root, "activities", int(k), name=f"{part}-{c:03d}")
    return len(bucket)


def _typed(table: str, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The simulator's text columns typed by the contract's parser (as `Dataset` types them); a problem
    there is a simulator defect, raised rather than written."""
    df, problems = parse_table(TABLES[table], pd.DataFrame(columns))
    if problems:
        raise DataValidationError(problems)
    return df


__all__ = ["MULTIPLES", "division_seed", "resolve_scale", "write_division", "write_partitioned"]
