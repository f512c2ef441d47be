"""Assistant combined task: weighted completion of parts, a part's target capped by demonstrated capacity.

Capacity is the best level of the part's metric over the previous N months (the metrics column
`<metric>_best<N>`); with no history (capacity 0 or unknown) the target is used as given.
"""

from __future__ import annotations

from decimal import Decimal

from perfml.rules.bands import HUNDRED, ZERO, fmt, pct, round_by
from perfml.rules.plan import Plan, required
from perfml.rules.scorecard import target_of
from perfml.rules.trace import Input, Line, money
from perfml.rules.values import Values


def capacity_column(metric: str, months: int) -> str:
    """Name of the capacity column: best monthly `metric` over the previous `months` months."""
    return f"{metric}_best{months}"


def combined_task_line(plan: Plan, seg_id: str, values: Values) -> Line:
    """Pays `amount` × Σ(weight × completion) / Σweight, completion = value / target (percent, capped)."""
    rule = f"segments.{seg_id}.combined_task"
    task = required(plan.segments[seg_id].combined_task, rule)
    inputs: list[Input] = []
    terms, weighted, weights = [], ZERO, ZERO
    for part_id, part in task.parts.items():
        value = values.get(part.metric)
        target, target_input = target_of(values, part.target, f"{part_id}_target")
        inputs += values.inputs(part.metric) + [target_input]
        cap_note = ""
        if part.capacity is not None:
            cap_name = capacity_column(part.metric, part.capacity.months)
            capacity = values.get(cap_name)
            inputs.append(values.input(cap_name))
            if capacity is not None and capacity > 0 and target is not None:
                limit = part.capacity.share * capacity / HUNDRED
                if limit < target:
                    cap_note = (
                        f" (target {fmt(target)} capped at {pct(part.capacity.share)} × capacity {fmt(capacity)})"
                    )
                    target = limit
        if value is None or target is None or target <= 0:
            completion = ZERO
            text = f"{part_id}: no value or target → 0%"
        else:
            completion = min(value / target * HUNDRED, task.cap)
            text = f"{part_id}: {fmt(value)} / {fmt(target)}{cap_note} → {fmt(completion.quantize(Decimal('0.01')))}%"
        terms.append(f"{text} × weight {fmt(part.weight)}")
        weighted += completion * part.weight
        weights += part.weight
    completion = weighted / weights if weights else ZERO
    value = round_by(plan.rounding, task.amount * completion / HUNDRED)
    inputs.append(Input("amount", task.amount, "plan"))
    formula = (
        f"{'; '.join(terms)}; completion {fmt(completion.quantize(Decimal('0.01')))}% "
        f"× {money(task.amount)} = {money(value)}"
    )
    return Line(rule, "combined_task", value, formula, inputs)
