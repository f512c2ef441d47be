"""Dask for a company that does not fit one machine: the pandas nodes over a partitioned Parquet folder.

- `prepare(data_dir, home) -> Path`: a partitioned folder (`layout.py`) for `data_dir`: itself when it
  is one, else a cache under the home converted once from the CSV/Parquet export.
- `features(pipeline, parquet_dir, *, client, as_of=None) -> dask.dataframe.DataFrame`
- `train(pipeline, parquet_dir, *, client, home, register=True) -> TrainResult` (`.metrics`: test side)
- `score(pipeline, parquet_dir, *, client, model, as_of=None) -> pandas DataFrame` (as `score_pipeline`)
- `cluster(scheduler=None, *, workers=2, memory_limit="4GB")`: a client (local cluster when no address).
- `session(data_dir, home, scheduler=None)`: (engine, the company's `Outline`) for `perfml train|score
  --engine dask`.
- `load_dataset(parquet_dir) -> Dataset`: the whole company in this process (the pandas path's input).

The client holds the company's `outline.Outline` (small tables, month digests, row counts), never the
records of the bucketed tables: its memory does not grow with the activities.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dask.dataframe as dd
import pandas as pd
from distributed import Client

from perfml.dataset import Dataset
from perfml.home import Home
from perfml.modeling.model import TrainedModel
from perfml.pipelines import get_pipeline
from perfml.pipelines.run import TrainResult, train_pipeline
from perfml.scale.engine import DaskEngine, cluster, load_dataset
from perfml.scale.layout import is_partitioned, partition
from perfml.scale.outline import Outline

__all__ = ["DaskEngine", "Outline", "cluster", "features", "load_dataset", "prepare", "score", "session", "train"]


def prepare(data_dir: Path, home: Home) -> Path:
    """`data_dir` when it is a partitioned folder, else its partitioned copy under the home (made once
    per version of the export's files: names, sizes and modification times)."""
    data_dir = Path(data_dir)
    if is_partitioned(data_dir):
        return data_dir
    h = hashlib.sha256(str(data_dir.resolve()).encode())
    for f in sorted(p for p in data_dir.iterdir() if p.is_file()):
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    out = home.settings.home_dir / "partitioned" / h.hexdigest()[:16]
    return out if is_partitioned(out) else partition(Dataset.load(data_dir), out)


def features(pipeline: str, parquet_dir: Path, *, client: Client, as_of=None) -> dd.DataFrame:
    """The feature frame of `pipeline` over a partitioned folder, as a Dask DataFrame."""
    as_of = None if as_of is None else pd.Timestamp(as_of)
    return DaskEngine(client, parquet_dir).features(get_pipeline(pipeline), as_of)


def train(
    pipeline: str, parquet_dir: Path, *, client: Client, home: Home | None = None, register: bool = True
) -> TrainResult:
    """`train_pipeline` with features, labels and boosting on the cluster (the gate from the company's outline)."""
    engine = DaskEngine(client, parquet_dir)
    return train_pipeline(get_pipeline(pipeline), engine.outline(), home=home, register=register, engine=engine)


def score(pipeline: str, parquet_dir: Path, *, client: Client, model: TrainedModel | None, as_of=None) -> pd.DataFrame:
    """`score_pipeline` on the cluster: the pipeline's output columns, `source`, `state`, `state_reason`."""
    as_of = None if as_of is None else pd.Timestamp(as_of)
    engine = DaskEngine(client, parquet_dir)
    return engine.score(get_pipeline(pipeline), engine.outline(), model=model, as_of=as_of, top_k=3, lang="en")


@contextmanager
def session(data_dir: Path, home: Home, scheduler: str | None = None) -> Iterator[tuple[DaskEngine, Outline]]:
    """(engine, the company's outline) for `data_dir`: on the cluster at `scheduler`, else the home's
    `dask_scheduler`, else a local cluster sized by `dask_workers` and `dask_worker_memory` (closed on exit)."""
    root = prepare(data_dir, home)
    s = home.settings
    with cluster(scheduler or s.dask_scheduler, workers=s.dask_workers, memory_limit=s.dask_worker_memory) as client:
        engine = DaskEngine(client, root)
        yield engine, engine.outline()
