"""Text formatting and CSV writing: ids, ISO timestamps, fixed decimals, chunked large tables.

Everything that turns arrays into text lives here so determinism has one home: explicit string
formatting (no float repr), '\\n' line endings, and rows in a fixed order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from perfml.simulate.timeline import Calendar

CHUNK_ROWS = 500_000


def make_ids(prefix: str, n: int, min_width: int, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """'E0001'-style ids of rows lo..hi-1 (numbered from 1) out of n, zero-padded to a common width."""
    return ids_of(prefix, n, min_width, np.arange(lo, n if hi is None else hi, dtype=np.int64))


def ids_of(prefix: str, n: int, min_width: int, rows: np.ndarray) -> np.ndarray:
    """The `make_ids` ids of the given row numbers (0-based, in any order) out of n."""
    width = max(min_width, len(str(max(n, 1))))
    nums = np.asarray(rows, dtype=np.int64) + 1
    digits = np.empty((len(nums), width), dtype=np.uint8)
    for i in range(width - 1, -1, -1):
        digits[:, i] = 48 + nums % 10
        nums //= 10
    head = np.broadcast_to(np.frombuffer(prefix.encode(), dtype=np.uint8), (len(nums), len(prefix)))
    buf = np.ascontiguousarray(np.concatenate([head, digits], axis=1))
    return buf.view(f"S{len(prefix) + width}").ravel().astype(f"U{len(prefix) + width}").astype(object)


def lookup(ids: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """ids[idx] with '' where idx is -1."""
    table = np.append(ids, "").astype(object)
    return table[np.where(idx >= 0, idx, len(ids))]


def timestamps(cal: Calendar, seconds: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """ISO 8601 'YYYY-MM-DDTHH:MM:SS' for seconds since the window start; '' where not valid."""
    valid = np.ones(len(seconds), dtype=bool) if valid is None else valid
    base = cal.start.astype("datetime64[s]")
    text = np.datetime_as_string(base + np.where(valid, seconds, 0).astype("timedelta64[s]"), unit="s").astype(object)
    text[~valid] = ""
    return text


def dates(cal: Calendar, days: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    valid = np.ones(len(days), dtype=bool) if valid is None else valid
    text = np.datetime_as_string(cal.start + np.where(valid, days, 0).astype("timedelta64[D]"), unit="D").astype(object)
    text[~valid] = ""
    return text


def fixed(values: np.ndarray, decimals: int) -> np.ndarray:
    """Numbers as fixed-decimal text (money: 2)."""
    return np.char.mod(f"%.{decimals}f", np.asarray(values, dtype=np.float64)).astype(object)


def write_table(path: Path, columns: dict[str, np.ndarray]) -> int:
    """Write one table with pandas; returns the row count."""
    frame = pd.DataFrame({k: _column(v) for k, v in columns.items()})
    frame.to_csv(path, index=False, lineterminator="\n")
    return len(frame)


def write_chunked(path: Path, n: int, make_chunk, progress=None) -> int:
    """Write `n` rows produced by `make_chunk(rows) -> columns` in slices (bounded memory)."""
    for lo in range(0, max(n, 1), CHUNK_ROWS):
        hi = min(lo + CHUNK_ROWS, n)
        frame = pd.DataFrame({k: _column(v) for k, v in make_chunk(np.arange(lo, hi)).items()})
        frame.to_csv(path, index=False, header=lo == 0, mode="w" if lo == 0 else "a", lineterminator="\n")
        if progress is not None:
            progress(hi / max(n, 1))
    return n


def _column(values: np.ndarray) -> pd.Series:
    # Explicit object dtype: pandas neither re-formats our text nor converts it to Arrow strings
    # and back (which would double the write time of the big tables).
    return pd.Series(values) if values.dtype.kind in "iub" else pd.Series(values, dtype=object)
