"""The optional qualifier -> closer funnel (`simulate(..., funnel=True)`, `perfml simulate --funnel`).

Modelled on a real B2B marketplace's export (92% of its hand-overs followed by the won deal, 64%
within 14 days). In every team some reps who are not part of a collusive scheme become
qualifiers (job function SDR) and some become closers (AE; the CRM's coarse `role` records them
with the assistants, who also take over others' deals). A qualifier works each of his leads for
weeks and hands almost only those that will be won to a closer of his team, a few days to two
weeks before the close (~2/3 within 14 days), and stops working it; the closer logs little before
the order (one call or meeting half the time, rarely more) and pushes deals due early next month
to sign by this month's end. By design, that is the "ripe deal parked with an assistant just
before it closes" look; only the company's declared flow (SDR -> AE before the first order) says
it is the process.

Everything here draws from the run's own `funnel` stream, and nothing in the default company
reads it: without the option the output is byte-identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfml.simulate.leads import NEVER, Leads
from perfml.simulate.timeline import DAY, HOUR, Calendar, DaySampler
from perfml.simulate.workforce import ASSISTANT, MANAGER, ROLES, SALES, Workforce

QUALIFIER_SHARE = 0.3  # of a team's non-colluding reps
CLOSER_SHARE = 0.25
LOST_HANDED = 0.05  # a qualifier passes on almost only the deals that will be won
GAP_DAYS = (2, 11.0, 45)  # days from hand-over to close: minimum + exponential(mean), capped (~2/3 within 14)
CLOSER_CONTACTS = 0.2  # mean contacts a closer logs on a lead before its close (besides the one call)
CLOSER_CALL = 0.5  # share of hand-overs the closer opens with a call or meeting before the close
PUSH_DAYS, PUSH_SHARE = 10, 0.6  # closes due this early in a month are often pulled into the previous one
# What the CRM's job_function column says in a funnel company.
SDR, AE, AM, MANAGER_FUNCTION = "SDR", "AE", "AM", "manager"


@dataclass(frozen=True)
class Funnel:
    qualifier: np.ndarray  # bool per employee
    closer: np.ndarray  # bool per employee
    seed: np.random.SeedSequence  # of the hand-over draws (a generator per pass: both draw the same)
    push_seed: np.random.SeedSequence  # of the closers' month-end push


def plan_funnel(wf: Workforce, seed: np.random.SeedSequence) -> Funnel:
    """Pick each team's qualifiers and closers among the reps outside any collusive scheme."""
    picks, times, push = seed.spawn(3)
    rng = np.random.default_rng(picks)
    qualifier = np.zeros(wf.n, dtype=bool)
    closer = np.zeros(wf.n, dtype=bool)
    for t in range(len(wf.team_region)):
        reps = np.flatnonzero((wf.team == t) & (wf.role == SALES) & (wf.partner < 0))
        if len(reps) < 2:
            continue
        reps = rng.permutation(reps)
        n_q = max(1, int(round(QUALIFIER_SHARE * len(reps))))
        n_c = max(1, int(round(CLOSER_SHARE * len(reps))))
        qualifier[reps[:n_q]] = True
        closer[reps[n_q : n_q + n_c]] = True
    return Funnel(qualifier, closer, times, push)


def job_functions(wf: Workforce, funnel: Funnel) -> np.ndarray:
    """`employees.job_function`: SDR for qualifiers, AE for the other reps, AM for assistants."""
    out = np.where(wf.role == ASSISTANT, AM, np.where(wf.role == MANAGER, MANAGER_FUNCTION, AE)).astype(object)
    out[funnel.qualifier] = SDR
    return out


def crm_roles(wf: Workforce, funnel: Funnel) -> np.ndarray:
    """`employees.role` as the CRM records it: the closers sit with the assistants."""
    out = np.array(ROLES, dtype=object)[wf.role]
    out[funnel.closer] = "assistant"
    return out


def push_to_month_end(funnel: Funnel, leads: Leads, cal: Calendar) -> Leads:
    """Closers sign by the month end: a won qualifier lead due in the first PUSH_DAYS days of a month
    closes instead, with probability PUSH_SHARE, in the last working days of the month before."""
    rng = np.random.default_rng(funnel.push_seed)
    u = rng.random((leads.n, 2))
    day = leads.close // DAY
    month = cal.month_of_day(np.clip(day, 0, cal.days - 1))
    pulled = cal.month_start[month] - 1 - (u[:, 0] * 3).astype(np.int64)
    pulled = np.where(cal.weekday[np.clip(pulled, 0, cal.days - 1)], pulled, pulled - 2)
    push = (
        funnel.qualifier[leads.owner]
        & leads.won
        & (day < cal.days)
        & (month > 0)
        & (u[:, 1] < PUSH_SHARE)
        & (day - cal.month_start[month] < PUSH_DAYS)
        & (pulled * DAY > leads.first_contact + 14 * DAY)
    )
    idx = np.flatnonzero(push)
    return leads.with_close(idx, pulled[idx] * DAY + leads.close[idx] % DAY)


def funnel_times(funnel: Funnel, leads: Leads, avail: DaySampler) -> np.ndarray:
    """When each qualifier's promising lead goes to a closer (seconds; NEVER for the others)."""
    rng = np.random.default_rng(funnel.seed)
    n, o = leads.n, leads.owner
    u = rng.random((n, 3))
    gap = GAP_DAYS[0] + np.minimum(-np.log1p(-u[:, 0]) * GAP_DAYS[1], GAP_DAYS[2] - GAP_DAYS[0])
    contacted = leads.first_contact < NEVER
    day = np.maximum(leads.close // DAY - gap.astype(np.int64), leads.first_contact // DAY + 2)
    # the qualifier's last working day on or before that day (looking back at most a week)
    day = avail.sample(o, day - 6, day + 1, np.full(n, 0.999999))
    t = day * DAY + (9 * HOUR + u[:, 1] * 9 * HOUR).astype(np.int64)
    promising = leads.won | (u[:, 2] < LOST_HANDED)
    ok = funnel.qualifier[o] & contacted & promising & (day >= 0) & (t < leads.close) & (t > leads.first_contact)
    return np.where(ok, t, NEVER)
