"""Static plan checks: errors refuse a plan (each names its YAML path), warnings flag payout cliffs
and non-monotonic payout. Both run without data.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

from perfml.metrics import METRICS
from perfml.rules.bands import HUNDRED, ZERO, band_problems, fmt, marginal_pay, whole_pay
from perfml.rules.plan import Commission, Plan, Segment, Spiff, TargetRef, TaskPart


@dataclass(frozen=True)
class Issue:
    """One finding of a plan check: level `error` refuses the plan, `warning` only informs."""

    level: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.path}: {self.message}" if self.path else f"{self.level}: {self.message}"


def known_metrics(plan: Plan) -> set[str]:
    """Metrics a plan may name: the metrics layer's (built-in targets included), its declared extras and their
    `_target`s."""
    base = set(METRICS) | set(plan.extra_metrics)
    return base | {f"{m}_target" for m in base}


def plan_errors(plan: Plan) -> list[Issue]:
    """Every reason to refuse the plan."""
    errs: list[tuple[str, str]] = []
    known = known_metrics(plan)

    def metric(path: str, name: str) -> None:
        if name not in known:
            errs.append(
                (path, f"unknown metric {name!r}; declare it under extra_metrics if it comes from the metrics table")
            )

    def target(path: str, ref: TargetRef | None, needed: bool = True) -> None:
        if ref is None:
            if needed:
                errs.append((path, "a target is required (metric or value)"))
            return
        if (ref.metric is None) == (ref.value is None):
            errs.append((path, "give exactly one of `metric` or `value`"))
        elif ref.metric is not None:
            metric(f"{path}.metric", ref.metric)
        elif ref.value is not None and ref.value <= 0:  # exactly one is given, and it is the value
            errs.append((f"{path}.value", f"must be above 0, got {fmt(ref.value)}"))

    def bands(path: str, items, cover: bool = False) -> None:
        for i, msg in band_problems(items):
            errs.append((f"{path}[{i}]" if i is not None else path, msg))
        if cover and items and (items[0].lo is not None or items[-1].hi is not None):
            errs.append((path, "bands must cover every value: the first band needs no `from`, the last no `to`"))

    def percent(path: str, value: Decimal, lo: Decimal = ZERO, hi: Decimal = HUNDRED) -> None:
        if not lo <= value <= hi:
            errs.append((path, f"must be between {fmt(lo)} and {fmt(hi)} (percent), got {fmt(value)}"))

    if plan.effective_to is not None and plan.effective_to < plan.effective_from:
        errs.append(("effective_to", f"{plan.effective_to} is before effective_from {plan.effective_from}"))
    places = plan.rounding.places
    if places <= 0 or places.normalize().as_tuple().digits != (1,):
        errs.append(("rounding.places", f"must be a power of ten such as 0.01 or 1, got {fmt(places)}"))
    clash = sorted(set(plan.extra_metrics) & set(METRICS))
    if clash:
        errs.append(("extra_metrics", f"{', '.join(clash)} already computed by perfml; choose another name"))

    for ind_id, ind in plan.indicators.items():
        path = f"indicators.{ind_id}"
        metric(f"{path}.metric", ind.metric)
        sc = ind.scoring
        needs_target = sc.type == "ratio" or sc.on == "ratio"
        target(f"{path}.target", ind.target, needed=needs_target)
        if sc.floor > sc.cap:
            errs.append((f"{path}.scoring", f"floor {fmt(sc.floor)} exceeds cap {fmt(sc.cap)}"))
        if sc.type == "bands":
            bands(f"{path}.scoring.bands", sc.bands, cover=True)
        elif sc.bands:
            errs.append((f"{path}.scoring.bands", "bands are only read when type is `bands`"))

    if not plan.segments:
        errs.append(("segments", "at least one segment is required"))
    for seg_id, seg in plan.segments.items():
        path = f"segments.{seg_id}"
        if seg.select.tenure_months is not None:
            bands(f"{path}.select.tenure_months", [seg.select.tenure_months])
        if seg.scorecard is not None:
            weights = seg.scorecard.weights
            for ind_id, w in weights.items():
                if ind_id not in plan.indicators:
                    errs.append(
                        (
                            f"{path}.scorecard.weights.{ind_id}",
                            f"unknown indicator; defined: {', '.join(plan.indicators) or 'none'}",
                        )
                    )
                if w <= 0:
                    errs.append((f"{path}.scorecard.weights.{ind_id}", f"weight must be above 0, got {fmt(w)}"))
            total = sum(weights.values(), ZERO)
            if total != HUNDRED:
                errs.append((f"{path}.scorecard.weights", f"weights sum to {fmt(total)}, must be exactly 100"))
        if seg.commission is not None:
            c = seg.commission
            metric(f"{path}.commission.base", c.base)
            if c.on == "attainment":
                target(f"{path}.commission.target", c.target)
            bands(f"{path}.commission.bands", c.bands)
            for i, band in enumerate(c.bands):
                if band.rate < 0:
                    errs.append((f"{path}.commission.bands[{i}].rate", f"must not be negative, got {fmt(band.rate)}"))
            for key in ("gate", "cap"):
                value = getattr(c, key)
                if value is not None and value < 0:
                    errs.append((f"{path}.commission.{key}", f"must not be negative, got {fmt(value)}"))
            errs += _span_errors(f"{path}.commission", c, plan)
        if seg.base_bonus is not None and seg.base_bonus.amount < 0:
            errs.append((f"{path}.base_bonus.amount", "must not be negative"))
        if seg.base_bonus is not None and seg.base_bonus.scale_by_scorecard and seg.scorecard is None:
            errs.append((f"{path}.base_bonus.scale_by_scorecard", "the segment has no scorecard to scale by"))
        if seg.growth_bonus is not None:
            g = seg.growth_bonus
            metric(f"{path}.growth_bonus.metric", g.metric)
            bands(f"{path}.growth_bonus.bands", g.bands)
            if g.applies_to == "base_bonus" and seg.base_bonus is None:
                errs.append((f"{path}.growth_bonus.applies_to", "base_bonus needs a base_bonus in the segment"))
        if seg.team_bonus is not None:
            percent(f"{path}.team_bonus.rate", seg.team_bonus.rate, hi=Decimal(1000))
            if seg.base_bonus is None:
                errs.append((f"{path}.team_bonus", "a team bonus is a share of the base bonus; add a base_bonus"))
        if seg.satisfaction_gate is not None:
            metric(f"{path}.satisfaction_gate.metric", seg.satisfaction_gate.metric)
            percent(f"{path}.satisfaction_gate.deduct", seg.satisfaction_gate.deduct)
        if seg.milestone_bonus is not None:
            for key in ("min_order", "pays"):
                if getattr(seg.milestone_bonus, key) <= 0:
                    errs.append((f"{path}.milestone_bonus.{key}", "must be above 0"))
        if seg.combined_task is not None:
            task = seg.combined_task
            if not task.parts:
                errs.append((f"{path}.combined_task.parts", "at least one part is required"))
            for part_id, part in task.parts.items():
                ppath = f"{path}.combined_task.parts.{part_id}"
                metric(f"{ppath}.metric", part.metric)
                target(f"{ppath}.target", part.target)
                if part.weight <= 0:
                    errs.append((f"{ppath}.weight", f"must be above 0, got {fmt(part.weight)}"))
                if part.capacity is not None:
                    percent(f"{ppath}.capacity.share", part.capacity.share)
                if part.counted_up_to is not None:
                    errs += _counted_up_to_errors(f"{ppath}.counted_up_to", part, known)
        errs += _spiff_errors(path, seg.spiffs)
        if seg.draw is not None:
            if seg.draw.amount <= 0:
                errs.append((f"{path}.draw.amount", f"must be above 0, got {fmt(seg.draw.amount)}"))
            if seg.commission is None:
                errs.append((f"{path}.draw", "a draw is an advance against commission; add a commission"))

    for role, share in plan.crediting.transferred_share.items():
        spath = f"crediting.transferred_share.{role}"
        percent(spath, share)
        # Shares are applied as exact integers in 1/10,000 (see perfml.metrics.SHARE_DIGITS).
        if (share * 100) != (share * 100).to_integral_value():
            errs.append((spath, f"at most two decimals in percent, got {fmt(share)}"))
    if plan.clawback is not None and plan.clawback.window_days < 1:
        errs.append(("clawback.window_days", f"must be at least 1 day, got {plan.clawback.window_days}"))
    return [Issue("error", p, m) for p, m in errs]


# Metrics that are a part of another metric's value: a `counted_up_to.portion` must be one of these.
PORTIONS_OF = {"revenue": ("transferred_revenue",)}
# Metrics that include revenue the employee earned directly (not only by transfer).
DIRECT_REVENUE = ("revenue", "new_revenue", "repeat_revenue", "revenue_at_close")


def _counted_up_to_errors(path: str, part: TaskPart, known: set[str]) -> list[tuple[str, str]]:
    limit = part.counted_up_to
    if limit is None:
        return []
    out = []
    if not ZERO < limit.share <= HUNDRED:
        out.append((f"{path}.share", f"must be above 0 and at most 100 (percent), got {fmt(limit.share)}"))
    for key, name in (("of", limit.of), ("portion", limit.portion)):
        if name is not None and name not in known:
            out.append((f"{path}.{key}", f"unknown metric {name!r}"))
    if limit.portion is not None and limit.portion not in PORTIONS_OF.get(part.metric, ()):
        inside = ", ".join(f"{p} of {m}" for m, ps in PORTIONS_OF.items() for p in ps)
        out.append(
            (
                f"{path}.portion",
                f"{limit.portion} is not a part of the metric {part.metric}, so it cannot be taken out of it "
                f"(known portions: {inside}); or feed a part by {limit.portion} alone and leave out `portion`",
            )
        )
    return out


def _spiff_errors(path: str, spiffs: list[Spiff]) -> list[tuple[str, str]]:
    """Window, pay and identity checks of a segment's SPIFFs.

    Products are free text in `orders.product`; without data a misspelt product cannot be told from
    one that sold nothing, so it is not checked here (the trace shows which orders qualified).
    """
    out = []
    seen: set[str] = set()
    for i, s in enumerate(spiffs):
        spath = f"{path}.spiffs[{i}]"
        if s.id in seen:
            out.append((f"{spath}.id", f"{s.id!r} is used by an earlier SPIFF of the segment"))
        seen.add(s.id)
        if s.end < s.start:
            out.append((f"{spath}.to", f"{s.end} is before `from` {s.start}; both days are inclusive"))
        if (s.pays is None) == (s.rate is None):
            out.append((spath, "give exactly one of `pays` (money per order) or `rate` (percent of the order)"))
        for key in ("pays", "rate", "min_order"):
            value = getattr(s, key)
            if value is not None and value < 0:
                out.append((f"{spath}.{key}", f"must not be negative, got {fmt(value)}"))
        if s.products is not None and not s.products:
            out.append((f"{spath}.products", "an empty list qualifies no order; leave it out for any product"))
    return out


def _bonus_base_warnings(path: str, seg: Segment) -> list[tuple[str, str]]:
    """Where a reader could misread what a bonus rate or cap applies to."""
    out = []
    g = seg.growth_bonus
    if g is not None and g.applies_to == "metric":
        top = max(band.rate for band in g.bands)
        out.append(
            (
                f"{path}.growth_bonus.applies_to",
                f"the band's rate is paid on the whole {g.metric}, not on the growth (a {fmt(top)}% rate pays "
                f"{fmt(top)}% of all of {g.metric}); use `increase` to pay on the growth only",
            )
        )
    b = seg.base_bonus
    if seg.team_bonus is not None and b is not None and b.scale_by_scorecard:
        out.append(
            (
                f"{path}.team_bonus.rate",
                f"{fmt(seg.team_bonus.rate)}% of the base bonus as paid, after scaling by the scorecard "
                f"(at 80 points: {fmt(seg.team_bonus.rate)}% of {b.amount * 80 / HUNDRED:,.2f}), "
                f"not of the amount {b.amount:,.2f}",
            )
        )
    task = seg.combined_task
    if task is not None:
        if task.cap > HUNDRED:
            out.append(
                (
                    f"{path}.combined_task.cap",
                    f"each part counts up to {fmt(task.cap)}% of its target, so the task can pay up to "
                    f"{fmt(task.cap)}% of the amount {task.amount:,.2f}; `cap` is not a share of the "
                    "personal target (for that, use a part's `counted_up_to`)",
                )
            )
        for part_id, part in task.parts.items():
            limit = part.counted_up_to
            if limit is not None and limit.portion is None and part.metric in DIRECT_REVENUE:
                out.append(
                    (
                        f"{path}.combined_task.parts.{part_id}.counted_up_to",
                        f"caps all of {part.metric}, including revenue earned directly; to cap only revenue "
                        f"received by transfer, add `portion: transferred_revenue`",
                    )
                )
    return out


def _span_errors(path: str, c: Commission, plan: Plan) -> list[tuple[str, str]]:
    """A commission over a quarter or year: one way of spanning, monthly targets to sum, no proration."""
    if c.cumulative == "period" and c.true_up is None:
        return []
    key = "cumulative" if c.cumulative != "period" else "true_up"
    if c.cumulative != "period" and c.true_up is not None:
        return [(f"{path}.true_up", "a cumulative commission already pays the whole span; drop `true_up`")]
    if c.on == "attainment" and c.target.metric is None:
        return [(f"{path}.target", f"`{key}` sums the monthly targets: give the target as a `metric`")]
    if plan.proration == "days":
        return [(f"{path}.{key}", "to-date sums do not prorate targets yet; use `proration: none` with it")]
    return []


def plan_warnings(plan: Plan) -> list[Issue]:
    """Payout cliffs over `checks.max_cliff` and non-monotonic payout, for a valid plan."""
    warns: list[tuple[str, str]] = []
    limit, ref = plan.checks.max_cliff, plan.checks.reference_target
    for seg_id, seg in plan.segments.items():
        path = f"segments.{seg_id}"
        warns += _bonus_base_warnings(path, seg)
        if seg.commission is not None:
            warns += _commission_warnings(f"{path}.commission", seg.commission, limit, ref)
        if seg.growth_bonus is not None:
            g = seg.growth_bonus
            warns += _rate_order(f"{path}.growth_bonus.bands", g.bands, "growth")
            if g.applies_to != "base_bonus":
                for i in range(1, len(g.bands)):
                    b = g.bands[i].lo
                    if b is None:  # open below: only a valid plan's first band is
                        continue
                    amount = ref * b / HUNDRED if g.applies_to == "increase" else ref * (1 + b / HUNDRED)
                    jump = (g.bands[i].rate - g.bands[i - 1].rate) * max(amount, ZERO) / HUNDRED
                    if jump > limit:
                        warns.append(
                            (
                                f"{path}.growth_bonus.bands[{i}]",
                                f"payout cliff: reaching {fmt(b)}% growth raises pay by {jump:,.2f} at once "
                                f"(reference revenue base {ref:,.0f}; limit {limit:,.2f})",
                            )
                        )
        milestone = seg.milestone_bonus
        if milestone is not None and milestone.pays > limit:
            warns.append(
                (
                    f"{path}.milestone_bonus.pays",
                    f"payout cliff: an order of {milestone.min_order:,.2f} pays {milestone.pays:,.2f} "
                    f"more than one a cent smaller (limit {limit:,.2f})",
                )
            )
        if seg.team_bonus is not None and seg.base_bonus is not None:
            jump = seg.team_bonus.rate * seg.base_bonus.amount / HUNDRED
            if jump > limit:
                warns.append(
                    (
                        f"{path}.team_bonus",
                        f"payout cliff: reaching {fmt(seg.team_bonus.min_growth)}% team "
                        f"growth adds up to {jump:,.2f} at once (limit {limit:,.2f})",
                    )
                )
    for ind_id, ind in plan.indicators.items():
        if ind.scoring.type == "bands":
            scores = [b.score for b in ind.scoring.bands]
            rising = all(a <= b for a, b in pairwise(scores))
            falling = all(a >= b for a, b in pairwise(scores))
            # A ratio is oriented so that higher is better (target/value when lower is better).
            want_rising = ind.scoring.better == "higher" or ind.scoring.on == "ratio"
            if not (rising if want_rising else falling):
                warns.append(
                    (
                        f"indicators.{ind_id}.scoring.bands",
                        "non-monotonic: scores do not consistently improve as the metric improves",
                    )
                )
    return [Issue("warning", p, m) for p, m in warns]


def _rate_order(path: str, bands, what: str) -> list[tuple[str, str]]:
    out = []
    for i in range(1, len(bands)):
        if bands[i].rate < bands[i - 1].rate:
            out.append(
                (
                    f"{path}[{i}]",
                    f"non-monotonic: rate {fmt(bands[i].rate)}% is below the previous band's "
                    f"{fmt(bands[i - 1].rate)}%; pay can fall as {what} rises",
                )
            )
    return out


def _commission_warnings(path: str, c: Commission, limit: Decimal, ref: Decimal) -> list[tuple[str, str]]:
    """Cliffs at whole-amount steps and at the gate; non-monotonic rates and bounded whole tiers."""
    out: list[tuple[str, str]] = []
    unit = ref / HUNDRED if c.on == "attainment" else Decimal(1)  # money per band unit
    what = "attainment" if c.on == "attainment" else "the amount"

    def pay(x: Decimal) -> Decimal:
        base = x * unit
        if c.gate is not None and x < c.gate:
            return ZERO
        value = marginal_pay(c.bands, base, unit) if c.mode == "marginal" else whole_pay(c.bands, x, base)
        return min(value, c.cap) if c.cap is not None else value

    step = Decimal("0.01") / unit if unit else Decimal("0.01")  # one cent of base, in band units

    def where(x: Decimal) -> str:
        return f"{fmt(x)}% attainment" if c.on == "attainment" else f"{x:,.2f}"

    edges = [(i, b.lo) for i, b in enumerate(c.bands) if b.lo is not None and b.lo > 0]
    if c.mode == "whole":
        for i, x in edges:
            jump = pay(x) - pay(x - step)
            if jump > limit:
                out.append(
                    (
                        f"{path}.bands[{i}]",
                        f"payout cliff: at {where(x)} one more cent of revenue raises pay by {jump:,.2f} "
                        f"(limit {limit:,.2f}; reference target {ref:,.0f})",
                    )
                )
        out += _rate_order(f"{path}.bands", c.bands, what)
        last = c.bands[-1]
        if last.hi is not None:
            out.append(
                (
                    f"{path}.bands[{len(c.bands) - 1}]",
                    f"non-monotonic: above {where(last.hi)} no tier applies and the whole commission drops to 0",
                )
            )
    if c.gate is not None and c.gate > 0:
        jump = pay(c.gate) - pay(c.gate - step)
        if jump > limit:
            out.append(
                (
                    f"{path}.gate",
                    f"payout cliff: reaching the gate at {where(c.gate)} raises pay by "
                    f"{jump:,.2f} at once (limit {limit:,.2f}; reference target {ref:,.0f})",
                )
            )
    return out
