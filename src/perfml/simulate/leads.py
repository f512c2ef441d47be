"""New-business leads: intake per employee-month, first contact, outcome, cycle length, deal size.

Outcomes are decided here, before any ownership change, from the *original* owner's traits and
effort in the month the lead arrived: a lead's fate is sealed by how it was worked early, which is
why revenue trails activity by one to three months for a decliner.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from perfml.simulate.config import Params
from perfml.simulate.timeline import DAY, HOUR, Calendar, DaySampler, business_seconds
from perfml.simulate.workforce import ASSISTANT, ROLES, SALES, Workforce

NEVER = np.int64(2**62)  # "did not happen inside the window"
SEGMENTS = ("smb", "mid", "enterprise")


@dataclass
class Leads:
    """One row per lead; every lead opens a new prospect customer."""

    owner: np.ndarray  # original owner (the lead's owner_id)
    team: np.ndarray
    month: np.ndarray  # creation month
    created: np.ndarray  # seconds
    first_contact: np.ndarray  # seconds or NEVER
    close: np.ndarray  # seconds of win or loss; may lie beyond the window (then the lead is open)
    won: np.ndarray
    segment: np.ndarray
    amount: np.ndarray  # order value if won
    engage: np.ndarray  # contact intensity of this lead

    @property
    def n(self) -> int:
        return len(self.owner)

    def with_close(self, idx: np.ndarray, close: np.ndarray) -> Leads:
        """A copy with some close times moved (colluders pulling deals into a month)."""
        new_close = self.close.copy()
        new_close[idx] = close
        return replace(self, close=new_close)


def generate_leads(
    wf: Workforce, cal: Calendar, p: Params, rng: np.random.Generator, intake: DaySampler, avail: DaySampler
) -> Leads:
    """Draw leads for every sales and assistant employee-month, then their first contact and fate."""
    owner, month = _intake(wf, cal, p, rng, intake)
    day = intake.sample(owner, cal.month_start[month], cal.month_start[month + 1], rng.random(len(owner)))
    keep = day >= 0
    owner, month, day = owner[keep], month[keep], day[keep]
    created = day * DAY + (8 * HOUR + rng.random(len(day)) * 10 * HOUR).astype(np.int64)
    first = _first_contact(wf, cal, rng, avail, owner, month, created)
    segment = rng.choice(3, size=len(owner), p=np.array(p.segment_probs)).astype(np.int8)
    won = _win(wf, rng, owner, month, segment, created, first)
    close = _close_time(cal, p, rng, segment, won, created, first)
    amount = _deal_size(wf, p, rng, owner, month, segment)
    engage = np.exp(rng.normal(0, 0.3, len(owner))) * np.array([1.0, 1.25, 1.6])[segment]
    order = np.lexsort((owner, created))
    return Leads(
        owner[order],
        wf.team[owner[order]],
        month[order],
        created[order],
        first[order],
        close[order],
        won[order],
        segment[order],
        amount[order],
        engage[order],
    )


def _intake(
    wf: Workforce, cal: Calendar, p: Params, rng: np.random.Generator, intake: DaySampler
) -> tuple[np.ndarray, np.ndarray]:
    """Lead counts per employee-month: inbound share scaled by demand, self-sourced share by effort."""
    rate = np.zeros(wf.n)
    rate[wf.role == SALES] = p.leads_per_month[ROLES[SALES]]
    rate[wf.role == ASSISTANT] = p.leads_per_month[ROLES[ASSISTANT]]
    emp, mon = np.meshgrid(np.arange(wf.n), np.arange(cal.months), indexing="ij")
    days = intake.count(emp.ravel(), cal.month_start[mon.ravel()], cal.month_start[mon.ravel() + 1]).reshape(emp.shape)
    lam = rate[:, None] * days / 21.0 * wf.demand[wf.team] ** 0.8 * (0.55 + 0.45 * wf.effort)
    counts = rng.poisson(lam).ravel()
    return np.repeat(emp.ravel(), counts), np.repeat(mon.ravel(), counts)


def _first_contact(
    wf: Workforce,
    cal: Calendar,
    rng: np.random.Generator,
    avail: DaySampler,
    owner: np.ndarray,
    month: np.ndarray,
    created: np.ndarray,
) -> np.ndarray:
    """First touch after a trait-driven delay, pushed into the owner's working hours and days."""
    slow = wf.decline[owner, month] ** -0.8  # disengaged reps answer later
    delay = wf.traits["response_hours"][owner] * slow * np.exp(rng.normal(0, 0.5, len(owner)))
    t = created + (delay * HOUR).astype(np.int64)
    day, sec = t // DAY, t % DAY
    late = sec >= 19 * HOUR
    day = np.where(late, day + 1, day)
    moved = late | (sec < 7 * HOUR)
    sec = np.where(moved, business_seconds(rng, len(t), wf.traits["early_share"][owner]), sec)
    ok = avail.is_available(owner, day)
    nxt = avail.next_available(owner, np.minimum(day, cal.days))
    sec = np.where(ok, sec, 8 * HOUR + (rng.random(len(t)) * 2 * HOUR).astype(np.int64))
    day = np.where(ok, day, nxt)
    return np.where(day >= 0, day * DAY + sec, NEVER)


def _win(
    wf: Workforce,
    rng: np.random.Generator,
    owner: np.ndarray,
    month: np.ndarray,
    segment: np.ndarray,
    created: np.ndarray,
    first: np.ndarray,
) -> np.ndarray:
    """Win probability: skill, effort, response speed, early contact, visits, demand, noise."""
    tr = wf.traits
    hours = np.where(first < NEVER, (first - created) / HOUR, 24 * 30)
    # the planted traits (fast follow-up, early-hour contact, visits) weigh as much as skill each
    logit = (
        -1.25
        + np.array([0.0, -0.15, -0.35])[segment]
        + 0.2 * wf.skill_now[owner, month]
        + 0.8 * np.log(wf.effort[owner, month])
        - 0.95 * (np.log(np.maximum(hours, 0.25)) - np.log(8.0))
        + 8.0 * (tr["early_share"][owner] - 0.18)
        + 5.0 * (tr["visit_rate"][owner] - 0.25)
        + 0.9 * np.log(wf.demand[wf.team[owner], month])
        + rng.normal(0, 0.5, len(owner))
    )
    return rng.random(len(owner)) < 1 / (1 + np.exp(-logit))


def _close_time(
    cal: Calendar,
    p: Params,
    rng: np.random.Generator,
    segment: np.ndarray,
    won: np.ndarray,
    created: np.ndarray,
    first: np.ndarray,
) -> np.ndarray:
    """Win or loss lands weeks later on a weekday; uncontacted leads stay open past the window."""
    median = np.array(p.cycle_days)[segment] * np.where(won, 1.0, 0.8)
    days = np.exp(np.log(median) + rng.normal(0, np.where(won, 0.45, 0.6)))
    t = np.maximum(created + (days * DAY).astype(np.int64), np.minimum(first, NEVER // 2) + 3 * DAY)
    day = cal.next_weekday(t // DAY)
    t = day * DAY + (9 * HOUR + rng.random(len(day)) * 9 * HOUR).astype(np.int64)
    return np.where(first < NEVER, t, NEVER)


def _deal_size(
    wf: Workforce, p: Params, rng: np.random.Generator, owner: np.ndarray, month: np.ndarray, segment: np.ndarray
) -> np.ndarray:
    # strong sellers (who visit and follow up) also win somewhat bigger deals
    mu = (
        np.log(np.array(p.deal_size)[segment])
        + 0.22 * np.clip(wf.strength[owner], -2.5, 2.5)
        + 0.25 * np.log(wf.demand[wf.team[owner], month])
    )
    return np.round(np.exp(mu + rng.normal(0, 0.4, len(owner))), 2)
