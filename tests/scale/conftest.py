"""One local Dask cluster (2 worker processes, 1 thread each) and the small company partitioned, per session."""

from __future__ import annotations

import pytest

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
