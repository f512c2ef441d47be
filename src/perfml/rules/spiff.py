"""SPIFFs: short sales incentives paid per qualifying credited order inside a date window.

A segment's `spiffs` are summed into one `spiff` line; its trace lists every qualifying order
with its product and close date. Products are free text in `orders.product`: a plan cannot know
them statically, so a misspelt product simply qualifies no order (the trace then shows 0 orders).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

import pandas as pd

from perfml.money import to_decimal
from perfml.rules.bands import HUNDRED, ZERO, pct, round_by
from perfml.rules.plan import Plan, Spiff
from perfml.rules.trace import Input, Line, money

FULL_SHARE_BP = 10_000  # a ledger share of 100%, in 1/10,000


class SpiffOrder(NamedTuple):
    """A credited order a SPIFF may pay on: amount before crediting (money) and the credited share (percent)."""

    order_id: str
    closed_on: dt.date
    product: str | None
    amount: Decimal
    share: Decimal = HUNDRED


def qualifies(spiff: Spiff, order: SpiffOrder) -> bool:
    """Whether the order closed inside [from, to] (days, inclusive), is one of the products and is large enough."""
    in_window = spiff.start <= order.closed_on <= spiff.end
    in_products = spiff.products is None or order.product in spiff.products
    return in_window and in_products and order.amount >= spiff.min_order


def spiff_pay(spiff: Spiff, order: SpiffOrder) -> tuple[Decimal, str]:
    """Unrounded pay (money) of one qualifying order and its text: the fixed amount or the rate, times the share."""
    credited = order.amount * order.share / HUNDRED
    if spiff.rate is not None:
        return spiff.rate * credited / HUNDRED, f"{pct(spiff.rate)} of the credited {money(credited)}"
    pays = spiff.pays or ZERO
    return pays * order.share / HUNDRED, f"{money(pays)} × credited share {pct(order.share)}"


def spiff_line(plan: Plan, seg_id: str, orders: Sequence[SpiffOrder]) -> Line:
    """One line summing the segment's SPIFFs over the employee's credited orders of the period (rounded once)."""
    rule = f"segments.{seg_id}.spiffs"
    total, terms, inputs = ZERO, [], []
    for spiff in plan.segments[seg_id].spiffs:
        hits = sorted((o for o in orders if qualifies(spiff, o)), key=lambda o: (o.closed_on, o.order_id))
        products = f"products {', '.join(spiff.products)}" if spiff.products is not None else "any product"
        scope = f"{spiff.id} ({spiff.start} to {spiff.end}, {products}, orders ≥ {money(spiff.min_order)})"
        parts = []
        for o in hits:
            pay, text = spiff_pay(spiff, o)
            total += pay
            parts.append(f"{o.order_id} ({o.product or 'no product'}, {o.closed_on}): {text}")
        terms.append(f"{scope}: {'; '.join(parts) if parts else 'no qualifying order'}")
        inputs.append(
            Input(
                spiff.id,
                Decimal(len(hits)),
                "orders",
                ids=[o.order_id for o in hits],
                note=f"credited orders closed {spiff.start} to {spiff.end}, {products}",
            )
        )
    value = round_by(plan.rounding, total)
    return Line(rule, "spiff", value, f"{' | '.join(terms)} → {money(value)}", inputs)


def spiff_orders(plan: Plan, ledger: pd.DataFrame, orders: pd.DataFrame, periods: list[str]) -> dict:
    """(employee_id, period) -> [SpiffOrder] of the credited orders inside any SPIFF window of the plan."""
    spiffs = [s for seg in plan.segments.values() for s in seg.spiffs]
    if not spiffs:
        return {}
    start, end = min(s.start for s in spiffs), max(s.end for s in spiffs)
    day = ledger["closed_at"].dt.normalize()
    rows = ledger[
        ledger["period"].isin(periods)
        & ledger["employee_id"].notna()
        & (ledger["share_bp"] > 0)
        & (day >= pd.Timestamp(start))
        & (day <= pd.Timestamp(end))
    ]
    product = orders.set_index("order_id")["product"] if "product" in orders.columns else pd.Series(dtype="string")
    out: dict = {}
    for r in rows.sort_values(["order_id", "employee_id"]).to_dict("records"):
        name = product.get(r["order_id"])
        out.setdefault((r["employee_id"], r["period"]), []).append(
            SpiffOrder(
                r["order_id"],
                r["closed_at"].date(),
                None if name is None or pd.isna(name) else str(name),
                to_decimal(float(r["amount"])),
                Decimal(int(r["share_bp"])) * HUNDRED / FULL_SHARE_BP,
            )
        )
    return out
