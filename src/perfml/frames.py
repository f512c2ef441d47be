"""Small frame operations pandas does slowly on Arrow-backed string columns."""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def isin(values: pd.Series, allowed: pd.Series | Iterable[str]) -> np.ndarray:
    """`values.isin(allowed)` as a bool array (missing values: False).

    For string columns the membership test is hashed in Arrow: pandas builds a Python scalar per allowed
    value first (3.4 s against 0.1 s for 800,000 order ids).
    """
    if not isinstance(values.dtype, pd.StringDtype):
        return values.isin(allowed if isinstance(allowed, pd.Series) else list(allowed)).to_numpy(bool)
    column = pa.array(values.array)
    if isinstance(allowed, pd.Series):
        allowed_arr = pa.array(allowed.astype("string").array)
    else:
        allowed_arr = pa.array(list(allowed), type=pa.string())
    found = pc.is_in(column, value_set=allowed_arr.cast(column.type))
    return np.asarray(found.fill_null(False), dtype=bool)


def positions(values: pd.Series, within) -> np.ndarray:
    """Position of each value in `within` (unique strings), -1 where absent or missing; hashed in Arrow."""
    column = pa.array(values.astype("string").array)
    where = pc.index_in(column, value_set=pa.array(pd.array(within, dtype="string")).cast(column.type))
    return np.asarray(where.fill_null(-1), dtype="int64")


def lookup(keys: pd.Series, mapping: pd.Series) -> pd.Series:
    """`keys.map(mapping)` (missing where a key is not in `mapping`'s unique index), on `keys`' index.

    String keys are hashed in Arrow (pandas' `map` builds a Python dict-like index first: ~0.15 s per
    800,000 keys against ~0.03 s).
    """
    if not isinstance(keys.dtype, pd.StringDtype) or not len(mapping):
        return keys.map(mapping)
    where = positions(keys, mapping.index)
    found = where >= 0
    values = mapping.iloc[np.where(found, where, 0)].set_axis(keys.index)
    return values.where(found)


def strictly_increasing(values: pd.Series) -> bool:
    """Whether every value is greater than the one before (no missing values); compared in Arrow for strings."""
    if values.isna().any():
        return False
    column = pa.array(values.array) if isinstance(values.dtype, pd.StringDtype) else pa.array(values.to_numpy())
    return len(column) < 2 or bool(pc.all(pc.greater(column[1:], column[:-1])).as_py())


def column_bytes(column: pd.Series) -> Iterator[bytes]:
    """The content of a column as bytes, the same however it is chunked or sliced: which values are missing,
    then the values' bytes (numbers, datetimes in ns) or each string's length and the characters.

    Hashing these is several times faster than `pandas.util.hash_pandas_object` on Arrow strings (1.7 s
    for a company of 8,400 reps).
    """
    yield np.asarray(column.isna(), dtype=bool).tobytes()
    if isinstance(column.dtype, pd.StringDtype):
        arr = pa.array(column.array)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        arr = arr.fill_null("").cast(pa.large_string())
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
        yield np.diff(offsets).tobytes()
        if len(arr) and offsets[-1] > offsets[0]:
            yield memoryview(arr.buffers()[2])[offsets[0] : offsets[-1]].tobytes()
        return
    if pd.api.types.is_datetime64_any_dtype(column):
        column = column.astype("datetime64[ns]")
    values = column.to_numpy()
    yield values.tobytes() if values.dtype != object else "\x1f".join(map(str, values)).encode()


def release_freed_memory() -> None:
    """Hand memory freed by a large pass back to the operating system (glibc's `malloc_trim`; elsewhere a no-op).

    pandas' temporaries are freed when a pass ends, but glibc keeps the pages for reuse: without this a
    streaming run's resident memory stays at its largest pass's peak for the rest of the run.
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to trim
            pass
