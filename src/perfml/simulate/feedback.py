"""What comes back after the fact: customer satisfaction surveys and the partial transfer audit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfml.simulate.orders import Orders
from perfml.simulate.ownership import COLLUSIVE, FIRST, LEAVE, LEAVING, REQUEST, Ownership
from perfml.simulate.timeline import DAY, HOUR, Calendar
from perfml.simulate.workforce import ASSISTANT, Workforce


@dataclass
class Surveys:
    order: np.ndarray
    time: np.ndarray
    score: np.ndarray


@dataclass
class Audit:
    change: np.ndarray  # index into the (sorted) change log
    is_anomalous: np.ndarray
    time: np.ndarray


def surveys(wf: Workforce, orders: Orders, cal: Calendar, share: float, rng: np.random.Generator) -> Surveys:
    """A share of orders gets a survey 3-25 days later; the score reflects who really served."""
    t = orders.time + rng.integers(3, 26, orders.n) * DAY + rng.integers(-4 * HOUR, 6 * HOUR, orders.n)
    month = cal.month_of_day(orders.time // DAY)
    w = orders.worker
    mu = 73 + 6 * wf.traits["skill"][w] + 8 * (wf.effort[w, month] - 1)
    score = np.clip(np.round(mu + rng.normal(0, 9, orders.n)), 0, 100).astype(np.int64)
    take = np.flatnonzero((rng.random(orders.n) < share) & (t < cal.end_seconds))
    order = take[np.argsort(t[take], kind="stable")]
    return Surveys(order, t[order], score[order])


def audit(wf: Workforce, own: Ownership, orders: Orders, cal: Calendar, rng: np.random.Generator) -> Audit:
    """Audit a share of hand-overs to assistants (more of those closing fast) and a few others.

    Auditors are good, not perfect: they miss some collusion and misread some late hand-overs.
    """
    n = len(own.customer)
    transfer = own.kind != FIRST
    to_ast = transfer & (wf.role[own.dst] == ASSISTANT)
    nxt = _next_order_time(own, orders)
    fast = nxt - own.time <= 14 * DAY
    p_audit = np.where(to_ast, 0.28 + 0.5 * fast, np.where(transfer, 0.05, 0.0))
    t = (own.time // DAY + rng.integers(20, 91, n)) * DAY + rng.integers(9 * HOUR, 18 * HOUR, n)
    take = np.flatnonzero((rng.random(n) < p_audit) & (t < cal.end_seconds))
    # a reviewer checks the reason, the client contacts, the giver's absence and the pair's record:
    # errors are rare, and concentrated on the collusive cases and their closest look-alikes
    flip = np.select(
        [own.kind == COLLUSIVE, own.kind == REQUEST, (own.kind == LEAVE) | (own.kind == LEAVING)],
        [0.04, 0.03, 0.015],
        0.004,
    )
    truth = own.kind == COLLUSIVE
    label = np.where(rng.random(n) < flip, ~truth, truth).astype(np.int64)
    take = take[np.argsort(t[take], kind="stable")]
    return Audit(take, label[take], t[take])


def _next_order_time(own: Ownership, orders: Orders) -> np.ndarray:
    """Time of the customer's first order at or after each change (huge if none)."""
    key = orders.customer.astype(np.int64) << 32 | orders.time
    key = np.sort(key)
    q = own.customer.astype(np.int64) << 32 | own.time
    i = np.searchsorted(key, q, side="left")
    hit = np.minimum(i, len(key) - 1)
    same = (i < len(key)) & ((key[hit] >> 32) == own.customer)
    return np.where(same, key[hit] & 0xFFFFFFFF, 2**62)
