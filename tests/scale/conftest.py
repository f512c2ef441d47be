"""One local Dask cluster (2 worker processes, 1 thread each) and the small company partitioned, per session."""

from __future__ import annotations

import pytest

from perfml.pipelines.run import train_pipeline
from perfml.scale import cluster
from perfml.scale.layout import partition


@pytest.fixture(scope="session")
def dask_client():
    with cluster(workers=2, memory_limit="1GB") as client:
        yield client


@pytest.fixture(scope="session")
def small_parquet(small_dataset, tmp_path_factory):
    """The small simulated company in the partitioned layout, 4 buckets. Read-only."""
    return partition(small_dataset, tmp_path_factory.mktemp("scale") / "parts", buckets=4)


@pytest.fixture(scope="session")
def pandas_run(small_dataset):
    """name -> the pandas path's training run on the small company (unregistered), made once per name."""
    runs = {}

    def run(name: str):
        if name not in runs:
            runs[name] = train_pipeline(name, small_dataset, register=False)
        return runs[name]

    return run
