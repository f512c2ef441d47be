"""KPI scorecard: each weighted indicator scored against its target, summed into points (0-cap).

Indicators left out (untracked, or missing with `missing: skip`) do not count: the weights present
are rescaled to 100, so an indicator's points are score × weight / (sum of the weights present).
Each indicator and the card keep the numbers used as a record (`render`, `facts`); the texts
are rendered on demand by the renderers below.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from perfml.rules.bands import HUNDRED, ZERO, find_band, fmt
from perfml.rules.plan import Indicator, Plan, TargetRef
from perfml.rules.trace import Input, exact, renderer
from perfml.rules.values import Values

POINTS = Decimal("0.01")  # scores are shown and summed at 0.01 points


def target_of(values: Values, ref: TargetRef, label: str = "target") -> tuple[Decimal | None, Input]:
    """A target's value and provenance: a metric (e.g. from `targets`) or a constant from the plan."""
    if ref.metric is not None:
        return values.get(ref.metric), values.input(ref.metric)
    return ref.value, Input(label, ref.value, "plan")


def score_indicator(ind: Indicator, values: Values) -> tuple[Decimal | None, Decimal | None, str, tuple, str | None]:
    """(ratio percent, score points or None when missing, renderer key, facts, note) of one indicator."""
    sc = ind.scoring
    value = values.get(ind.metric)
    if value is None:
        return None, None, "indicator.missing", (ind.metric,), f"no {ind.metric} this period"
    target = None
    if ind.target is not None:
        target = values.get(ind.target.metric) if ind.target.metric is not None else ind.target.value
    ratio: Decimal | None = None
    x = value  # what is scored: the ratio to target (percent) when the scoring needs it, else the value
    if sc.type == "ratio" or sc.on == "ratio":
        if target is None or target == 0:
            return None, None, "indicator.no_target", (ind.metric,), "no target (or target 0)"
        if sc.better == "higher":
            ratio = value / target * HUNDRED
        else:  # lower is better: meeting the target exactly is 100%, half the value 200%
            ratio = target / value * HUNDRED if value > 0 else sc.cap
        x = ratio
    if sc.type == "ratio":
        score = min(max(x, sc.floor), sc.cap).quantize(POINTS, rounding=ROUND_HALF_UP)
        return ratio, score, "indicator.ratio", (ind.metric, value, target, sc.better, ratio, sc.floor, sc.cap), None
    i = find_band(sc.bands, x)
    score = (sc.bands[i].score if i is not None else sc.floor).quantize(POINTS, rounding=ROUND_HALF_UP)
    return ratio, score, "indicator.bands", (ind.metric, value, target, sc.better, ratio, i), None


def scorecard(plan: Plan, seg_id: str, values: Values) -> dict[str, Any] | None:
    """The segment's scorecard: indicator rows and the weighted total (points, rounded to 0.01)."""
    card = plan.segments[seg_id].scorecard
    if card is None:
        return None
    rows: list[dict[str, Any]] = []
    left_out: list[str] = []
    present = ZERO
    for ind_id, weight in card.weights.items():
        ind = plan.indicators[ind_id]
        ratio, score, key, facts, note = score_indicator(ind, values)
        inputs = values.inputs(ind.metric)
        if ind.target is not None:
            inputs.append(target_of(values, ind.target)[1])
        row: dict[str, Any] = {
            "id": ind_id,
            "rule": f"indicators.{ind_id}",
            "kind": ind.kind,
            "metric": ind.metric,
            "weight": weight,
            "ratio": ratio,
            "score": score,
            "points": None,
            "render": key,
            "facts": facts,
            "inputs": inputs,
        }
        if score is None:
            untracked = ind.metric in values.not_tracked
            if untracked or ind.missing == "skip":
                left_out.append(ind_id)
                why = f"{ind.metric} is not tracked by this company" if untracked else note
                row["note"] = f"{why}; left out and the other weights rescaled"
            else:
                row["score"] = ZERO
                row["note"] = f"{note}; scored 0"
        elif note is not None:
            row["note"] = note
        if score is not None or ind_id not in left_out:
            present += weight
        rows.append(row)
    total = ZERO
    for row in rows:
        if row["id"] in left_out or not present:
            row["facts"] += (None, row["weight"], present)
            continue
        # Points are exact; only the total is rounded (one rounding for the scorecard line).
        row["points"] = row["score"] * row["weight"] / present
        total += row["points"]
        row["facts"] += (row["score"], row["weight"], present)
    total = total.quantize(POINTS, rounding=ROUND_HALF_UP)
    weights_total = sum(card.weights.values(), ZERO)
    return {
        "rule": f"segments.{seg_id}.scorecard",
        "total": total,
        "weights_present": present,
        "weights_total": weights_total,
        "render": "scorecard",
        "facts": (total, present, weights_total, tuple(left_out)),
        "indicators": rows,
    }


# -- texts ------------------------------------------------------------------------------------------
def _ratio_text(value: Decimal, target: Decimal, better: str, ratio: Decimal) -> str:
    if better == "higher":
        return f"{fmt(value)} / target {fmt(target)} × 100 = {exact(ratio)}% of target"
    if value > 0:
        return f"target {fmt(target)} / {fmt(value)} × 100 = {exact(ratio)}% (lower is better)"
    return f"{fmt(value)} against target {fmt(target)}, lower is better: {exact(ratio)}% (the cap)"


def _points_text(score: Decimal | None, weight: Decimal, present: Decimal) -> str:
    if score is None or not present:
        return f"weight {fmt(weight)} left out"
    points = score * weight / present
    shown = points.quantize(POINTS, rounding=ROUND_HALF_UP)
    sign = "=" if shown == points else "≈"
    return f"{fmt(score)} × weight {fmt(weight)}/{fmt(present)} {sign} {fmt(shown)} points"


@renderer("indicator.missing")
def _missing_text(metric: str, score: Decimal | None, weight: Decimal, present: Decimal) -> str:
    return f"{metric} has no value; {_points_text(score, weight, present)}"


@renderer("indicator.no_target")
def _no_target_text(metric: str, score: Decimal | None, weight: Decimal, present: Decimal) -> str:
    return f"{metric} has no usable target; {_points_text(score, weight, present)}"


@renderer("indicator.ratio")
def _ratio_score_text(
    metric: str,
    value: Decimal,
    target: Decimal,
    better: str,
    ratio: Decimal,
    floor: Decimal,
    cap: Decimal,
    score: Decimal | None,
    weight: Decimal,
    present: Decimal,
) -> str:
    shown = _ratio_text(value, target, better, ratio)
    return f"{metric} {shown}, clamped to [{fmt(floor)}, {fmt(cap)}] → score {fmt(score)}; " + _points_text(
        score, weight, present
    )


@renderer("indicator.bands")
def _bands_score_text(
    metric: str,
    value: Decimal,
    target: Decimal | None,
    better: str,
    ratio: Decimal | None,
    band: int | None,
    score: Decimal | None,
    weight: Decimal,
    present: Decimal,
) -> str:
    if ratio is not None and target is not None:
        shown = f"{metric} {_ratio_text(value, target, better, ratio)}"
    else:
        shown = f"{metric} = {fmt(value)}"
    found = f"bands[{band}]" if band is not None else "no band (the floor)"
    return f"{shown} → {found} scores {fmt(score)}; " + _points_text(score, weight, present)


@renderer("scorecard")
def _card_text(total: Decimal, present: Decimal, weights_total: Decimal, left_out: tuple[str, ...]) -> str:
    summed = f"Σ score × weight / {fmt(present)} = {fmt(total)} points (rounded to 0.01)"
    if not left_out:
        return summed
    if not present:
        return f"{', '.join(left_out)} left out: no weight left, total 0 points"
    rescaled = f"{', '.join(left_out)} left out: weights {fmt(present)} of {fmt(weights_total)} rescaled to 100"
    return f"{rescaled}; {summed}"
