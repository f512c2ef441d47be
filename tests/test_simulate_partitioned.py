"""perfml.simulate.partitioned: the partitioned Parquet company equals the in-memory one, division by division."""

from __future__ import annotations

import re
import weakref
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from perfml.cli import app
from perfml.dataset import Dataset
from perfml.errors import DataValidationError
from perfml.scale import load_dataset
from perfml.scale.layout import BUCKETED, DEFAULT_BUCKETS, employee_buckets, read_layout
from perfml.schema import TABLES
from perfml.simulate import partitioned
from perfml.simulate.partitioned import division_seed, resolve_scale, write_partitioned
from perfml.simulate.runner import build_world
from perfml.simulate.tables import TABLE_FILES, write_all

TINY = {"scale": "small", "teams": 2, "months": 8}


def _sorted(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Rows by key; categorical HR attributes as text (a union of divisions has the union of categories)."""
    cats = {c: "string" for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)}
    return df.astype(cats).sort_values(list(TABLES[table].key)).reset_index(drop=True)


def _assert_same_tables(got: Dataset, want: Dataset) -> None:
    for name in TABLE_FILES:
        assert len(got.table(name)) > 0, name
        pd.testing.assert_frame_equal(_sorted(got.table(name), name), _sorted(want.table(name), name), obj=name)


def _tagged(df: pd.DataFrame, tag: str) -> pd.DataFrame:
    """Ids of an in-memory run as division `tag` writes them: the tag after the letters ('E0001' -> 'E1-0001')."""
    out = df.copy()
    for col in out.columns:
        if col.endswith("_id"):
            out[col] = out[col].str.replace(r"^([A-Z]+)", rf"\g<1>{tag}", regex=True)
    return out


def _in_memory(tmp: Path, seed, **size) -> Dataset:
    """The CSV company `simulate` writes for this root entropy, loaded."""
    world = build_world(seed, start="2024-11-01", progress=lambda s, f: None, **size)
    write_all(tmp, world, lambda f: None)
    return Dataset.load(tmp)


def test_one_division_is_the_in_memory_company(tmp_path, small_dataset, small_dir):
    summary = write_partitioned(tmp_path / "p", seed=7, scale="small")
    got = Dataset.load(tmp_path / "p")
    _assert_same_tables(got, small_dataset)
    assert summary["rows"] == {name: len(small_dataset.table(name)) for name in TABLE_FILES}
    truth = pq.read_table(tmp_path / "p" / "truth" / "transfers").to_pandas().fillna("")
    want = pd.read_csv(small_dir / "truth" / "transfers.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(truth.astype(str), want)


def test_each_division_is_an_in_memory_company_with_tagged_ids(tmp_path):
    write_partitioned(tmp_path / "p", seed=5, times=3, **TINY)
    got = Dataset.load(tmp_path / "p")
    size = {"scale": "small", "teams": 2, "months": 8}
    divisions = [_in_memory(tmp_path / f"mem{d}", division_seed(5, d), **size) for d in range(3)]
    for name in TABLE_FILES:
        key = TABLES[name].key[0]
        for d, want in enumerate(divisions):
            tag = f"{d}-" if d else ""
            prefix = re.match(r"[A-Z]+", str(want.table(name)[key].iloc[0])).group(0)
            mine = got.table(name)[got.table(name)[key].str.match(rf"^{prefix}{tag}\d+$")]
            pd.testing.assert_frame_equal(
                _sorted(mine, name), _sorted(_tagged(want.table(name), tag), name), obj=f"{name} division {d}"
            )
        assert len(got.table(name)) == sum(len(w.table(name)) for w in divisions)
    # the divisions are different companies, not copies
    assert divisions[1].activities["duration_minutes"].sum() != divisions[2].activities["duration_minutes"].sum()
    assert read_layout(tmp_path / "p")["divisions"] == 3


def test_rows_lie_in_the_bucket_of_their_employees_team(tmp_path):
    summary = write_partitioned(tmp_path / "p", seed=2, times=2, **TINY)
    assert summary["buckets"] == read_layout(tmp_path / "p")["buckets"] == 2 * DEFAULT_BUCKETS  # per division
    employees = Dataset.load(tmp_path / "p").employees
    of = employee_buckets(employees, summary["buckets"])
    assert of.nunique() > 1  # the two divisions' teams do not all share one bucket
    for name, column in BUCKETED.items():
        folders = sorted((tmp_path / "p" / name).glob("bucket=*")) if name in TABLE_FILES else []
        assert sum(len(pd.read_parquet(f)) for f in folders) == summary["rows"].get(name, 0), name
        for folder in folders:
            bucket = int(folder.name.removeprefix("bucket="))
            assert (of.reindex(pd.read_parquet(folder)[column]) == bucket).all(), (name, folder.name)
    for name in set(TABLE_FILES) - set(BUCKETED):  # every other table whole, one file per division
        assert sorted(f.name for f in (tmp_path / "p" / name).iterdir()) == ["part-0000.parquet", "part-0001.parquet"]


def test_the_dask_reader_reads_the_folder_as_dataset_does(tmp_path):
    write_partitioned(tmp_path / "p", seed=3, times=2, **TINY)
    loaded, read = Dataset.load(tmp_path / "p"), load_dataset(tmp_path / "p")
    assert read.rows() == loaded.rows() and len(loaded.activities) > 10_000
    for name in TABLE_FILES:
        got, want = read.table(name), loaded.table(name)
        # the divisions' HR categories are one categorical over both, as in Dataset.load
        assert [str(t) for t in got.dtypes] == [str(t) for t in want.dtypes], name
        pd.testing.assert_frame_equal(_sorted(got, name), _sorted(want, name), check_categorical=False, obj=name)


def test_one_division_in_memory_at_a_time(tmp_path, monkeypatch):
    alive: list[weakref.ref] = []
    held_when_building: list[int] = []

    def tracked(*args, **kwargs):
        held_when_building.append(sum(ref() is not None for ref in alive))
        world = build_world(*args, **kwargs)
        alive.append(weakref.ref(world))
        return world

    monkeypatch.setattr(partitioned, "build_world", tracked)
    monkeypatch.setattr(partitioned, "CHUNK_ROWS", 1_000)
    write_partitioned(tmp_path / "p", seed=1, times=4, **TINY)
    assert held_when_building == [0, 0, 0, 0]
    # activities go out in slices of at most CHUNK_ROWS rows (one file each)
    files = list((tmp_path / "p" / "activities").rglob("*.parquet"))
    sizes = [pq.ParquetFile(f).metadata.num_rows for f in files]
    assert max(sizes) == 1_000 and any(f.name == "part-0003-001.parquet" for f in files)
    assert sum(sizes) == read_layout(tmp_path / "p")["rows"]["activities"]


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    calls = []
    write_division = partitioned.write_division

    def failing(root, world, division, buckets):
        calls.append(division)
        if division == 1:
            raise OSError("disk full")
        return write_division(root, world, division, buckets)

    monkeypatch.setattr(partitioned, "write_division", failing)
    with pytest.raises(OSError, match="disk full"):
        write_partitioned(tmp_path / "p", seed=1, times=2, **TINY)
    assert calls == [0, 1] and list(tmp_path.iterdir()) == []


def test_refuses_a_used_folder_and_bad_sizes(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="not an empty folder"):
        write_partitioned(tmp_path / "p", seed=1, **TINY)
    assert [f.name for f in (tmp_path / "p").iterdir()] == ["keep.txt"]
    with pytest.raises(ValueError, match="times must be at least 1"):
        resolve_scale("large", 0)
    assert resolve_scale("xlarge", 1) == ("large", 16) and resolve_scale("large", 4) == ("large", 4)


def test_a_table_as_file_and_folder_is_refused(tmp_path):
    write_partitioned(tmp_path / "p", seed=1, **TINY)
    Dataset.load(tmp_path / "p").table("orders").to_csv(tmp_path / "p" / "orders.csv", index=False)
    with pytest.raises(DataValidationError, match="orders.csv and orders present; keep one"):
        Dataset.load(tmp_path / "p")


def test_cli_writes_partitioned_and_refuses_divisions_as_csv(tmp_path):
    runner = CliRunner()
    argv = ["simulate", "--out", str(tmp_path / "p"), "--scale", "small", "--teams", "2", "--months", "8"]
    done = runner.invoke(app, [*argv, "--times", "2", "--format", "partitioned-parquet"])
    assert done.exit_code == 0, done.output
    assert read_layout(tmp_path / "p")["divisions"] == 2
    refused = runner.invoke(app, ["simulate", "--out", str(tmp_path / "c"), "--scale", "small", "--times", "2"])
    assert refused.exit_code == 2 and "several divisions needs --format" in " ".join(refused.output.split())
    assert not (tmp_path / "c").exists()
