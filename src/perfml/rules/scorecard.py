"""KPI scorecard: each weighted indicator scored against its target, summed into points (0-cap)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from perfml.rules.bands import HUNDRED, ZERO, find_band, fmt
from perfml.rules.plan import Indicator, Plan, TargetRef
from perfml.rules.trace import Input
from perfml.rules.values import Values

POINTS = Decimal("0.01")  # scores are shown and summed at 0.01 points


def target_of(values: Values, ref: TargetRef, label: str = "target") -> tuple[Decimal | None, Input]:
    """A target's value and provenance: a metric (e.g. from `targets`) or a constant from the plan."""
    if ref.metric is not None:
        return values.get(ref.metric), values.input(ref.metric)
    return ref.value, Input(label, ref.value, "plan")


def score_indicator(
    ind: Indicator, values: Values
) -> tuple[Decimal | None, Decimal | None, str, list[Input], str | None]:
    """(ratio percent, score points or None when missing, formula, inputs, note) of one indicator."""
    sc = ind.scoring
    value = values.get(ind.metric)
    target, target_input = target_of(values, ind.target) if ind.target is not None else (None, None)
    inputs = values.inputs(ind.metric) + ([target_input] if target_input else [])
    if value is None:
        return None, None, f"{ind.metric} has no value", inputs, f"no {ind.metric} this period"
    ratio: Decimal | None = None
    ratio_text = ""
    x = value  # what is scored: the ratio to target (percent) when the scoring needs it, else the value
    needs_ratio = sc.type == "ratio" or sc.on == "ratio"
    if needs_ratio:
        if target is None or target == 0:
            return None, None, f"{ind.metric} has no usable target", inputs, "no target (or target 0)"
        if sc.better == "higher":
            ratio = value / target * HUNDRED
            ratio_text = f"{fmt(value)} / {fmt(target)} × 100 = {fmt(ratio.quantize(POINTS))}%"
        else:  # lower is better: meeting the target exactly is 100%, half the value 200%
            ratio = target / value * HUNDRED if value > 0 else sc.cap
            ratio_text = f"{fmt(target)} / {fmt(value)} × 100 = {fmt(ratio.quantize(POINTS))}%"
        x = ratio
    if sc.type == "ratio":
        score = min(max(x, sc.floor), sc.cap)
        formula = f"{ratio_text}, clamped to [{fmt(sc.floor)}, {fmt(sc.cap)}]"
    else:
        i = find_band(sc.bands, x)
        score = sc.bands[i].score if i is not None else sc.floor
        shown = ratio_text if sc.on == "ratio" else f"{ind.metric} = {fmt(value)}"
        formula = f"{shown} → bands[{i}] scores {fmt(score)}"
    return ratio, score.quantize(POINTS, rounding=ROUND_HALF_UP), formula, inputs, None


def scorecard(plan: Plan, seg_id: str, values: Values) -> dict[str, Any] | None:
    """The segment's scorecard: indicator rows and the weighted total (points, rounded to 0.01)."""
    card = plan.segments[seg_id].scorecard
    if card is None:
        return None
    rows: list[dict[str, Any]] = []
    for ind_id, weight in card.weights.items():
        ind = plan.indicators[ind_id]
        ratio, score, formula, inputs, note = score_indicator(ind, values)
        untracked = score is None and ind.metric in values.not_tracked
        skipped = score is None and (ind.missing == "skip" or untracked)
        if untracked:
            note = f"{ind.metric} is not tracked by this company"
        if score is None and not skipped:
            score = ZERO
            note = (note or "missing") + "; scored 0"
        rows.append(
            {
                "id": ind_id,
                "rule": f"indicators.{ind_id}",
                "kind": ind.kind,
                "metric": ind.metric,
                "weight": weight,
                "ratio": ratio,
                "score": score,
                "formula": formula,
                "inputs": inputs,
                "note": f"{note}; left out and the other weights rescaled" if skipped else note,
                "_skip": skipped,
            }
        )
    present = sum((r["weight"] for r in rows if not r["_skip"]), ZERO)
    total = ZERO
    for r in rows:
        # Points are exact; only the total is rounded (one rounding for the scorecard line).
        r["points"] = None if r["_skip"] or not present else r["score"] * r["weight"] / present
        total += r["points"] or ZERO
        del r["_skip"]
        if r["note"] is None:
            del r["note"]
    total = total.quantize(POINTS, rounding=ROUND_HALF_UP)
    return {"rule": f"segments.{seg_id}.scorecard", "total": total, "weights_present": present, "indicators": rows}
