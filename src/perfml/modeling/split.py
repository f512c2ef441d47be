"""Time-based train/test split with a gap: never random (a random split would train on the future).

Train rows happen before `cutoff` (and, when `known_at` is given, everything they use is known
before `cutoff`); test rows happen at or after `cutoff + gap`, with `gap` at least the label
horizon, so no label of a training row can see into the test period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from perfml.errors import PerfmlError


@dataclass(frozen=True)
class TimeSplit:
    """Boolean row masks for train and test, and the dates that define them."""

    cutoff: pd.Timestamp
    gap: pd.Timedelta
    train: np.ndarray
    test: np.ndarray

    @property
    def test_start(self) -> pd.Timestamp:
        """First instant a test row may have: `cutoff + gap`."""
        return self.cutoff + self.gap

    def summary(self) -> dict[str, str | int]:
        """Loggable description (dates as ISO strings, row counts)."""
        return {
            "split_cutoff": str(self.cutoff),
            "split_gap_days": self.gap.days,
            "split_test_start": str(self.test_start),
            "n_train": int(self.train.sum()),
            "n_test": int(self.test.sum()),
        }


def time_split(
    times: pd.Series,
    *,
    gap: pd.Timedelta | str,
    test_size: float = 0.3,
    cutoff: pd.Timestamp | str | None = None,
    known_at: pd.Series | None = None,
    labelled: pd.Series | np.ndarray | None = None,
) -> TimeSplit:
    """Split rows by `times`: train < cutoff, test >= cutoff + gap.

    Without `cutoff`, the test side starts at the (1 - test_size) quantile of the labelled rows'
    times (`labelled`: boolean mask; all rows when None or none labelled) and `cutoff = test_start - gap`.
    `known_at` (e.g. the moment a row's features/label are complete) must also be < cutoff for
    a training row. Raises `PerfmlError` when either side would be empty.
    """
    times = pd.to_datetime(pd.Series(times)).reset_index(drop=True)
    gap = pd.Timedelta(gap)
    if gap < pd.Timedelta(0):
        raise ValueError("gap must be >= 0")
    mask = np.ones(len(times), bool) if labelled is None else np.asarray(labelled, bool)
    if not mask.any():  # nothing labelled (unsupervised): split on all rows
        mask = np.ones(len(times), bool)
    if cutoff is None:
        pool = times[mask & times.notna().to_numpy()]
        if pool.empty:
            raise PerfmlError("time split: no dated rows to split")
        # pandas-stubs types Series.quantile for numbers only; on datetimes it returns a Timestamp
        test_start = pd.Timestamp(pool.quantile(1.0 - test_size, interpolation="lower"))  # type: ignore[misc, arg-type]
        cutoff = test_start - gap
    cutoff = pd.Timestamp(cutoff)
    t = times.to_numpy()
    train = (t < cutoff.to_datetime64()) & times.notna().to_numpy()
    if known_at is not None:
        known = pd.to_datetime(pd.Series(known_at)).reset_index(drop=True)
        train &= (known.to_numpy() < cutoff.to_datetime64()) & known.notna().to_numpy()
    test = (t >= (cutoff + gap).to_datetime64()) & times.notna().to_numpy()
    if not train.any() or not test.any():
        raise PerfmlError(
            f"time split at {cutoff} (gap {gap.days} days) leaves "
            f"{int(train.sum())} train and {int(test.sum())} test rows; need history on both sides"
        )
    return TimeSplit(cutoff=cutoff, gap=gap, train=train, test=test)
