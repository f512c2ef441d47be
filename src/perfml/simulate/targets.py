"""Monthly targets of reps and assistants: revenue, new customers and visits.

Revenue targets follow company practice: a role norm (what a full-month colleague of that role
books, with the known seasonality) for anyone in the first year of tenure, ramping up over the
first six months; veterans get 70% norm, 30% their own trailing six-month revenue (their
pre-window record stands in until six months are seen). Assistants carry revenue targets too —
which is what tempts the collusion. Counts (new customers, visits) follow role norms and the ramp.
"""

from __future__ import annotations

import numpy as np

from perfml.simulate.config import Params
from perfml.simulate.timeline import Calendar
from perfml.simulate.workforce import ASSISTANT, SALES, Workforce

METRICS = ("revenue", "new_customers", "visits")


def employed_share(wf: Workforce, cal: Calendar) -> np.ndarray:
    """Share of each month's days an employee is on the payroll (E x M)."""
    lo = np.clip(wf.hire_day[:, None], cal.month_start[None, :-1], cal.month_start[None, 1:])
    hi = np.clip(wf.term_day[:, None] + 1, cal.month_start[None, :-1], cal.month_start[None, 1:])
    return np.maximum(hi - lo, 0) / np.diff(cal.month_start)[None, :]


def tenure_months(wf: Workforce, cal: Calendar) -> np.ndarray:
    return np.floor((cal.month_start[None, :-1] - wf.hire_day[:, None]) / 30.44)


def _ramp(tenure: np.ndarray) -> np.ndarray:
    return np.clip(0.3 + 0.7 * (tenure + 1) / 6, 0.3, 1.0)


def _role_norm(values: np.ndarray, wf: Workforce, share: np.ndarray, tenure: np.ndarray, role: int) -> float:
    full = (share == 1) & (tenure >= 12) & (wf.role[:, None] == role)
    return float(values[full].mean()) if full.any() else float(values[wf.role == role].mean() + 1)


# Revenue norms are set a little under the mean month: monthly revenue is right-skewed, and a
# company wants a typical colleague to land near 80-100% of target, not at 65%.
REVENUE_NORM_FACTOR = 0.85
# Weight of a veteran's own trailing six months in the target (the rest is the role norm): kept
# low, so a strong seller keeps beating target and a weak one keeps missing it.
OWN_HISTORY = 0.3


def revenue_targets(
    wf: Workforce, cal: Calendar, p: Params, revenue: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Revenue target per employee-month (0 where no target applies), rounded to 100."""
    share, tenure = employed_share(wf, cal), tenure_months(wf, cal)
    months = (cal.start.astype("datetime64[M]") + np.arange(cal.months)).astype(int) % 12
    season = np.array(p.season)[months] / np.mean(p.season)
    norm = np.zeros(wf.n)
    for role in (SALES, ASSISTANT):
        norm[wf.role == role] = REVENUE_NORM_FACTOR * _role_norm(revenue / season, wf, share, tenure, role)
    prior = np.exp(0.25 * wf.traits["skill"] + rng.normal(0, 0.15, wf.n))  # the pre-window record
    trailing = _trailing_mean(revenue / season, share)
    level = np.where(
        np.isnan(trailing), prior[:, None], 1 - OWN_HISTORY + OWN_HISTORY * trailing / np.maximum(norm[:, None], 1)
    )
    level = np.where(tenure < 12, _ramp(tenure), level * 1.05)
    target = norm[:, None] * level * season[None, :] * np.exp(rng.normal(0, 0.08, share.shape)) * share
    has = (share > 0) & np.isin(wf.role, (SALES, ASSISTANT))[:, None]
    return np.where(has, np.maximum(np.round(target, -2), 100.0), 0.0)


def _trailing_mean(values: np.ndarray, share: np.ndarray, window: int = 6) -> np.ndarray:
    """Mean over the previous `window` fully employed months; NaN until three such months exist."""
    full = share == 1
    v = np.where(full, values, 0.0)
    cs = np.concatenate([np.zeros((len(v), 1)), np.cumsum(v, axis=1)], axis=1)
    cn = np.concatenate([np.zeros((len(v), 1)), np.cumsum(full, axis=1)], axis=1)
    m = np.arange(v.shape[1])
    lo = np.maximum(m - window, 0)
    total, count = cs[:, m] - cs[:, lo], cn[:, m] - cn[:, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= 3, total / count, np.nan)


def count_targets(wf: Workforce, cal: Calendar, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Integer targets for a count metric from role norms, the tenure ramp and the employed share."""
    share, tenure = employed_share(wf, cal), tenure_months(wf, cal)
    norm = np.zeros(wf.n)
    for role in (SALES, ASSISTANT):
        norm[wf.role == role] = _role_norm(values, wf, share, tenure, role)
    target = norm[:, None] * _ramp(tenure) * share * np.exp(rng.normal(0, 0.1, share.shape)) * 1.05
    has = (share > 0) & np.isin(wf.role, (SALES, ASSISTANT))[:, None]
    return np.where(has, np.round(target), -1)
