"""Time grid of a run: days and calendar months from the window start, and availability sampling.

All event times inside the simulator are int64 seconds since the window start; days are int
offsets (negative before the window, e.g. for hire dates). Converting to text happens only in
`output`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY = 86_400
HOUR = 3_600


@dataclass(frozen=True)
class Calendar:
    """Window of `months` calendar months starting on `start` (first day of a month)."""

    start: np.datetime64  # datetime64[D]
    months: int
    month_start: np.ndarray  # day offset of each month start, length months + 1
    day_month: np.ndarray  # month index of each day
    weekday: np.ndarray  # bool per day, Monday..Friday

    @classmethod
    def build(cls, start: str, months: int) -> Calendar:
        day0 = np.datetime64(start, "D")
        if day0.astype("datetime64[M]").astype("datetime64[D]") != day0:
            raise ValueError(f"start must be the first day of a month, got {start!r}")
        if months < 7:
            raise ValueError(f"months must be at least 7, got {months}")
        starts = (day0.astype("datetime64[M]") + np.arange(months + 1)).astype("datetime64[D]")
        month_start = (starts - day0).astype(np.int64)
        days = int(month_start[-1])
        day_month = np.repeat(np.arange(months), np.diff(month_start))
        # 1970-01-01 was a Thursday: (days since epoch + 3) % 7 gives Monday = 0.
        dow = (np.arange(days) + day0.astype(np.int64) + 3) % 7
        return cls(day0, months, month_start, day_month, dow < 5)

    @property
    def days(self) -> int:
        return int(self.month_start[-1])

    @property
    def end_seconds(self) -> int:
        return self.days * DAY

    def periods(self) -> np.ndarray:
        """'YYYY-MM' label of each month."""
        return np.datetime_as_string(self.start.astype("datetime64[M]") + np.arange(self.months), unit="M")

    def month_of_day(self, day: np.ndarray) -> np.ndarray:
        """Month index of day offsets (clipped into the window)."""
        return self.day_month[np.clip(day, 0, self.days - 1)]

    def next_weekday(self, day: np.ndarray) -> np.ndarray:
        """First weekday at or after each day offset (days past the window are returned as is)."""
        weekdays = np.flatnonzero(self.weekday)
        idx = np.searchsorted(weekdays, np.clip(day, 0, self.days))
        inside = (day >= 0) & (idx < len(weekdays))
        return np.where(inside, weekdays[np.minimum(idx, len(weekdays) - 1)], np.maximum(day, self.days))


class DaySampler:
    """Uniform sampling of days on which an employee is available (employed, at work, weekday).

    Built once from the employee x day availability mask; every activity and lead time is placed
    through it, which is what guarantees no activity outside employment or during leave.
    """

    def __init__(self, avail: np.ndarray):
        self.n_days = avail.shape[1]
        self.avail = avail
        # cum[i] = available days in the flattened mask before position i.
        self.cum = np.concatenate([[0], np.cumsum(avail.ravel(), dtype=np.int64)])

    def count(self, emp: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Available days of `emp` in [lo, hi) (bounds clipped to the window)."""
        base = emp.astype(np.int64) * self.n_days
        lo = np.clip(lo, 0, self.n_days)
        hi = np.clip(hi, 0, self.n_days)
        return np.where(hi > lo, self.cum[base + hi] - self.cum[base + lo], 0)

    def sample(self, emp: np.ndarray, lo: np.ndarray, hi: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A uniform available day of `emp` in [lo, hi) per row given uniforms `u`; -1 when none."""
        base = emp.astype(np.int64) * self.n_days
        lo = np.clip(lo, 0, self.n_days)
        hi = np.clip(hi, lo, self.n_days)
        first = self.cum[base + lo]
        n = self.cum[base + hi] - first
        k = np.minimum((u * n).astype(np.int64), np.maximum(n - 1, 0))
        idx = np.searchsorted(self.cum, first + k + 1, side="left") - 1
        return np.where(n > 0, idx - base, -1)

    def next_available(self, emp: np.ndarray, day: np.ndarray) -> np.ndarray:
        """First available day of `emp` at or after `day`; -1 if none inside the window."""
        return self.sample(emp, day, np.full_like(day, self.n_days), np.zeros(len(day)))

    def is_available(self, emp: np.ndarray, day: np.ndarray) -> np.ndarray:
        ok = (day >= 0) & (day < self.n_days)
        out = np.zeros(len(day), dtype=bool)
        out[ok] = self.avail[emp[ok], day[ok]]
        return out


def explode_by_month(
    cal: Calendar, t0: np.ndarray, t1: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split spans [t0, t1) (seconds) at month borders: (span index, month, lo, hi) per piece."""
    m0 = cal.month_of_day(t0 // DAY)
    m1 = cal.month_of_day((t1 - 1) // DAY)
    n = np.maximum(m1 - m0 + 1, 0)
    span = np.repeat(np.arange(len(t0)), n)
    month = m0[span] + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    lo = np.maximum(t0[span], cal.month_start[month] * DAY)
    hi = np.minimum(t1[span], cal.month_start[month + 1] * DAY)
    keep = hi > lo
    return span[keep], month[keep], lo[keep], hi[keep]


def business_seconds(rng: np.random.Generator, n: int, early_share: np.ndarray | float) -> np.ndarray:
    """Second-of-day for `n` contacts: 07:00-09:00 with prob `early_share`, else 09:00-18:30."""
    early = rng.random(n) < early_share
    start = np.where(early, 7 * HOUR, 9 * HOUR)
    span = np.where(early, 2 * HOUR, int(9.5 * HOUR))
    return (start + rng.random(n) * span).astype(np.int64)
