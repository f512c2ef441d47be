"""The plan's line arithmetic over whole columns: the rows of one segment at a time, in exact Decimal.

Each function mirrors one per-row rule function (`scorecard`, `base_bonus_line`, `commission_line`,
`growth_line`, `team_line`, `milestone_line`, `combined_task_line`, `satisfaction_gate_line`)
operation for operation, on numpy object arrays of `Decimal` under the same decimal context, so every
value is the one the per-row engine computes (property-tested against it). Only the numbers are
computed here; the trace of a row is the per-row engine's, rendered on demand.

A column is `Col`: exact values with missing ones filled by 0 and a mask of the present ones. A
segment whose plan parts are not here (SPIFFs, draws, cumulative commission, true-ups) is evaluated
row by row (`supports`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from perfml.rules.plan import Plan, Range, RateBand, Segment, TargetRef
from perfml.rules.scorecard import POINTS
from perfml.rules.values import DERIVED

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Col:
    """Exact values of a column (`Decimal`, missing ones filled by 0) and where they are present."""

    d: np.ndarray  # object array of Decimal
    ok: np.ndarray  # bool

    @classmethod
    def of(cls, values: np.ndarray) -> Col:
        """A column from an object array of per-row values (None = missing)."""
        ok = ~pd.isna(values)  # in C: comparing each Decimal with None goes through Python's number ABCs
        return cls(_where(ok, values, ZERO), ok)

    @classmethod
    def const(cls, value: Decimal | None, n: int) -> Col:
        """The same value (or missing) on every row."""
        d = np.full(n, ZERO if value is None else value, dtype=object)
        return cls(d, np.full(n, value is not None))


def supports(segment: Segment) -> bool:
    """Whether a segment's lines are all computed here (else its rows go through the per-row engine)."""
    c = segment.commission
    cumulative = c is not None and (c.cumulative != "period" or c.true_up is not None)
    return not (segment.spiffs or segment.draw or cumulative)


class Columns:
    """The exact metric columns of a segment's rows, with derived metrics computed as `Values.get` does."""

    def __init__(self, data: dict[str, Col], n: int, not_tracked: frozenset[str] = frozenset()):
        self.data = data
        self.n = n
        self.not_tracked = not_tracked

    def get(self, name: str) -> Col:
        """A metric's column (derived ones from their parts; None where a part is missing or divides by 0)."""
        derived = DERIVED.get(name)
        if derived is None:
            return self.data.get(name) or Col.const(None, self.n)
        parts, fn, _ = derived
        a, b = (self.get(p) for p in parts)
        # The per-row formula itself, on the rows with both parts (it gives None for a zero divisor).
        out = np.frompyfunc(lambda x, y, both: fn(x, y) if both else None, 3, 1)(a.d, b.d, a.ok & b.ok)
        return Col.of(np.asarray(out, dtype=object))

    def target(self, ref: TargetRef) -> Col:
        """A target's column: a metric, or the plan's constant on every row."""
        return self.get(ref.metric) if ref.metric is not None else Col.const(ref.value, self.n)


def _where(condition, a, b) -> np.ndarray:
    """`np.where` for exact values (numpy's type stubs take no Decimal scalars)."""
    return np.where(condition, a, b)


def _div(a: np.ndarray, b: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """a / b where `ok` (elsewhere 0): the divisor is replaced by 1 where it is not used."""
    return _where(ok, a / _where(ok, b, ONE), ZERO)


_QUANTIZE = np.frompyfunc(Decimal.quantize, 3, 1)  # the C method itself: no Python frame per value


def _quantize(places: Decimal, mode: str) -> Callable[[np.ndarray], np.ndarray]:
    return lambda a: np.asarray(_QUANTIZE(a, places, mode), dtype=object) if len(a) else a  # type: ignore[call-overload]


def _band_index(bands: Sequence[Range], x: np.ndarray) -> np.ndarray:
    """Index of the band containing each x (-1 outside every band), as `find_band` picks it: the first."""
    out = np.full(len(x), -1)
    for i in range(len(bands) - 1, -1, -1):
        band = bands[i]
        inside = np.ones(len(x), bool)
        if band.lo is not None:
            inside &= x >= band.lo
        if band.hi is not None:
            inside &= x < band.hi
        out[inside] = i
    return out


def _pick(values: Sequence[Decimal], index: np.ndarray, default: Decimal) -> np.ndarray:
    table = np.array([*values, default], dtype=object)
    return table[_where(index >= 0, index, len(values))]


def _min(a: np.ndarray, b) -> np.ndarray:
    """Python's `min(a, b)` element-wise: a unless b is smaller."""
    return _where(b < a, b, a)


def _max(a: np.ndarray, b) -> np.ndarray:
    """Python's `max(a, b)` element-wise: a unless b is larger."""
    return _where(b > a, b, a)


@dataclass
class SegmentLines:
    """The numbers of a segment's rows: scorecard total (points, or None), each indicator's score and each
    line's value, in order."""

    card_total: np.ndarray | None
    scores: dict[str, np.ndarray]  # indicator id -> score (points; None where left out)
    lines: dict[str, np.ndarray]
    total: np.ndarray


def segment_lines(
    plan: Plan, seg_id: str, cols: Columns, milestone_amounts: Sequence[Sequence[Decimal]]
) -> SegmentLines:
    """Scorecard total and line values of the rows of one segment (`supports(segment)` must hold).

    `milestone_amounts`: per row, the amounts of the orders credited to it that may reach a milestone.
    """
    seg = plan.segments[seg_id]
    rnd = _quantize(plan.rounding.places, plan.rounding.decimal_mode)
    zero = ZERO.quantize(plan.rounding.places, rounding=plan.rounding.decimal_mode)
    n = cols.n
    card, scores = _card_total(plan, seg_id, cols) if seg.scorecard else (None, {})
    lines: dict[str, np.ndarray] = {}
    base_value = None
    if seg.base_bonus:
        b = seg.base_bonus
        if not b.scale_by_scorecard:
            lines["base_bonus"] = np.full(n, b.amount.quantize(plan.rounding.places, plan.rounding.decimal_mode))
        else:
            total = card if card is not None else np.full(n, ZERO, dtype=object)
            lines["base_bonus"] = rnd(b.amount * _min(total, b.max_score) / HUNDRED)
        base_value = lines["base_bonus"]
    if seg.commission:
        lines["commission"] = rnd(_commission(seg, cols))
    if seg.growth_bonus:
        lines["growth_bonus"] = _growth(seg, cols, base_value, rnd, zero)
    if seg.team_bonus:
        t = seg.team_bonus
        growth = cols.get("team_revenue_growth_yoy")
        paid = growth.ok & (growth.d * HUNDRED >= t.min_growth)
        base = base_value if base_value is not None else np.full(n, ZERO, dtype=object)
        lines["team_bonus"] = _where(paid, rnd(t.rate * base / HUNDRED), zero)
    if seg.milestone_bonus:
        m = seg.milestone_bonus
        hits = np.fromiter((sum(a >= m.min_order for a in amounts) for amounts in milestone_amounts), int, n)
        lines["milestone_bonus"] = rnd(np.array([m.pays * h for h in hits.tolist()], dtype=object))
    if seg.combined_task:
        lines["combined_task"] = rnd(_combined_task(seg, cols))
    if seg.satisfaction_gate:
        s = seg.satisfaction_gate
        subtotal = _sum(list(lines.values()), n)
        score = cols.get(s.metric)
        passes = (score.ok & (score.d >= s.min)) | (~score.ok & (s.missing == "pass"))
        lines["satisfaction_gate"] = _where(passes, zero, rnd(-s.deduct * subtotal / HUNDRED))
    return SegmentLines(card, scores, lines, _sum(list(lines.values()), n))


def _sum(columns: list[np.ndarray], n: int) -> np.ndarray:
    """Σ of the columns from 0, in order (as `sum(..., ZERO)` adds them)."""
    out = np.full(n, ZERO, dtype=object)
    for c in columns:
        out = out + c
    return out


def _card_total(plan: Plan, seg_id: str, cols: Columns) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The scorecard total (points, 0.01), as `scorecard` sums it (left-out weights rescaled away), and each
    indicator's score (points, 0.01; None where it was left out)."""
    weights = plan.segments[seg_id].scorecard.weights  # type: ignore[union-attr]  # callers check
    n = cols.n
    scores, counted = [], []
    present = np.full(n, ZERO, dtype=object)
    for ind_id, weight in weights.items():
        ind = plan.indicators[ind_id]
        score, scored = _indicator_score(ind, cols)
        left_out = ~scored & ((ind.metric in cols.not_tracked) | (ind.missing == "skip"))
        present = _where(left_out, present, present + weight)
        scores.append((_where(scored, score, ZERO), weight))
        counted.append(~left_out)
    total = np.full(n, ZERO, dtype=object)
    some = present != 0
    divisor = _where(some, present, ONE)
    for (score, weight), keep in zip(scores, counted, strict=True):
        use = keep & some
        total = _where(use, total + score * weight / divisor, total)
    shown = {
        ind_id: _where(keep, score, None) for ind_id, (score, _), keep in zip(weights, scores, counted, strict=True)
    }
    return _quantize(POINTS, ROUND_HALF_UP)(total), shown


def _indicator_score(ind, cols: Columns) -> tuple[np.ndarray, np.ndarray]:
    """(score points, whether scored) of an indicator on every row, as `score_indicator` gives them."""
    sc = ind.scoring
    value = cols.get(ind.metric)
    scored = value.ok.copy()
    x = value.d
    if sc.type == "ratio" or sc.on == "ratio":
        target = cols.target(ind.target) if ind.target is not None else Col.const(None, cols.n)
        usable = target.ok & (target.d != 0)
        scored &= usable
        if sc.better == "higher":
            x = _div(value.d, target.d, scored) * HUNDRED
        else:
            positive = scored & (value.d > 0)
            x = _where(positive, _div(target.d, value.d, positive) * HUNDRED, sc.cap)
    points = _quantize(POINTS, ROUND_HALF_UP)
    if sc.type == "ratio":
        return points(_min(_max(x, sc.floor), sc.cap)), scored
    i = _band_index(sc.bands, x)
    return points(_pick([b.score for b in sc.bands], i, sc.floor)), scored


def _commission(seg: Segment, cols: Columns) -> np.ndarray:
    """Unrounded commission of every row, as `commission_amount` computes it."""
    c = seg.commission
    assert c is not None  # callers check
    base = cols.get(c.base).d  # a missing base counts as 0
    n = cols.n
    if c.on == "attainment":
        target = cols.target(c.target)
        pays = target.ok & (target.d > 0)
        x = _div(base, target.d, pays) * HUNDRED
        unit = _where(pays, target.d / HUNDRED, ONE)
    else:
        pays, x, unit = np.ones(n, bool), base, np.full(n, ONE, dtype=object)
    if c.gate is not None:
        pays &= ~(x < c.gate)
    if c.mode == "marginal":
        raw = _marginal(c.bands, base, unit, n)
    else:
        i = _band_index(c.bands, x)
        raw = _where(i >= 0, _pick([b.rate for b in c.bands], i, ZERO) * base / HUNDRED, ZERO)
    raw = _where(pays, raw, ZERO)
    return raw if c.cap is None else _where(raw <= c.cap, raw, c.cap)


def _marginal(bands: Sequence[RateBand], amount: np.ndarray, unit: np.ndarray, n: int) -> np.ndarray:
    """Σ rate × portion of `amount` inside each band, as `marginal_pay` adds it (bands in order)."""
    raw = np.full(n, ZERO, dtype=object)
    for band in bands:
        lo = np.full(n, ZERO, dtype=object)
        if band.lo is not None:  # max(ZERO, lo × unit): ZERO unless the bound is above it
            bound = band.lo * unit
            lo = _where(bound > ZERO, bound, ZERO)
        top = amount if band.hi is None else _min(amount, band.hi * unit)
        reached = top > lo
        raw = _where(reached, raw + band.rate * _where(reached, top - lo, ZERO) / HUNDRED, raw)
    return raw


def _growth(seg: Segment, cols: Columns, base_bonus: np.ndarray | None, rnd, zero: Decimal) -> np.ndarray:
    """Growth bonus of every row, as `growth_line` computes it."""
    g = seg.growth_bonus
    assert g is not None  # callers check
    value = cols.get(g.metric)
    base = cols.get(f"{g.metric}_last_year" if g.basis == "yoy" else f"{g.metric}_trailing6_mean")
    grows = value.ok & base.ok & (base.d > 0)
    g_pct = _where(grows, (_div(value.d, base.d, grows) - ONE) * HUNDRED, ZERO)
    rate = _pick([b.rate for b in g.bands], _band_index(g.bands, g_pct), ZERO)
    if g.applies_to == "increase":
        amount = _max(value.d - base.d, ZERO)
    elif g.applies_to == "metric":
        amount = value.d
    else:
        amount = base_bonus if base_bonus is not None else np.full(cols.n, ZERO, dtype=object)
    return _where(grows, rnd(rate * amount / HUNDRED), zero)


def _combined_task(seg: Segment, cols: Columns) -> np.ndarray:
    """Unrounded combined-task pay of every row, as `combined_task_line` computes it."""
    task = seg.combined_task
    assert task is not None  # callers check
    n = cols.n
    weighted = np.full(n, ZERO, dtype=object)
    weights = ZERO
    for part in task.parts.values():
        value = cols.get(part.metric)
        target = cols.target(part.target)
        t = target.d
        if part.capacity is not None:
            capacity = cols.get(f"{part.metric}_best{part.capacity.months}")
            limit = part.capacity.share * capacity.d / HUNDRED
            t = _where(capacity.ok & (capacity.d > 0) & target.ok & (limit < t), limit, t)
        usable = value.ok & target.ok & (t > 0)
        counted = _counted(part, value.d, cols)
        ratio = _div(counted, t, usable) * HUNDRED
        completion = _where(usable, _min(ratio, task.cap), ZERO)
        weighted = weighted + completion * part.weight
        weights += part.weight
    completion = weighted / weights if weights else np.full(n, ZERO, dtype=object)
    return task.amount * completion / HUNDRED


def _counted(part, value: np.ndarray, cols: Columns) -> np.ndarray:
    """The value counted toward a part under its `counted_up_to`, as `counted_value` computes it."""
    limit = part.counted_up_to
    if limit is None:
        return value
    portion = value if limit.portion is None else cols.get(limit.portion).d  # missing portion: 0
    base = cols.get(limit.of)
    most = limit.share * base.d / HUNDRED
    return _where(base.ok, value - portion + _min(portion, _max(most, ZERO)), value)
