"""A plan as data: pydantic models of the YAML document (structure and types only).

Numbers are `Decimal` (the loader reads YAML floats as decimal text, so 69.99 stays 69.99).
Percentages are written in percent (`rate: 15` = 15%). Rules across fields (weights summing
to 100, bands without gaps, known metrics) live in `perfml.rules.checks`, which can name the
exact YAML path of each problem.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, ROUND_HALF_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from perfml.errors import PlanError

Role = Literal["sales", "assistant", "manager"]
T = TypeVar("T")
ROUNDING_MODES = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "half_down": ROUND_HALF_DOWN,
    "down": ROUND_DOWN,
    "up": ROUND_UP,
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Range(_Model):
    """[from, to): lower-inclusive, upper-exclusive; a missing bound is open."""

    lo: Decimal | None = Field(None, alias="from")
    hi: Decimal | None = Field(None, alias="to")

    def contains(self, x: Decimal) -> bool:
        """Whether x lies in [from, to)."""
        return (self.lo is None or x >= self.lo) and (self.hi is None or x < self.hi)


class RateBand(Range):
    """A band paying `rate` percent."""

    rate: Decimal


class ScoreBand(Range):
    """A band giving `score` points."""

    score: Decimal


class Rounding(_Model):
    """How each line item is rounded: to `places` (a power of ten) by `mode` (default half-up to cents)."""

    places: Decimal = Decimal("0.01")
    mode: Literal["half_up", "half_even", "half_down", "down", "up"] = "half_up"

    @property
    def decimal_mode(self) -> str:
        """The `decimal` module's rounding constant for `mode`."""
        return ROUNDING_MODES[self.mode]


class TargetRef(_Model):
    """A target: a metric column (e.g. `revenue_target` from `targets`) or a constant `value`."""

    metric: str | None = None
    value: Decimal | None = None


class Scoring(_Model):
    """How an indicator becomes points: ratio to target (percent, clamped) or bands."""

    type: Literal["ratio", "bands"] = "ratio"
    better: Literal["higher", "lower"] = "higher"
    floor: Decimal = Decimal(0)
    cap: Decimal = Decimal(100)
    on: Literal["ratio", "value"] = "ratio"  # bands read the ratio to target (percent) or the raw value
    bands: list[ScoreBand] = []


class Indicator(_Model):
    """One KPI: a metric of kind result / process / balance, its target and its scoring."""

    kind: Literal["result", "process", "balance"]
    metric: str
    label: str | None = None
    target: TargetRef | None = None
    scoring: Scoring = Scoring()
    missing: Literal["zero", "skip"] = "zero"  # no value: score 0, or leave it out and reweight


class Scorecard(_Model):
    """A segment's weight set over the plan's indicators."""

    weights: dict[str, Decimal]  # indicator id -> weight in percent; must sum to exactly 100


class Select(_Model):
    """Who a segment covers: roles and a tenure range in months since the hire month."""

    roles: list[Role] | None = None
    tenure_months: Range | None = None


class Commission(_Model):
    """Tiered commission on `base`, bands on attainment (percent of target) or on the amount."""

    mode: Literal["marginal", "whole"]
    base: str = "revenue"
    on: Literal["attainment", "amount"] = "attainment"
    target: TargetRef = TargetRef(metric="revenue_target")
    bands: list[RateBand]
    gate: Decimal | None = None  # nothing paid below this attainment (percent) or amount
    cap: Decimal | None = None  # most a commission may pay (money)
    # Bands over the quarter or year to date (targets summed), each period paying the increment.
    cumulative: Literal["period", "quarter", "year"] = "period"
    # Pay monthly, then at the quarter's/year's last month the difference to the whole span against its quota.
    true_up: Literal["quarter", "year"] | None = None


class BaseBonus(_Model):
    """A fixed bonus amount (money), scaled by the scorecard total unless told not to."""

    amount: Decimal  # paid at a scorecard total of 100
    scale_by_scorecard: bool = True
    max_score: Decimal = Decimal(100)  # the scorecard total counts up to this


class GrowthBonus(_Model):
    """A rate chosen by growth of `metric` (percent bands), applied to `applies_to`."""

    metric: str = "revenue"
    basis: Literal["yoy", "trailing6"] = "yoy"
    applies_to: Literal["increase", "metric", "base_bonus"] = "increase"
    bands: list[RateBand]


class TeamBonus(_Model):
    """+ `rate` % of the base bonus when the team grew at least `min_growth` % year on year."""

    min_growth: Decimal = Decimal(10)  # team revenue growth year on year, percent
    rate: Decimal = Decimal(5)  # percent of the base bonus


class SatisfactionGate(_Model):
    """Below `min` average satisfaction, deduct `deduct` % of the lines before the gate."""

    metric: str = "avg_satisfaction"
    min: Decimal = Decimal(80)  # below this, deduct
    deduct: Decimal  # percent of the subtotal of the lines before it
    missing: Literal["pass", "deduct"] = "pass"


class MilestoneBonus(_Model):
    """A fixed amount (money) per order of at least `min_order` (money), in the period it closes."""

    min_order: Decimal  # a single order at least this large (money)
    pays: Decimal  # per qualifying order, in the period it closes


class Capacity(_Model):
    """Caps a part's target at `share` % of the best monthly level over the previous `months`."""

    share: Decimal = Decimal(70)  # target is capped at this percent of capacity
    months: int = Field(3, ge=1, le=12)  # capacity = best level over this many previous months


class CountedUpTo(_Model):
    """Counts `portion` (default: the part's whole value) at most up to `share` % of the metric `of`."""

    share: Decimal  # percent of `of`
    of: str  # a metric of the same employee-period, e.g. `revenue_target` (the personal target)
    portion: str | None = None  # a metric contained in the part's metric, e.g. `transferred_revenue` of `revenue`


class TaskPart(_Model):
    """One part of the combined task: metric, target, relative weight, optional capacity and counting caps."""

    metric: str
    target: TargetRef
    weight: Decimal
    capacity: Capacity | None = None
    counted_up_to: CountedUpTo | None = None


class CombinedTask(_Model):
    """Assistant task: weighted completion of parts (weights are relative), paying `amount` at 100%."""

    amount: Decimal
    cap: Decimal = Decimal(100)  # completion of one part counts up to this percent
    parts: dict[str, TaskPart]


class Spiff(_Model):
    """A sales incentive: `pays` (money) or `rate` (% of the credited amount) per qualifying credited order.

    An order qualifies when it closes on a day in [from, to] (both inclusive), its product is in
    `products` (any product when not given) and its amount is at least `min_order`. A fixed amount
    is paid in proportion to the employee's credited share of the order (a 60/40 split pays 60% and
    40%), so one order never pays more than one SPIFF.
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    start: dt.date = Field(alias="from")
    end: dt.date = Field(alias="to")
    products: list[str] | None = None
    min_order: Decimal = Decimal(0)  # the order's amount (money), before crediting
    pays: Decimal | None = None  # money per qualifying order (times the credited share)
    rate: Decimal | None = None  # percent of the order's credited amount


class Draw(_Model):
    """An advance paid when commission falls short of `amount` (money); recoverable ones are repaid later.

    The balance of a recoverable draw starts at 0 each plan year (January, or the plan's effective
    month if later) and is recovered from commission above `amount` in later months of that year.
    A balance still open at the end of the year or at termination is forgiven, never deducted.
    """

    amount: Decimal
    recoverable: bool = True


class Segment(_Model):
    """Who (select) and what they are paid by: scorecard weights and payout rules."""

    label: str | None = None
    select: Select = Select()
    scorecard: Scorecard | None = None
    base_bonus: BaseBonus | None = None
    commission: Commission | None = None
    growth_bonus: GrowthBonus | None = None
    team_bonus: TeamBonus | None = None
    milestone_bonus: MilestoneBonus | None = None
    combined_task: CombinedTask | None = None
    satisfaction_gate: SatisfactionGate | None = None
    spiffs: list[Spiff] = []
    draw: Draw | None = None


class Crediting(_Model):
    """Plan-wide, because one order must be credited the same way whoever's segment asks."""

    transferred_share: dict[Role, Decimal] = {"assistant": Decimal(20)}  # percent, by receiver role
    remainder: Literal["nobody", "from_owner"] = "nobody"
    hold_threshold: Decimal | None = None  # anomaly score at or above this holds the change


class Clawback(_Model):
    """Adjustments dated in a later period re-pay an earlier one, up to `window_days` after the order closed."""

    window_days: int  # an adjustment more days than this after the order's close is not clawed back


class WeeklyVisits(_Model):
    """Mid-week check of visits against `share` % of the pro-rated weekly visits target."""

    share: Decimal = Decimal(50)  # percent of the pro-rated weekly target
    # Mid-week: checked from Wednesday 12:00 (half of a Monday-Friday week) on.
    from_weekday: int = Field(2, ge=0, le=6)  # 0 = Monday
    from_hour: int = Field(12, ge=0, le=23)
    roles: list[Role] = ["sales"]


class PoolAction(_Model):
    """Suggested action for a scorecard total below `below` points."""

    below: Decimal
    action: str


class LowPerformer(_Model):
    """Monthly pool under `bar` points, and the review list after `review_after` periods in a row."""

    bar: Decimal = Decimal(60)  # scorecard total under this joins the pool
    review_after: int = Field(2, ge=1)  # consecutive periods under the bar -> review list
    actions: list[PoolAction] = [
        PoolAction(below=Decimal(40), action="rotation"),
        PoolAction(below=Decimal(60), action="coaching"),
    ]


class Reminders(_Model):
    """Deterministic reminder rules (suggestions, never decisions)."""

    lead_contact_hours: Decimal = Decimal(24)
    lead_lookback_days: int = Field(14, ge=1)
    weekly_visits: WeeklyVisits = WeeklyVisits()
    low_performer: LowPerformer = LowPerformer()


class Checks(_Model):
    """Static-check settings: the payout jump one more unit of revenue may cause before a warning."""

    max_cliff: Decimal = Decimal(1000)
    reference_target: Decimal = Decimal(100000)


class Plan(_Model):
    """A versioned pay plan: identity, effective dates, money rules, indicators, segments, crediting."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    version: str
    name: str | None = None
    effective_from: dt.date
    effective_to: dt.date | None = None
    currency: str = "CNY"
    rounding: Rounding = Rounding()
    # `days`: targets, base amounts and fixed bonuses scale by the days employed in the period. A version or
    # plan assignment covering part of a period prorates it by its days either way (see rules/proration.py).
    proration: Literal["days", "none"] = "none"
    extra_metrics: list[str] = []
    indicators: dict[str, Indicator] = {}
    segments: dict[str, Segment]
    crediting: Crediting = Crediting()
    clawback: Clawback | None = None  # none: adjustments net an order only within its own period
    reminders: Reminders = Reminders()
    checks: Checks = Checks()

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value):
        # `version: 1.10` reads as a number in YAML; keep it as the text the author wrote.
        return format(value, "f") if isinstance(value, Decimal) else str(value) if isinstance(value, int) else value

    def segment_for(self, role: str, tenure_months: int) -> str | None:
        """Id of the first segment (in plan order) that selects this role and tenure."""
        for seg_id, seg in self.segments.items():
            sel = seg.select
            if sel.roles is not None and role not in sel.roles:
                continue
            if sel.tenure_months is not None and not sel.tenure_months.contains(Decimal(tenure_months)):
                continue
            return seg_id
        return None


def required(part: T | None, rule: str) -> T:
    """A segment's optional part (e.g. its `commission`), which a line of that part needs."""
    if part is None:
        raise PlanError(f"{rule} is not in the plan")
    return part
