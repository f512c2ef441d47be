"""Proration by days: the part of a period an employee-period is paid for under a plan.

The paid days of a period are the days that are
- inside the plan version's effective dates (always: two versions must not both pay a month),
- employed, between hire and termination date (only with `proration: days`),
- assigned to the plan, when the data has `plan_assignments` rows (always: the table decides).
With fewer paid days than the month has, targets from the data (`<metric>_target`), the base
bonus amount and the combined-task amount scale by paid days / days in the month; amounts
earned on actual sales (commission on amount, milestones) are not scaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from perfml.metrics import period_codes
from perfml.rules.assignments import assigned_days, assignment_text, day_numbers
from perfml.rules.plan import Plan, Segment
from perfml.rules.trace import Result

OPEN_END = np.iinfo("int64").max
EPOCH_MONTH = 1970 * 12  # month index of 1970-01, where numpy's datetime64 counts from


@dataclass(frozen=True, slots=True)
class DayShare:
    """Days of a period paid under the plan, of the days in the month; why, and why not paid at all."""

    days: int
    of: int
    note: str | None = None
    skip: str | None = None  # reason the plan pays this employee-period nothing

    @property
    def target_note(self) -> str:
        """How a prorated target relates to the one in the data."""
        return f"the target in the data × {self.days}/{self.of} days (prorated)"

    @property
    def partial(self) -> bool:
        """Whether the period is paid for only part of its days."""
        return self.days != self.of


def prorate(amount: Decimal, days: int, of: int) -> Decimal:
    """amount × days / of (money or target; multiplied first so an exact result stays exact)."""
    return amount * days / of


def day_shares(rows: pd.DataFrame, dataset, plan: Plan) -> list[DayShare]:
    """A `DayShare` per row (employee_id, period) of the values frame, vectorised over the rows."""
    months = (period_codes(rows["period"]).to_numpy() - EPOCH_MONTH).astype("datetime64[M]")
    lo = months.astype("datetime64[D]").astype("int64")
    of = (months + 1).astype("datetime64[D]").astype("int64") - lo
    hi = lo + of - 1
    lo = np.maximum(lo, day_numbers(pd.Series([pd.Timestamp(plan.effective_from)]), 0)[0])
    if plan.effective_to is not None:
        hi = np.minimum(hi, day_numbers(pd.Series([pd.Timestamp(plan.effective_to)]), 0)[0])
    employees = dataset.employees.set_index("employee_id")
    emp = rows["employee_id"].reset_index(drop=True)
    hired = employees["hire_date"].reindex(emp).reset_index(drop=True)
    left = employees["termination_date"].reindex(emp).reset_index(drop=True)
    if plan.proration == "days":
        lo = np.maximum(lo, day_numbers(hired, 0))
        hi = np.minimum(hi, day_numbers(left, OPEN_END))
    assignments = dataset.plan_assignments
    if len(assignments):
        days = assigned_days(emp, lo, hi, assignments, plan.id)
    else:
        days = np.clip(hi - lo + 1, 0, None)
    # Said on every result when assignments decide who is paid; whole months share one object per length.
    whole_note = f"paid under plan {plan.id} v{plan.version}" if len(assignments) else None
    whole = {n: DayShare(n, n, whole_note) for n in range(28, 32)}
    shares = [whole[n] for n in of.tolist()]
    for i in np.flatnonzero(days != of).tolist():
        start = pd.Timestamp(months[i])
        share = DayShare(int(days[i]), int(of[i]))
        shares[i] = _explained(share, plan, emp[i], start, hired[i], left[i], assignments)
    return shares


def _explained(share: DayShare, plan: Plan, employee_id: str, start, hired, left, assignments) -> DayShare:
    """The share with its trace note ("prorated 15/30 days employed (hired 2024-06-16)") or skip reason."""
    end = start + pd.Timedelta(days=share.of - 1)
    on_plans = assignment_text(assignments, employee_id, start, end) if len(assignments) else None
    if share.days == 0:
        reason = f"assigned to {on_plans}" if on_plans else f"no day of the period under plan {plan.id}"
        return DayShare(0, share.of, skip=reason)
    employed = []
    if plan.proration == "days" and start <= hired <= end:
        employed.append(f"hired {hired.date()}")
    if plan.proration == "days" and pd.notna(left) and start <= left <= end:
        employed.append(f"terminated {left.date()}")
    other = []
    if start.date() < plan.effective_from or (plan.effective_to is not None and plan.effective_to < end.date()):
        until = plan.effective_to or "open"
        other.append(f"plan {plan.id} v{plan.version} effective {plan.effective_from}..{until}")
    if on_plans:
        other.append(f"assigned to {on_plans}")
    what = "employed" if not other else f"employed and under plan {plan.id}" if employed else f"under plan {plan.id}"
    note = f"prorated {share.days}/{share.of} days {what} ({'; '.join(employed + other)})"
    return DayShare(share.days, share.of, note=note)


def prorated_plan(plan: Plan, seg_id: str, days: int, of: int) -> Plan:
    """The plan with the segment's base bonus and combined-task amounts scaled by days / of."""
    seg = plan.segments[seg_id]
    update: dict[str, object] = {}
    if seg.base_bonus is not None:
        update["base_bonus"] = seg.base_bonus.model_copy(update={"amount": prorate(seg.base_bonus.amount, days, of)})
    if seg.combined_task is not None:
        task = seg.combined_task
        update["combined_task"] = task.model_copy(update={"amount": prorate(task.amount, days, of)})
    return plan.model_copy(update={"segments": {**plan.segments, seg_id: seg.model_copy(update=update)}})


def prorated_targets(data: dict[str, Decimal | None], days: int, of: int) -> dict[str, Decimal | None]:
    """Metric values with every target from the data (`<metric>_target`) scaled by days / of."""
    return {
        name: prorate(value, days, of) if value is not None and name.endswith("_target") else value
        for name, value in data.items()
    }


def note_share(result: Result, share: DayShare, segment: Segment) -> None:
    """Write the share's note on the result and, when prorated, on each line that read a scaled amount."""
    result.notes.append(share.note or "")
    if not share.partial:
        return
    scaled = {"base_bonus", "team_bonus", "combined_task"}
    if segment.commission is not None and segment.commission.on == "attainment":
        scaled.add("commission")
    for line in result.lines:
        if line.name in scaled:
            line.note = f"{line.note}; {share.note}" if line.note else share.note
