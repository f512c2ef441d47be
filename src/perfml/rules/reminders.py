"""Reminders and review lists: deterministic suggestions with evidence, never automatic decisions.

Everything is computed as of a moment t from records dated before t (`Dataset.before`), with
timestamps inside kept rows (first contact, conversion) also ignored when at or after t.
"""

from __future__ import annotations

import calendar
from decimal import Decimal
from typing import Any

import pandas as pd

from perfml.errors import PerfmlError
from perfml.metrics import period_index, period_label
from perfml.money import to_decimal
from perfml.rules.bands import HUNDRED, fmt
from perfml.rules.engine import evaluate
from perfml.rules.loading import load_plan, plan_hash
from perfml.rules.plan import Plan

NOTICE = "Suggestions with evidence for a manager to review; nothing here is decided automatically."
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def reminders(plan: Plan | str, dataset, as_of, *, scores: pd.DataFrame | None = None) -> dict[str, Any]:
    """Overdue lead follow-ups, weekly visit shortfalls, the low-performer pool and the review list."""
    plan = load_plan(plan)
    as_of = pd.Timestamp(as_of)
    if as_of.tzinfo is not None:
        as_of = as_of.tz_convert("UTC").tz_localize(None)
    ds = dataset.before(as_of)
    pool, review, period = _low_performers(plan, ds, as_of, scores)
    return {
        "as_of": as_of.isoformat(),
        "notice": NOTICE,
        "plan": {"id": plan.id, "version": plan.version, "hash": plan_hash(plan)},
        "lead_followups": _lead_followups(plan, ds, as_of),
        "weekly_visits": _weekly_visits(plan, ds, as_of),
        "low_performer_pool": {"period": period, "bar": fmt(plan.reminders.low_performer.bar), "employees": pool},
        "review_list": review,
    }


def _active(employees: pd.DataFrame, at: pd.Timestamp) -> pd.DataFrame:
    return employees[
        (employees["hire_date"] <= at)
        & (employees["termination_date"].isna() | (employees["termination_date"] >= at.normalize()))
    ]


def _lead_followups(plan: Plan, ds, as_of: pd.Timestamp) -> list[dict]:
    """Open leads not first-contacted within `lead_contact_hours` of creation (recent ones only)."""
    r = plan.reminders
    leads = ds.leads
    hours = pd.Timedelta(hours=float(r.lead_contact_hours))
    deadline = leads["created_at"] + hours

    def before(col: str) -> pd.Series:
        return leads[col].notna() & (leads[col] < as_of)

    due = (
        (deadline <= as_of)
        & ~before("first_contact_at")
        & ~before("converted_at")
        & ~before("lost_at")
        & (leads["created_at"] >= as_of - pd.Timedelta(days=r.lead_lookback_days))
    )
    rows = leads[due].assign(deadline=deadline[due]).sort_values(["owner_id", "created_at", "lead_id"])
    overdue = ((as_of - rows["deadline"]).dt.total_seconds() / 3600).round(1)
    return [
        {
            "lead_id": lid,
            "owner_id": owner,
            "created_at": c.isoformat(),
            "deadline": d.isoformat(),
            "hours_overdue": float(h),
            "suggestion": f"contact this lead now; it was not contacted within {fmt(r.lead_contact_hours)} h",
            "evidence": {"table": "leads", "id": lid},
        }
        for lid, owner, c, d, h in zip(
            rows["lead_id"], rows["owner_id"], rows["created_at"], rows["deadline"], overdue, strict=True
        )
    ]


def _weekly_visits(plan: Plan, ds, as_of: pd.Timestamp) -> dict[str, Any]:
    """Visits this week so far under `share` % of the pro-rated weekly target, from mid-week on."""
    w = plan.reminders.weekly_visits
    week_start = as_of.normalize() - pd.Timedelta(days=as_of.weekday())
    check_from = week_start + pd.Timedelta(days=w.from_weekday, hours=w.from_hour)
    out: dict[str, Any] = {"week_start": week_start.date().isoformat(), "checked": as_of >= check_from, "employees": []}
    if not out["checked"]:
        out["reason"] = f"checked from {WEEKDAYS[w.from_weekday]} {w.from_hour:02d}:00 on"
        return out
    period = period_label(period_index(as_of))
    days = Decimal(calendar.monthrange(as_of.year, as_of.month)[1])
    staff = _active(ds.employees, as_of)
    staff = staff[staff["role"].isin(w.roles)]
    targets = ds.targets[(ds.targets["period"] == period) & (ds.targets["metric"] == "visits")]
    target_of = dict(zip(targets["employee_id"], targets["target"], strict=True))
    acts = ds.activities
    week = acts[(acts["type"] == "visit") & (acts["occurred_at"] >= week_start) & (acts["occurred_at"] < as_of)]
    ids_by = week.sort_values("activity_id").groupby("employee_id")["activity_id"].agg(list)
    for emp in sorted(staff["employee_id"]):
        if emp not in target_of or pd.isna(target_of[emp]):
            continue
        monthly = to_decimal(float(target_of[emp]))
        weekly = monthly * 7 / days
        bar = w.share * weekly / HUNDRED
        visits = ids_by.get(emp, [])
        if Decimal(len(visits)) < bar:
            out["employees"].append(
                {
                    "employee_id": emp,
                    "visits_this_week": len(visits),
                    "weekly_target": fmt(weekly.quantize(Decimal("0.01"))),
                    "bar": fmt(bar.quantize(Decimal("0.01"))),
                    "suggestion": f"{len(visits)} visit(s) since {week_start.date()} is under {fmt(w.share)}% of the "
                    f"pro-rated weekly target; plan visits for the rest of the week",
                    "evidence": {
                        "activities": visits,
                        "target": {
                            "table": "targets",
                            "employee_id": emp,
                            "period": period,
                            "metric": "visits",
                            "value": fmt(monthly),
                        },
                    },
                }
            )
    return out


def _low_performers(plan: Plan, ds, as_of: pd.Timestamp, scores) -> tuple[list, list, str]:
    """Pool of the last complete month (scorecard under the bar) and those under it N months running."""
    lp = plan.reminders.low_performer
    last = period_index(as_of) - 1  # the month before as_of's month is the last complete one
    periods = [period_label(last - k) for k in range(lp.review_after - 1, -1, -1)]
    try:
        run = evaluate(plan, ds, periods, scores=scores)
    except PerfmlError as exc:
        raise PerfmlError(f"reminders: cannot score {', '.join(periods)}: {exc}") from None
    by_emp: dict[str, dict[str, Any]] = {}
    for r in run.results:
        if r.scorecard is not None:
            by_emp.setdefault(r.employee_id, {})[r.period] = r
    actions = sorted(lp.actions, key=lambda a: a.below)
    pool, review = [], []
    current = periods[-1]
    for emp in sorted(by_emp):
        res = by_emp[emp].get(current)
        if res is None or res.scorecard_total >= lp.bar:
            continue
        total = res.scorecard_total
        action = next((a.action for a in actions if total < a.below), actions[-1].action if actions else "coaching")
        evidence = [
            {
                "indicator": i["id"],
                "metric": i["metric"],
                "score": fmt(i["score"]),
                "weight": fmt(i["weight"]),
                "inputs": [x.to_dict() for x in i["inputs"]],
            }
            for i in res.scorecard["indicators"]
        ]
        pool.append(
            {
                "employee_id": emp,
                "segment": res.segment,
                "scorecard_total": fmt(total),
                "suggested_action": action,
                "evidence": evidence,
            }
        )
        history = [by_emp[emp].get(p) for p in periods]
        totals = [None if h is None else h.scorecard_total for h in history]
        if all(t is not None and t < lp.bar for t in totals):
            review.append(
                {
                    "employee_id": emp,
                    "periods": periods,
                    "scorecard_totals": [fmt(t) for t in totals],
                    "reason": f"scorecard under {fmt(lp.bar)} for {len(periods)} consecutive period(s)",
                    "suggestion": "review with the employee's manager; a person decides",
                }
            )
    return pool, review, current


__all__ = ["reminders"]
