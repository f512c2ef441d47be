"""`Slice`: part of a partitioned company as a `Dataset` that answers company-wide questions like the whole.

The metrics layer reads data ranges only through `month_span`, and the transfer features read the data's
end only through `date_range`: a slice answers both with the whole company's values (given), so a
pipeline's own code on a slice gives the rows the whole company would.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perfml.dataset import Dataset
from perfml.metrics import period_codes, period_index
from perfml.schema import TABLES


def month_firsts(values: pd.Series) -> pd.Series:
    """A span column's month index -> earliest timestamp in that month (`YYYY-MM` periods: NaT)."""
    values = values.dropna()
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.groupby(period_index(values).astype("int64").to_numpy()).min()
    months = np.unique(period_codes(values.astype("string")).to_numpy(dtype="int64"))
    return pd.Series(pd.NaT, index=months, dtype="datetime64[ns]")


class Slice(Dataset):
    """Some rows of the company's tables (a bucket's rows, a share of a whole table), every other table
    whole, and the company's month spans and (when given) its first and last record."""

    def __init__(
        self,
        tables,
        spans: dict[tuple[str, str], pd.Series],
        source: str,
        untracked=(),
        dates: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    ):
        super().__init__(tables, source=source, untracked=untracked)
        self._spans = spans  # (table, column) -> month index -> earliest timestamp in that month
        self._dates = dates

    def date_range(self):
        return super().date_range() if self._dates is None else self._dates

    def month_span(self, table: str, column: str) -> tuple[int, int] | None:
        months = self._spans.get((table, column))
        if months is None:
            return super().month_span(table, column)
        return None if months.empty else (int(months.index.min()), int(months.index.max()))

    def before(self, cutoff) -> Slice:
        cutoff = pd.Timestamp(cutoff)
        cut = super().before(cutoff)
        # Dataset.before drops records at/after the cut-off by the table's time column: a month stays
        # in the span exactly when its earliest record is before the cut-off.
        spans = {(t, c): (s[s < cutoff] if TABLES[t].time_column == c else s) for (t, c), s in self._spans.items()}
        # the company's range before the cut-off is not known here (nothing reads it after a cut-off)
        return Slice(cut._tables, spans, source=cut.source, untracked=self.untracked)
