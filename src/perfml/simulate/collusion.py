"""Which late-stage deals colluding reps park with their assistant, and when.

Decided against a first, collusion-free pass of the whole company. A colluding rep looks at his
won deals that he has worked for at least 18 days and parks some with the team's colluding
assistant a few days (1-25, mostly under a week) before they close: mostly in months she would
otherwise miss her revenue target, one to three deals (enough to get her over the line), and
timed for her period end — a deal closing in the last eight days of a month is a prime
candidate, and one due early next month is often pulled in to close in the last days of this one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfml.simulate.leads import NEVER, Leads
from perfml.simulate.orders import Orders
from perfml.simulate.timeline import DAY, HOUR, Calendar, DaySampler
from perfml.simulate.workforce import ASSISTANT, SALES, Workforce

MIN_WORKED_DAYS = 18
PULL_IN_DAYS = 12  # a close due this early in a month can be pulled into the previous month
MONTH_END_DAYS = 8


@dataclass
class Collusion:
    lead: np.ndarray  # lead index
    time: np.ndarray  # hand-over time
    close: np.ndarray  # (possibly pulled-in) close time
    assistant: np.ndarray  # who receives the deal


def plan_collusion(
    wf: Workforce,
    leads: Leads,
    cal: Calendar,
    avail: DaySampler,
    orders: Orders,
    targets: np.ndarray,
    rng: np.random.Generator,
) -> Collusion:
    """The collusive hand-overs, given the orders and targets of a collusion-free pass."""
    o = leads.owner
    idx = np.flatnonzero(
        (wf.role[o] == SALES)
        & (wf.partner[o] >= 0)
        & leads.won
        & (leads.close < cal.end_seconds)
        & (leads.close - leads.created >= MIN_WORKED_DAYS * DAY)
        & (leads.first_contact < NEVER)
    )
    o = o[idx]
    close, timing = _timed_close(cal, rng, leads.close[idx], leads.created[idx])
    close_day = close // DAY
    gap = 1 + np.minimum(rng.geometric(0.22, len(idx)) - 1, 24)
    # the rep's last working day on or before (close - gap), looking back at most a week
    day = avail.sample(o, close_day - gap - 6, close_day - gap + 1, np.full(len(idx), 0.999999))
    t = day * DAY + rng.integers(9 * HOUR, 18 * HOUR, len(idx))
    a = _colluding_assistant(wf, wf.team[o], day, close_day)
    ok = (day >= 0) & (a >= 0) & (t > leads.first_contact[idx] + 7 * DAY)
    a = np.maximum(a, 0)
    month = cal.month_of_day(close_day)
    target = targets[a, month]
    # the pair knows her pipeline: would she miss this month's target without the deal?
    short = orders.revenue(wf.n, cal)[a, month] < target
    prob = wf.collude_rate[o] * np.where(short, 1.0, 0.12) * timing
    take = np.flatnonzero(ok & (target > 0) & (rng.random(len(idx)) < prob))
    take = _enough_for_the_month(rng, a[take], month[take], take)
    return Collusion(idx[take], t[take], close[take], a[take])


def _colluding_assistant(wf: Workforce, team: np.ndarray, day: np.ndarray, close_day: np.ndarray) -> np.ndarray:
    """The team's colluding assistant at work on the hand-over day and staying past the close; -1 if none."""
    colluding = (wf.role == ASSISTANT) & (wf.partner >= 0)
    members = [np.flatnonzero(colluding & (wf.team == t)) for t in range(len(wf.team_region))]
    table = np.full((len(members), max(1, max(len(m) for m in members))), -1)
    for t, m in enumerate(members):
        table[t, : len(m)] = m
    cand = table[team]
    c = np.maximum(cand, 0)
    d = np.clip(day, 0, wf.avail.shape[1] - 1)[:, None]
    ok = (
        (cand >= 0)
        & (day[:, None] >= 0)
        & wf.avail[c, d]
        & (wf.term_day[c] >= close_day[:, None])
        & (wf.hand_day[c] > close_day[:, None])
    )
    first = ok.argmax(axis=1)
    return np.where(ok.any(axis=1), cand[np.arange(len(team)), first], -1)


def _enough_for_the_month(
    rng: np.random.Generator, assistant: np.ndarray, month: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """Keep one to three deals per assistant and month: enough to get her over the line."""
    key = assistant.astype(np.int64) * 10_000 + month
    order = np.lexsort((rng.random(len(rows)), key))
    key, rows = key[order], rows[order]
    first = np.searchsorted(key, key, side="left")
    allowed = 1 + np.searchsorted([0.25, 0.65], rng.random(len(key)))[first]  # one draw per month
    return np.sort(rows[np.arange(len(key)) - first < allowed])


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
    timing = np.select([days_left <= MONTH_END_DAYS, can_pull], [1.0, 0.9], 0.45)
    return new_day * DAY + close % DAY, timing
