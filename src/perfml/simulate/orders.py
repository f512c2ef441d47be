"""Orders: new business when a lead is won, repeat business from accounts, credited to the owner.

A repeat order's rate follows the owner of the account *at that time*: how much care they give it
(role and monthly effort) and the team's demand. So a declining rep's book slowly dries up and an
assistant who really works a handed-over account keeps it ordering.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfml.simulate.config import Params
from perfml.simulate.leads import Leads
from perfml.simulate.ownership import COLLUSIVE, Customers, Ownership
from perfml.simulate.timeline import DAY, HOUR, Calendar, explode_by_month
from perfml.simulate.workforce import ROLES, Workforce

NEW, REPEAT = 0, 1


@dataclass
class Orders:
    customer: np.ndarray
    employee: np.ndarray  # credited: the customer's owner at close
    time: np.ndarray
    amount: np.ndarray
    kind: np.ndarray
    worker: np.ndarray  # who really did the work (differs from `employee` only after collusion)

    @property
    def n(self) -> int:
        return len(self.customer)

    def revenue(self, n_emp: int, cal: Calendar) -> np.ndarray:
        """Credited revenue per employee and month (E x M)."""
        month = cal.month_of_day(self.time // DAY)
        flat = np.bincount(self.employee * cal.months + month, weights=self.amount, minlength=n_emp * cal.months)
        return flat.reshape(n_emp, cal.months)

    def count(self, n_emp: int, cal: Calendar, kind: int) -> np.ndarray:
        sel = self.kind == kind
        month = cal.month_of_day(self.time[sel] // DAY)
        flat = np.bincount(self.employee[sel] * cal.months + month, minlength=n_emp * cal.months)
        return flat.reshape(n_emp, cal.months)


def make_orders(
    wf: Workforce, leads: Leads, cust: Customers, own: Ownership, cal: Calendar, p: Params, seed: np.random.SeedSequence
) -> Orders:
    """New orders from won leads plus repeat orders from every account segment, sorted by time."""
    rng = np.random.default_rng(seed)
    new = _new_orders(leads, cust, own, cal)
    rep = _repeat_orders(wf, cust, own, cal, p, rng)
    cols = [np.concatenate([a, b]) for a, b in zip(new, rep, strict=True)]
    order = np.lexsort((cols[4], cols[0], cols[2]))
    return Orders(*(c[order] for c in cols))


def _new_orders(leads: Leads, cust: Customers, own: Ownership, cal: Calendar):
    lead_cust = np.full(leads.n, -1)
    pros = np.flatnonzero(cust.lead >= 0)
    lead_cust[cust.lead[pros]] = pros
    li = np.flatnonzero(leads.won & (leads.close < cal.end_seconds))
    emp = own.plan.final_owner[li]
    worker = np.where(own.plan.kind[li] == COLLUSIVE, leads.owner[li], emp)
    return lead_cust[li], emp, leads.close[li], leads.amount[li], np.full(len(li), NEW), worker


def _repeat_orders(wf: Workforce, cust: Customers, own: Ownership, cal: Calendar, p: Params, rng: np.random.Generator):
    """Poisson repeat orders per account segment-month; weekdays, business hours, inside the segment."""
    span, month, lo, hi = explode_by_month(cal, own.seg_t0, own.seg_t1)
    c, o = own.seg_customer[span], own.seg_owner[span]
    seg = cust.segment[c]
    care = np.array([p.care[r] for r in ROLES])[wf.role[o]]
    # owners who visit, answer fast and reach clients early keep them ordering
    keep = np.exp(0.35 * np.clip(wf.strength[o], -2.5, 2.5))
    lam = (
        np.array(p.repeat_per_month)[seg]
        * (0.25 + 0.75 * np.minimum(1.6, wf.effort[o, month] * care))
        * keep
        * wf.demand[wf.team[o], month]
        * (hi - lo)
        / (30.44 * DAY)
        * 7
        / 5
    )
    n = rng.poisson(lam)
    idx = np.repeat(np.arange(len(lam)), n)
    day = (lo[idx] + (rng.random(len(idx)) * (hi[idx] - lo[idx])).astype(np.int64)) // DAY
    t = day * DAY + (9 * HOUR + rng.random(len(idx)) * 9 * HOUR).astype(np.int64)
    keep = cal.weekday[np.minimum(day, cal.days - 1)] & (t >= lo[idx]) & (t < hi[idx])
    idx, t = idx[keep], t[keep]
    mu = (
        np.log(p.repeat_size * np.array(p.deal_size)[seg[idx]])
        + 0.08 * wf.traits["skill"][o[idx]]
        + 0.2 * np.log(wf.demand[wf.team[o[idx]], month[idx]])
    )
    amount = np.round(np.exp(mu + rng.normal(0, 0.4, len(idx))), 2)
    return c[idx], o[idx], t, amount, np.full(len(idx), REPEAT), o[idx]
