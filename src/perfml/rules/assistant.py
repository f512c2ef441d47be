"""Assistant combined task: weighted completion of parts, with two ways to limit a part.

- `capacity` caps a part's *target* at a share of the best level of the part's metric over the
  previous N months (the metrics column `<metric>_best<N>`); with no history (capacity 0 or
  unknown) the target is used as given.
- `counted_up_to` caps what a part's *value* counts: the whole value, or only a `portion` of it
  (e.g. the credited `transferred_revenue` inside `revenue`), counts at most `share` % of a metric
  such as the personal `revenue_target`; the rest of the value (revenue earned directly) is never
  capped by it.
"""

from __future__ import annotations

from decimal import Decimal

from perfml.rules.bands import HUNDRED, ZERO, fmt, pct, round_by
from perfml.rules.bonuses import percent_text
from perfml.rules.plan import Plan, TaskPart, required
from perfml.rules.scorecard import target_of
from perfml.rules.trace import Input, Line, money
from perfml.rules.values import Values


def capacity_column(metric: str, months: int) -> str:
    """Name of the capacity column: best monthly `metric` over the previous `months` months."""
    return f"{metric}_best{months}"


def amount_text(metric: str | None, x: Decimal | None) -> str:
    """A metric value for a formula: money (two decimals) for revenue metrics and their targets, else plain."""
    return money(x) if metric and "revenue" in metric else fmt(x)


def counted_value(part: TaskPart, value: Decimal, values: Values) -> tuple[Decimal, str, list[Input]]:
    """(value counted toward the part, formula text, inputs) under the part's `counted_up_to` (money or count)."""
    limit = part.counted_up_to
    if limit is None:
        return value, amount_text(part.metric, value), []
    inputs = values.inputs(limit.of)
    name = limit.portion or part.metric
    if limit.portion is None:
        portion = value
    else:
        inputs += values.inputs(limit.portion)
        portion = values.get(limit.portion) or ZERO  # no transferred revenue this period: nothing to limit
    base = values.get(limit.of)
    if base is None:
        return value, f"{amount_text(part.metric, value)} (no {limit.of}, so {name} is not limited)", inputs
    most = limit.share * base / HUNDRED
    counted_portion = min(portion, max(most, ZERO))
    counted = value - portion + counted_portion
    rule = f"{name} counted up to {pct(limit.share)} of {limit.of} {amount_text(limit.of, base)}"
    if limit.portion is None:
        text = f"{amount_text(part.metric, value)} ({rule} → {amount_text(part.metric, counted)})"
    else:
        text = (
            f"{part.metric} {amount_text(part.metric, value)} − {name} {amount_text(name, portion)} "
            f"+ min({amount_text(name, portion)}, {amount_text(name, most)}) [{rule}] "
            f"= {amount_text(part.metric, counted)}"
        )
    return counted, text, inputs


def combined_task_line(plan: Plan, seg_id: str, values: Values) -> Line:
    """Pays `amount` × Σ(weight × completion) / Σweight, completion = counted value / target (percent, capped)."""
    rule = f"segments.{seg_id}.combined_task"
    task = required(plan.segments[seg_id].combined_task, rule)
    inputs: list[Input] = []
    terms, weighted, weights = [], ZERO, ZERO
    for part_id, part in task.parts.items():
        value = values.get(part.metric)
        target, target_input = target_of(values, part.target, f"{part_id}_target")
        target_name = part.target.metric or part.metric
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
                        f" (target {amount_text(target_name, target)} capped at {pct(part.capacity.share)} "
                        f"of capacity {amount_text(part.metric, capacity)}, the best of the previous "
                        f"{part.capacity.months} months)"
                    )
                    target = limit
        if value is None or target is None or target <= 0:
            completion = ZERO
            text = f"{part_id}: no value or target → 0%"
        else:
            counted, counted_text, counted_inputs = counted_value(part, value, values)
            inputs += [i for i in counted_inputs if i not in inputs]
            ratio = counted / target * HUNDRED
            completion = min(ratio, task.cap)
            capped = f", counted up to the cap of {pct(task.cap)} of target" if completion < ratio else ""
            text = (
                f"{part_id}: {counted_text} / target {amount_text(target_name, target)}{cap_note} "
                f"→ {percent_text(ratio, [task.cap])} of target{capped}"
            )
        terms.append(f"{text} × weight {fmt(part.weight)}")
        weighted += completion * part.weight
        weights += part.weight
    completion = weighted / weights if weights else ZERO
    value = round_by(plan.rounding, task.amount * completion / HUNDRED)
    inputs.append(Input("amount", task.amount, "plan"))
    formula = (
        f"{'; '.join(terms)}; weighted completion {percent_text(completion)} (weights sum to {fmt(weights)}) "
        f"of the amount {money(task.amount)} = {money(value)}"
    )
    return Line(rule, "combined_task", value, formula, inputs)
