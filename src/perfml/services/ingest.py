"""Ingest use cases: a batch of records into the store (the API), a whole dataset (`perfml import`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from perfml.dataset import Dataset
from perfml.home import Home
from perfml.ingest import prepare_batch, write_batch
from perfml.serving.snapshot import DatasetCache
from perfml.store import import_dataset as import_into


def ingest_batch(
    *, home: Home, records: Mapping[str, Sequence[Mapping]], data: DatasetCache | None = None
) -> dict[str, int]:
    """Validate a batch against the contract and the store, then upsert it in one transaction; rows per table.

    `DataValidationError` (nothing written) names table, record and field. `data`: the service's
    snapshot, which gets the committed rows as they are (no rebuild; readers never wait)."""
    typed = prepare_batch(records, home.engine)

    def write() -> dict[str, int]:
        return write_batch(typed, home.engine)

    return write() if data is None else data.update(write, typed)


def import_dataset(
    *, home: Home, dataset: Dataset, progress: Callable[[str, float], None] | None = None
) -> dict[str, int]:
    """Upsert every table of a validated dataset into the home's store (one transaction); rows per table."""
    return import_into(dataset, home.engine, progress=progress)


__all__ = ["import_dataset", "ingest_batch"]
