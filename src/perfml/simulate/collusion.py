"""Which late-stage deals colluding reps park with their assistant, and when.

Decided against a first, collusion-free pass of the whole company. A colluding rep looks at his
won deals that he has worked for at least three weeks. He parks one with his partner assistant a
few days (1-25, mostly under a week) before it closes — more likely when she is short of her
revenue target for the month of the close, and timed for her period end: a deal closing in the
last eight days of a month is a prime candidate, and one due early next month is often pulled in
to close in the last days of this one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfml.simulate.leads import NEVER, Leads
from perfml.simulate.orders import Orders
from perfml.simulate.timeline import DAY, HOUR, Calendar, DaySampler
from perfml.simulate.workforce import SALES, Workforce

MIN_WORKED_DAYS = 18
PULL_IN_DAYS = 12  # a close due this early in a month can be pulled into the previous month
MONTH_END_DAYS = 8


@dataclass
class Collusion:
    lead: np.ndarray  # lead index
    time: np.ndarray  # hand-over time
    close: np.ndarray  # (possibly pulled-in) close time


def plan_collusion(wf: Workforce, leads: Leads, cal: Calendar, avail: DaySampler, orders: Orders, targets: np.ndarray,
                   rng: np.random.Generator) -> Collusion:
    """The collusive hand-overs, given the orders and targets of a collusion-free pass."""
    o = leads.owner
    idx = np.flatnonzero((wf.role[o] == SALES) & (wf.partner[o] >= 0) & leads.won & (leads.close < cal.end_seconds)
                         & (leads.close - leads.created >= MIN_WORKED_DAYS * DAY) & (leads.first_contact < NEVER))
    o, a = o[idx], wf.partner[o[idx]]
    close, timing = _timed_close(cal, rng, leads.close[idx], leads.created[idx])
    close_day = close // DAY
    gap = 1 + np.minimum(rng.geometric(0.22, len(idx)) - 1, 24)
    # the rep's last working day on or before (close - gap), looking back at most a week
    day = avail.sample(o, close_day - gap - 6, close_day - gap + 1, np.full(len(idx), 0.999999))
    t = day * DAY + rng.integers(9 * HOUR, 18 * HOUR, len(idx))
    ok = ((day >= 0) & (t > leads.first_contact[idx] + 7 * DAY) & avail.is_available(a, day)
          & (wf.term_day[a] >= close_day) & (wf.hand_day[a] > close_day))
    month = cal.month_of_day(close_day)
    target = targets[a, month]
    # the pair knows her pipeline: would she miss this month's target without the deal?
    short = orders.revenue(wf.n, cal)[a, month] < target
    prob = wf.collude_rate[o] * np.where(short, 1.0, 0.15) * timing
    take = np.flatnonzero(ok & (target > 0) & (rng.random(len(idx)) < prob))
    take = _enough_for_the_month(rng, a[take], month[take], take)
    return Collusion(idx[take], t[take], close[take])


def _enough_for_the_month(rng: np.random.Generator, assistant: np.ndarray, month: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Keep one to three deals per assistant and month: enough to get her over the line."""
    key = assistant.astype(np.int64) * 10_000 + month
    order = np.lexsort((rng.random(len(rows)), key))
    key, rows = key[order], rows[order]
    rank = np.arange(len(key)) - np.searchsorted(key, key, side="left")
    allowed = 1 + np.searchsorted([0.35, 0.75], rng.random(len(key)))
    return np.sort(rows[rank < allowed])


def _timed_close(cal: Calendar, rng: np.random.Generator, close: np.ndarray, created: np.ndarray):
    """Pull early-month closes into the last days of the previous month; weight by timing."""
    day = close // DAY
    month = cal.month_of_day(day)
    into_month = day - cal.month_start[month]
    days_left = cal.month_start[month + 1] - day
    pulled_day = cal.month_start[month] - 1 - rng.integers(0, 4, len(day))
    can_pull = (into_month < PULL_IN_DAYS) & (month > 0) & (pulled_day * DAY > created + MIN_WORKED_DAYS * DAY)
    pulled_day = np.where(cal.weekday[np.clip(pulled_day, 0, cal.days - 1)], pulled_day, pulled_day - 2)
    new_day = np.where(can_pull, pulled_day, day)
    timing = np.select([days_left <= MONTH_END_DAYS, can_pull], [1.0, 0.9], 0.6)
    return new_day * DAY + close % DAY, timing
