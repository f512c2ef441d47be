"""`World`: everything one simulation run produced, before it is written as tables."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfml.simulate.activities import Activities
from perfml.simulate.feedback import Audit, Surveys
from perfml.simulate.funnel import Funnel
from perfml.simulate.leads import Leads
from perfml.simulate.orders import Orders
from perfml.simulate.ownership import Customers, Ownership
from perfml.simulate.timeline import Calendar
from perfml.simulate.workforce import Workforce


@dataclass
class World:
    """Everything a run produced, handed to `tables` for writing."""

    cal: Calendar
    wf: Workforce
    leads: Leads
    cust: Customers
    own: Ownership
    orders: Orders
    acts: Activities
    targets: dict[str, np.ndarray]
    surveys: Surveys
    audit: Audit
    reasons: np.ndarray
    demographics: dict[str, np.ndarray]
    funnel: Funnel | None = None  # the qualifier -> closer funnel, if the company has one
