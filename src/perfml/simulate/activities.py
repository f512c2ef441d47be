"""Activities: first contacts, lead work, account maintenance, hand-over traces and background work.

Every activity is placed on a day the employee is at work (`DaySampler`), at an hour drawn from
their early-contact propensity; counts scale with the employee's monthly effort, so a decliner's
activity drops in the onset month. The receiver of a lead hand-over works it according to the
hand-over's mode: normally (workload, early leave cover), lightly (late leave/leaving cover, client
requests: often nothing before the close) or with at most one token touch (collusion).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfml.simulate.config import Params
from perfml.simulate.funnel import CLOSER_CALL, CLOSER_CONTACTS
from perfml.simulate.leads import NEVER, Leads
from perfml.simulate.ownership import (
    COLLUSIVE,
    FUNNEL,
    MAINT,
    MODE_LIGHT,
    MODE_NORMAL,
    MODE_TOKEN,
    REQUEST,
    Customers,
    Ownership,
)
from perfml.simulate.timeline import DAY, Calendar, DaySampler, business_seconds, explode_by_month
from perfml.simulate.workforce import ROLES, Workforce

TYPES = ("visit", "call", "email", "meeting", "message", "other")
VISIT, CALL, EMAIL, MEETING, MESSAGE, OTHER = range(len(TYPES))
DURATION_MEDIAN = np.array([45.0, 6.0, 4.0, 50.0, 2.0, 20.0])  # minutes, by type


@dataclass
class Activities:
    employee: np.ndarray
    time: np.ndarray
    customer: np.ndarray  # -1 = none
    lead: np.ndarray  # -1 = none
    type: np.ndarray
    duration: np.ndarray

    @property
    def n(self) -> int:
        return len(self.employee)


class _Batch:
    """Collects (employee, day span, count, customer, lead, type mix) requests, then places them."""

    def __init__(self) -> None:
        self.parts: list[tuple] = []

    def add(self, emp, lo, hi, count, customer, lead, mix):
        keep = count > 0
        self.parts.append((emp[keep], lo[keep], hi[keep], count[keep], customer[keep], lead[keep], mix))


def generate_activities(
    wf: Workforce,
    leads: Leads,
    cust: Customers,
    own: Ownership,
    cal: Calendar,
    p: Params,
    avail: DaySampler,
    rng: np.random.Generator,
) -> Activities:
    """All activities of the window, sorted by time then employee."""
    lead_cust = np.full(leads.n, -1)
    pros = np.flatnonzero(cust.lead >= 0)
    lead_cust[cust.lead[pros]] = pros
    batch = _Batch()
    _lead_work(batch, wf, leads, lead_cust, own, cal, p, avail, rng)
    _handover_traces(batch, wf, leads, cust, lead_cust, own, cal, rng)
    _maintenance(batch, wf, cust, own, cal, p, avail, rng)
    _background(batch, wf, cal, p, avail, rng)
    parts = [_place(batch, wf, avail, rng), _first_contacts(wf, leads, lead_cust, cal, rng)]
    cols = [np.concatenate([x[i] for x in parts]) for i in range(5)]
    emp, t, c, lead, typ = cols
    dur = np.maximum(1, np.round(DURATION_MEDIAN[typ] * np.exp(rng.normal(0, 0.5, len(typ))))).astype(np.int32)
    order = np.lexsort((dur, typ, lead, c, emp, t))
    # compact dtypes: the large preset holds several million activities in memory
    return Activities(
        emp[order].astype(np.int32),
        t[order],
        c[order].astype(np.int32),
        lead[order].astype(np.int32),
        typ[order],
        dur[order].astype(np.int16),
    )


def _lead_work(
    batch: _Batch, wf, leads: Leads, lead_cust, own: Ownership, cal: Calendar, p: Params, avail: DaySampler, rng
) -> None:
    """Contacts on open leads by the original owner until a hand-over, then by the receiver."""
    plan = own.plan
    contacted = leads.first_contact < NEVER
    end_day = np.minimum(leads.close // DAY, cal.days)
    change_day = np.minimum(plan.time // DAY, cal.days)
    o = leads.owner
    giver_hi = np.where(contacted, np.minimum(end_day, change_day), 0)
    _contacts(
        batch,
        wf,
        cal,
        p,
        avail,
        rng,
        o,
        leads.first_contact // DAY + 1,
        giver_hi,
        leads.engage,
        lead_cust,
        np.arange(leads.n),
    )
    moved = np.flatnonzero(plan.receiver >= 0)
    r, lo_r, hi_r = plan.receiver[moved], change_day[moved] + 1, end_day[moved]
    normal = moved[plan.mode[moved] == MODE_NORMAL]
    _contacts(
        batch,
        wf,
        cal,
        p,
        avail,
        rng,
        plan.receiver[normal],
        change_day[normal] + 1,
        end_day[normal],
        leads.engage[normal],
        lead_cust[normal],
        normal,
    )
    mode = plan.mode[moved]
    kind = plan.kind[moved]
    # client-requested and at-signing receivers do little before the close, but they usually meet
    # the client once (introduction / onboarding); a colluding assistant at most logs a token touch
    meets = ((kind == REQUEST) | (kind == MAINT) | (kind == FUNNEL)) & (mode == MODE_LIGHT)
    n_r = np.select(
        [meets, mode == MODE_LIGHT, mode == MODE_TOKEN],
        [rng.poisson(0.45, len(moved)), rng.poisson(0.9, len(moved)), (rng.random(len(moved)) < 0.35).astype(np.int64)],
        0,
    )
    intro = (meets & (rng.random(len(moved)) < 0.78)).astype(np.int64)
    funnel = kind == FUNNEL
    if funnel.any():  # a closer logs little before the order: often one call, or nothing (funnel company only)
        n_r = np.where(funnel, rng.poisson(CLOSER_CONTACTS, len(moved)), n_r)
        intro = np.where(funnel, rng.random(len(moved)) < CLOSER_CALL, intro).astype(np.int64)
    batch.add(r, lo_r, hi_r, n_r, lead_cust[moved], moved, "contact")
    batch.add(r, lo_r, hi_r, intro, lead_cust[moved], moved, "intro")


def _contacts(
    batch: _Batch, wf, cal: Calendar, p: Params, avail: DaySampler, rng, emp, lo_day, hi_day, engage, customer, lead
) -> None:
    """Regular contacts on leads over day spans [lo, hi), at the employee's effort of each month."""
    span, month, lo, hi = explode_by_month(cal, np.maximum(lo_day, 0) * DAY, np.maximum(hi_day, 0) * DAY)
    e = emp[span]
    d_lo, d_hi = lo // DAY, hi // DAY
    n = rng.poisson(p.contact_rate * engage[span] * wf.effort[e, month] * avail.count(e, d_lo, d_hi))
    batch.add(e, d_lo, d_hi, n, customer[span], lead[span], "contact")


def _handover_traces(
    batch: _Batch, wf, leads: Leads, cust: Customers, lead_cust, own: Ownership, cal: Calendar, rng
) -> None:
    """Givers who stay in touch: colluders keep calling 'their' client; reps introduce the assistant."""
    plan = own.plan
    for kind, mean, span in ((COLLUSIVE, 0.8, 45), (REQUEST, 0.15, 30)):
        sel = np.flatnonzero(plan.kind == kind)
        lo = plan.time[sel] // DAY + 1
        hi = np.minimum(leads.close[sel] // DAY + span, cal.days)
        none = np.full(len(sel), -1)
        batch.add(leads.owner[sel], lo, hi, rng.poisson(mean, len(sel)), lead_cust[sel], none, "contact")
    # the colluding rep is the one who really closes the deal: he keeps working it until the order
    sel = np.flatnonzero(plan.kind == COLLUSIVE)
    lo = plan.time[sel] // DAY + 1
    hi = np.minimum(leads.close[sel] // DAY + 1, cal.days)
    batch.add(leads.owner[sel], lo, hi, rng.poisson(1.3, len(sel)), lead_cust[sel], sel, "contact")
    # the rep introduces the assistant to an account (at signing she meets the client herself)
    lead = cust.lead[own.customer]
    at_signing = (lead >= 0) & (own.time < leads.close[np.maximum(lead, 0)])
    sel = np.flatnonzero((own.kind == MAINT) & ~at_signing)
    lo = own.time[sel] // DAY + 1
    intro = (rng.random(len(sel)) < 0.4).astype(np.int64)
    batch.add(own.src[sel], lo, np.minimum(lo + 14, cal.days), intro, own.customer[sel], np.full(len(sel), -1), "visit")


def _maintenance(
    batch: _Batch, wf: Workforce, cust: Customers, own: Ownership, cal: Calendar, p: Params, avail: DaySampler, rng
) -> None:
    """Account care per ownership segment-month, by role and monthly effort.

    A colluding assistant barely looks after an account she was parked with (the rep still does).
    """
    span, month, lo, hi = explode_by_month(cal, own.seg_t0, own.seg_t1)
    o = own.seg_owner[span]
    d_lo, d_hi = -(-lo // DAY), hi // DAY  # whole days inside the segment only
    lead = cust.lead[own.seg_customer[span]]
    li = np.maximum(lead, 0)
    parked = (lead >= 0) & (own.plan.kind[li] == COLLUSIVE) & (own.plan.receiver[li] == o)
    rate = np.array([p.maintenance_per_month[r] for r in ROLES])[wf.role[o]] * wf.effort[o, month] / 21.0
    rate = np.where(parked, 0.3 * rate, rate)
    n = rng.poisson(rate * avail.count(o, d_lo, d_hi))
    batch.add(o, d_lo, d_hi, n, own.seg_customer[span], np.full(len(span), -1), "contact")


def _background(batch: _Batch, wf: Workforce, cal: Calendar, p: Params, avail: DaySampler, rng) -> None:
    """Prospecting calls, mails and admin without a CRM customer: the bulk of the volume."""
    emp, mon = (g.ravel() for g in np.meshgrid(np.arange(wf.n), np.arange(cal.months), indexing="ij"))
    lo, hi = cal.month_start[mon], cal.month_start[mon + 1]
    rate = np.array([p.background_per_day[r] for r in ROLES])[wf.role[emp]] * wf.effort[emp, mon]
    n = rng.poisson(rate * avail.count(emp, lo, hi))
    none = np.full(len(emp), -1)
    batch.add(emp, lo, hi, n, none, none, "background")


def _place(batch: _Batch, wf: Workforce, avail: DaySampler, rng) -> tuple:
    """Expand counts into activities on available days with trait-driven hours and type mixes."""
    out = []
    for emp, lo, hi, count, customer, lead, mix in batch.parts:
        idx = np.repeat(np.arange(len(emp)), count)
        e = emp[idx]
        day = avail.sample(e, lo[idx], hi[idx], rng.random(len(idx)))
        ok = day >= 0
        idx, e, day = idx[ok], e[ok], day[ok]
        t = day * DAY + business_seconds(rng, len(idx), wf.traits["early_share"][e])
        out.append((e, t, customer[idx], lead[idx], _types(rng, mix, wf.traits["visit_rate"][e])))
    return tuple(np.concatenate([x[i] for x in out]) for i in range(5))


def _types(rng, mix: str, visit_rate: np.ndarray) -> np.ndarray:
    n = len(visit_rate)
    if mix == "visit":
        return np.full(n, VISIT, dtype=np.int8)
    if mix == "intro":
        return rng.choice([MEETING, CALL, VISIT], size=n, p=[0.5, 0.3, 0.2]).astype(np.int8)
    if mix == "background":
        return rng.choice([CALL, EMAIL, MESSAGE, OTHER], size=n, p=[0.4, 0.3, 0.15, 0.15]).astype(np.int8)
    rest = rng.choice([MEETING, CALL, EMAIL, MESSAGE], size=n, p=[0.1, 0.45, 0.25, 0.2])
    return np.where(rng.random(n) < visit_rate, VISIT, rest).astype(np.int8)


def _first_contacts(wf: Workforce, leads: Leads, lead_cust, cal: Calendar, rng) -> tuple:
    sel = np.flatnonzero(leads.first_contact < cal.end_seconds)
    typ = rng.choice([CALL, MESSAGE, EMAIL], size=len(sel), p=[0.55, 0.2, 0.25]).astype(np.int8)
    return leads.owner[sel], leads.first_contact[sel], lead_cust[sel], sel, typ
