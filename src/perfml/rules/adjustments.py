"""Reversals and clawbacks: orders as known at a moment, net of the adjustments dated before it.

The time rule: a period's payout uses the data dated up to its end. An `order_adjustments` row
(negative = refund or cancellation) dated in its order's own period nets the order in that period.
One dated in a later period q never changes an earlier period p's statement: q gets a `clawback`
line per employee, P(p as known at the end of q) - P(p as known at the end of q-1), the earlier
periods re-evaluated so that tiers, gates and milestones come out exact. Only adjustments dated at
most `clawback.window_days` after their order closed count; later ones (all later ones, when the
plan has no `clawback`) are not clawed back, and the trace of q says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

import pandas as pd

from perfml.dataset import Dataset
from perfml.frames import isin
from perfml.metrics import period_bounds, period_index, period_label, period_of, period_range, shift_period
from perfml.money import to_decimal
from perfml.rules.crediting import credit_ledger
from perfml.rules.plan import Plan
from perfml.rules.trace import BonusRun, Input, Line, money

ZERO = Decimal(0)
RULE = "clawback"


def adjustment_frame(dataset: Dataset, plan: Plan) -> pd.DataFrame:
    """Adjustments with their order's close and closer, both periods and whether the plan counts them.

    Counted: dated in the order's own period, or at most `clawback.window_days` after its close.
    """
    orders = dataset.orders[["order_id", "closed_at", "employee_id"]].rename(columns={"employee_id": "closer_id"})
    out = dataset.order_adjustments.merge(orders, on="order_id", how="inner")
    out["order_period"] = period_of(out["closed_at"]).astype(str)
    out["period"] = period_of(out["adjusted_at"]).astype(str)
    counted = out["order_period"] == out["period"]
    if plan.clawback is not None:
        counted |= (out["adjusted_at"] - out["closed_at"]) <= pd.Timedelta(days=plan.clawback.window_days)
    out["counted"] = counted
    return out.sort_values(["adjusted_at", "adjustment_id"], kind="stable").reset_index(drop=True)


def as_known(dataset: Dataset, adjustments: pd.DataFrame, cutoff: pd.Timestamp) -> Dataset:
    """The dataset as known just before `cutoff`: each order's amount net of its counted adjustments
    dated before then; an order reversed in full is left out (no order, no new customer)."""
    tables = {name: dataset.table(name) for name in dataset.rows() if name != "order_adjustments"}
    applied = adjustments[adjustments["counted"] & (adjustments["adjusted_at"] < cutoff)]
    delta: dict[str, Decimal] = {}
    for order_id, amount in zip(applied["order_id"], applied["amount"], strict=True):
        delta[order_id] = delta.get(order_id, ZERO) + to_decimal(float(amount))
    if delta:
        orders = tables["orders"].copy()
        hit = isin(orders["order_id"], delta)
        net = [
            to_decimal(float(a)) + delta[o]
            for o, a in zip(orders.loc[hit, "order_id"], orders.loc[hit, "amount"], strict=True)
        ]
        orders.loc[hit, "amount"] = [float(n) for n in net]
        reversed_ = set(orders.loc[hit, "order_id"][[n == 0 for n in net]])
        tables["orders"] = orders[~isin(orders["order_id"], reversed_)].reset_index(drop=True)
        if "order_credits" in tables:
            credits = tables["order_credits"]
            tables["order_credits"] = credits[~isin(credits["order_id"], reversed_)].reset_index(drop=True)
    return Dataset(tables, source=f"{dataset.source} as known before {cutoff}", untracked=dataset.untracked)


def evaluate_as_known(
    evaluate: Callable[..., BonusRun],
    plan: Plan,
    dataset: Dataset,
    periods: list[str],
    *,
    needed: set[str],
    scores: pd.DataFrame | None,
    reviews,
    employee_ids: Iterable[str] | None,
    overrides,
) -> BonusRun:
    """Each period evaluated on the data known at its end, with clawback lines for later adjustments.

    `evaluate` is the engine's, passed in because the engine imports this module.
    """
    ids = None if employee_ids is None else list(employee_ids)
    adjustments = adjustment_frame(dataset, plan)
    runs = []
    for period in periods:
        known = as_known(dataset, adjustments, period_bounds(period)[1])
        run = evaluate(plan, known, period, scores=scores, reviews=reviews, employee_ids=ids, overrides=overrides)
        _claw_back(evaluate, plan, dataset, adjustments, run, period, needed, scores, reviews, ids)
        runs.append(run)
    first = runs[0]
    return BonusRun(
        plan=first.plan,
        periods=periods,
        currency=first.currency,
        data={**first.data, "fingerprint": dataset.fingerprint()},
        results=[r for run in runs for r in run.results],
        holds=[h for run in runs for h in run.holds],
        skipped=[s for run in runs for s in run.skipped],
    )


def _claw_back(evaluate, plan, dataset, adjustments, run, period, needed, scores, reviews, ids) -> None:
    """Add to `run` (of `period`) a clawback line per employee whose earlier pay the adjustments dated
    in `period` change, and a note for each adjustment that is not clawed back."""
    late = adjustments[(adjustments["period"] == period) & (adjustments["order_period"] < period)]
    if late.empty:
        return
    ledger = credit_ledger(dataset, plan.crediting, scores=scores, reviews=reviews, since=min(late["order_period"]))
    owners = _owners(dataset, ledger, late, teams=any(m.startswith("team_") for m in needed))
    first_period = period_label(period_index(plan.effective_from))
    claws = late[late["counted"] & (late["order_period"] >= first_period)]
    for row in late[~late.index.isin(claws.index)].itertuples():
        text = f"{_adjustment_text(row)} is not clawed back: {_why_not(plan, row, first_period)}"
        for emp in sorted(owners[row.order_id]):
            result = run.result(emp, period)
            if result is not None:
                result.notes.append(text)
    wanted = {e for o in claws["order_id"] for e in owners[o]}
    affected = sorted(wanted if ids is None else wanted & set(ids))
    if not affected:
        return
    earlier = period_range(min(claws["order_period"]), shift_period(period, -1))
    start, end = period_bounds(period)
    before, after = (
        evaluate(plan, known, earlier, scores=scores, reviews=reviews, employee_ids=affected)
        for known in (as_known(dataset, adjustments, start), as_known(dataset, adjustments, end))
    )
    for emp in affected:
        changes = [(p, _total(before, emp, p), _total(after, emp, p)) for p in earlier]
        changes = [c for c in changes if c[1] != c[2]]
        if not changes:
            continue
        line = _clawback_line(plan, period, changes, claws[[emp in owners[o] for o in claws["order_id"]]])
        result = run.result(emp, period)
        if result is None:
            run.skipped.append(
                {
                    "employee_id": emp,
                    "period": period,
                    "reason": f"clawback {money(line.value)} not applied: not evaluated in {period} "
                    f"(not employed, or no segment selects them)",
                }
            )
            continue
        result.lines.append(line)
        result.total += line.value


def _owners(dataset: Dataset, ledger: pd.DataFrame, late: pd.DataFrame, *, teams: bool) -> dict[str, set[str]]:
    """order_id -> employees whose pay the order can change: its closer and everyone it is credited to,
    plus the closer's team when the plan reads team revenue (counted at close, before crediting)."""
    out: dict[str, set[str]] = {o: set() for o in late["order_id"]}
    for order_id, closer in zip(late["order_id"], late["closer_id"], strict=True):
        out[order_id].add(str(closer))
    credited = ledger[isin(ledger["order_id"], out) & ledger["employee_id"].notna()]
    for order_id, emp in zip(credited["order_id"], credited["employee_id"], strict=True):
        out[order_id].add(str(emp))
    if teams:
        team_of = dataset.employees.set_index("employee_id")["team_id"]
        members = dataset.employees.groupby("team_id")["employee_id"].apply(lambda s: set(map(str, s)))
        for order_id, closer in zip(late["order_id"], late["closer_id"], strict=True):
            team = team_of.get(closer)
            if pd.notna(team):
                out[order_id] |= members.get(team, set())
    return out


def _total(run: BonusRun, employee_id: str, period: str) -> Decimal:
    result = run.result(employee_id, period)
    return result.total if result is not None else ZERO


def _adjustment_text(row) -> str:
    return (
        f"adjustment {row.adjustment_id} ({money(to_decimal(float(row.amount)))} on order {row.order_id} "
        f"of {row.order_period}, dated {row.adjusted_at:%Y-%m-%d %H:%M})"
    )


def _why_not(plan: Plan, row, first_period: str) -> str:
    if plan.clawback is None:
        return "the plan has no clawback window (clawback.window_days), so only its own period nets an order"
    if row.order_period < first_period:
        return f"{row.order_period} is before plan {plan.id} v{plan.version} took effect ({plan.effective_from})"
    return (
        f"it is more than {plan.clawback.window_days} days (clawback.window_days) after the order closed "
        f"({row.closed_at:%Y-%m-%d %H:%M})"
    )


def _clawback_line(plan: Plan, period: str, changes: list, claws: pd.DataFrame) -> Line:
    """The line paying (or recovering) in `period` the change of earlier periods' pay."""
    prev = shift_period(period, -1)
    value = sum((after - before for _, before, after in changes), ZERO)
    parts = [
        f"{p}: {money(after)} as known at the end of {period} − {money(before)} as known at the end of {prev}"
        for p, before, after in changes
    ]
    formula = "; ".join(parts) + f" = {money(value)}"
    orders = sorted(set(claws["order_id"]))
    amounts = sum((to_decimal(float(a)) for a in claws["amount"]), ZERO)
    inputs = [
        Input(
            "adjustments",
            amounts,
            "order_adjustments",
            ids=sorted(claws["adjustment_id"]),
            period=period,
            note="dated in " + period + " on " + ", ".join(f"order {o} of {p}" for o, p in _order_periods(claws)),
        ),
        Input("orders", None, "orders", ids=orders),
        *(
            Input(f"payout {p}", after, "re-evaluated", period=p, note=f"{money(before)} as known at the end of {prev}")
            for p, before, after in changes
        ),
    ]
    window = plan.clawback.window_days if plan.clawback else 0
    note = (
        f"the statements of {', '.join(p for p, _, _ in changes)} are not rewritten: the difference is paid "
        f"(or recovered) in {period}; adjustments count up to {window} days after the order closed "
        "(clawback.window_days)"
    )
    return Line(RULE, "clawback", value, formula, inputs, note)


def _order_periods(claws: pd.DataFrame) -> list[tuple[str, str]]:
    return sorted(set(zip(claws["order_id"], claws["order_period"], strict=True)))
