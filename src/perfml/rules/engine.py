"""Evaluate a plan: metrics (vectorised) -> exact values per employee-period -> scorecard and payout lines.

`evaluate` runs a plan over a dataset for one or more periods; `what_if` re-runs one employee
with overridden metric values; `evaluate_values` scores metric values with no dataset at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, localcontext
from itertools import islice

import numpy as np
import pandas as pd

from perfml.errors import PlanError
from perfml.frames import column_bytes, isin, release_freed_memory
from perfml.metrics import (
    DERIVED_FROM,
    HISTORY_MONTHS,
    MONEY,
    Evidence,
    evidence_of_months,
    metric_table_and_evidence,
    parse_period,
    period_index,
    period_label,
    untracked_metrics,
)
from perfml.money import to_decimal
from perfml.rules.adjustments import evaluate_as_known
from perfml.rules.assistant import capacity_column, combined_task_line
from perfml.rules.bonuses import base_bonus_line, growth_line, milestone_line, satisfaction_gate_line, team_line
from perfml.rules.crediting import credit_ledger, credit_notes, holds
from perfml.rules.cumulative import commission_columns, commission_lines, cumulative_input, with_cumulative_columns
from perfml.rules.draws import balance_start, draw_lines, opening_balances
from perfml.rules.loading import load_plan, plan_hash
from perfml.rules.plan import Plan
from perfml.rules.proration import DayShare, day_shares, note_share, prorated_plan, prorated_targets
from perfml.rules.scorecard import scorecard
from perfml.rules.spiff import SpiffOrder, spiff_line, spiff_orders
from perfml.rules.trace import BonusRun, Result, RunStream, collector_paused
from perfml.rules.values import DERIVED, ROW_SOURCES, RunProvenance, Values, as_decimal, from_units
from perfml.schema import MONEY_MAX, MONEY_PLACES

ZERO = Decimal(0)
ROW_KEYS = ("employee_id", "period", "team_id", "role", "tenure_months")  # what every row of the values frame keeps


def decimal_context() -> Context:
    """The decimal context every payout is computed in: results never depend on a caller's settings."""
    return Context(prec=28)


# -- what a plan reads -------------------------------------------------------------------------------
def plan_metrics(plan: Plan) -> set[str]:
    """Every metric column a plan reads (derived metrics expanded to their parts)."""
    names: set[str] = set()
    used_indicators = {i for seg in plan.segments.values() if seg.scorecard for i in seg.scorecard.weights}
    for ind_id in used_indicators:
        ind = plan.indicators[ind_id]
        names.add(ind.metric)
        if ind.target is not None and ind.target.metric:
            names.add(ind.target.metric)
    for seg in plan.segments.values():
        if seg.commission:
            names.add(seg.commission.base)
            if seg.commission.on == "attainment" and seg.commission.target.metric:
                names.add(seg.commission.target.metric)
            names |= commission_columns(seg.commission)
        if seg.growth_bonus:
            g = seg.growth_bonus
            names |= {g.metric, f"{g.metric}_last_year" if g.basis == "yoy" else f"{g.metric}_trailing6_mean"}
        if seg.team_bonus:
            names |= {"team_revenue_growth_yoy"}
        if seg.satisfaction_gate:
            names.add(seg.satisfaction_gate.metric)
        if seg.combined_task:
            for part in seg.combined_task.parts.values():
                names.add(part.metric)
                if part.target.metric:
                    names.add(part.target.metric)
                if part.capacity:
                    names.add(capacity_column(part.metric, part.capacity.months))
                if part.counted_up_to:
                    names |= {part.counted_up_to.of, part.counted_up_to.portion or part.metric}
    for name in list(names):
        if name in DERIVED:
            names |= set(DERIVED[name][0])
    return names


# -- core: one employee-period -------------------------------------------------------------------------
def compute(
    plan: Plan,
    seg_id: str,
    values: Values,
    *,
    role: str,
    team_id: str | None,
    orders: Iterable[tuple[str, Decimal]] = (),
    credits: list[dict] | None = None,
    spiff_orders: Iterable[SpiffOrder] = (),
    draw_opening: Decimal = ZERO,
) -> Result:
    """Scorecard and payout lines of one employee-period from its exact values."""
    seg = plan.segments[seg_id]
    with localcontext(decimal_context()):
        card = scorecard(plan, seg_id, values)
        lines = []
        base_value = None
        if seg.base_bonus:
            lines.append(base_bonus_line(plan, seg_id, card["total"] if card else None))
            base_value = lines[-1].value
        if seg.commission:
            lines += commission_lines(plan, seg_id, values)
        if seg.growth_bonus:
            lines.append(growth_line(plan, seg_id, values, base_value))
        if seg.team_bonus:
            lines.append(team_line(plan, seg_id, values, base_value))
        if seg.milestone_bonus:
            lines.append(milestone_line(plan, seg_id, list(orders)))
        if seg.combined_task:
            lines.append(combined_task_line(plan, seg_id, values))
        if seg.spiffs:
            lines.append(spiff_line(plan, seg_id, list(spiff_orders)))
        if seg.satisfaction_gate:
            lines.append(satisfaction_gate_line(plan, seg_id, values, list(lines)))
        if seg.draw:  # after the gate: an advance against commission is not a bonus the gate deducts from
            commission = next((ln.value for ln in lines if ln.name == "commission"), ZERO)
            lines += draw_lines(plan, seg_id, commission, draw_opening)
        total = sum((ln.value for ln in lines), ZERO)
    return Result(values.employee_id, values.period, role, team_id, seg_id, card, lines, total, credits or [])


def evaluate_values(
    plan: Plan | str,
    values: Mapping[str, object],
    *,
    role: str = "sales",
    tenure_months: int = 12,
    segment: str | None = None,
    orders: Iterable[tuple[str, object]] = (),
    employee_id: str = "what-if",
    period: str = "what-if",
    spiff_orders: Iterable[SpiffOrder] = (),
    draw_opening: Decimal = ZERO,
) -> Result:
    """Score plain metric values (no dataset): e.g. {'revenue': 130000, 'revenue_target': 100000}.

    `spiff_orders` are the credited orders SPIFFs may pay on; `draw_opening` the draw balance (money)
    carried into the period.
    """
    plan = load_plan(plan)
    seg_id = segment or plan.segment_for(role, tenure_months)
    if seg_id is None or seg_id not in plan.segments:
        wanted = f"named {segment}" if segment else f"selects role {role!r} at tenure {tenure_months}"
        raise PlanError(f"plan {plan.id}: no segment {wanted}")
    vals = Values(employee_id, period, {}).override(values)
    amounts = []
    for oid, a in orders:
        amount = as_decimal(a)
        if amount is None:
            raise PlanError(f"orders: order {oid} has no amount (got {a!r})")
        amounts.append((oid, amount))
    return compute(
        plan,
        seg_id,
        vals,
        role=role,
        team_id=None,
        orders=amounts,
        spiff_orders=spiff_orders,
        draw_opening=draw_opening,
    )


# -- over a dataset ------------------------------------------------------------------------------------
def evaluate(
    plan: Plan | str,
    dataset,
    periods: str | Iterable[str],
    *,
    scores: pd.DataFrame | None = None,
    reviews: Mapping[str, str] | None = None,
    employee_ids: Iterable[str] | None = None,
    overrides: Mapping[str, object] | None = None,
    source_rows: bool | None = None,
) -> BonusRun:
    """Scorecards and payouts with traces for every employee employed in `periods`.

    `source_rows`: read the source rows behind every metric in the metrics pass (True: for a run whose
    every trace is rendered, e.g. a written file), or only when a trace is first read (False); by
    default True for named `employee_ids` (an explanation, a what-if), else False. `evaluate_stream`
    collected: this holds every result in memory.
    """
    return evaluate_stream(
        plan,
        dataset,
        periods,
        scores=scores,
        reviews=reviews,
        employee_ids=employee_ids,
        overrides=overrides,
        source_rows=source_rows,
    ).collect()


def evaluate_stream(
    plan: Plan | str,
    dataset,
    periods: str | Iterable[str],
    *,
    scores: pd.DataFrame | None = None,
    reviews: Mapping[str, str] | None = None,
    employee_ids: Iterable[str] | None = None,
    overrides: Mapping[str, object] | None = None,
    source_rows: bool | None = None,
) -> RunStream:
    """`evaluate` as a stream: crediting once for the run, metrics in one pass per block of up to 12 months,
    results period by period, computed as the stream is read (`RunStream.write_json` holds a few hundred at
    a time).

    A dataset with order adjustments is evaluated as known at each period's end (see
    `perfml.rules.adjustments`), in memory.
    """
    plan = load_plan(plan)
    periods = run_periods(plan, periods)
    employee_ids = None if employee_ids is None else list(employee_ids)
    if dataset.has("order_adjustments"):  # each period on the data known at its end, clawbacks for later ones
        run = evaluate_as_known(
            evaluate,
            plan,
            dataset,
            periods,
            needed=plan_metrics(plan),
            scores=scores,
            reviews=reviews,
            employee_ids=employee_ids,
            overrides=overrides,
        )
        return RunStream(run.plan, run.periods, run.currency, run.data, run.holds, iter([(run.results, run.skipped)]))
    prepared = prepare_run(plan, dataset, periods, scores=scores, reviews=reviews)
    # Read in the metrics pass, source rows cost little; read later, the ledger is rebuilt rather than kept.
    eager = source_rows if source_rows is not None else employee_ids is not None
    parts = (
        part
        for block in period_blocks(periods)
        for part in _evaluate_block(plan, dataset, prepared, block, employee_ids, overrides, eager)
    )
    return RunStream(prepared.plan_header, periods, plan.currency, prepared.data, prepared.holds, parts)


@dataclass
class PreparedRun:
    """What a run computes once before its periods: the credit ledger (from 12 months before the first
    period) and the run file's header parts."""

    ledger: pd.DataFrame
    ledger_of_run: Callable[[], pd.DataFrame]  # rebuilds the ledger from the same inputs (for lazy traces)
    needed: set[str]
    plan_header: dict
    data: dict
    holds: list


def prepare_run(plan: Plan, dataset, periods: list[str], *, scores=None, reviews=None) -> PreparedRun:
    """The credit ledger and header of a run over sorted `periods` (checked against the plan's dates)."""
    lo = parse_period(periods[0])
    # Copies: a trace read later rebuilds the ledger from exactly these inputs.
    scores = scores.copy() if scores is not None else None
    reviews = dict(reviews) if reviews is not None else None

    def ledger_of_run() -> pd.DataFrame:
        # Rows from lo - 12 are read: the periods' growth and the lagged plan metrics need no more.
        since = period_label(lo - HISTORY_MONTHS)
        return credit_ledger(
            dataset,
            plan.crediting,
            currency=plan.currency,
            rounding=plan.rounding,
            scores=scores,
            reviews=reviews,
            since=since,
        )

    ledger = ledger_of_run()
    release_freed_memory()
    return PreparedRun(
        ledger=ledger,
        ledger_of_run=ledger_of_run,
        needed=plan_metrics(plan),
        plan_header={
            "id": plan.id,
            "version": plan.version,
            "name": plan.name,
            "hash": plan_hash(plan),
            "effective_from": str(plan.effective_from),
            "effective_to": str(plan.effective_to) if plan.effective_to else None,
        },
        data={
            "fingerprint": dataset.fingerprint(),
            "scores": _scores_fingerprint(scores),
            "reviews": dict(sorted((reviews or {}).items())),
        },
        holds=holds(ledger, periods, plan.crediting.hold_threshold),
    )


BLOCK_MONTHS = 12
"""Periods whose metrics are computed in one pass: one pass reads each month once (12 monthly passes would
read every month 13 times), and a block's metric table is a few columns per employee-month."""


def period_blocks(periods: list[str]) -> list[list[str]]:
    """Sorted periods cut into runs spanning at most `BLOCK_MONTHS` months."""
    blocks: list[list[str]] = []
    for p in periods:
        if blocks and parse_period(p) - parse_period(blocks[-1][0]) < BLOCK_MONTHS:
            blocks[-1].append(p)
        else:
            blocks.append([p])
    return blocks


def _evaluate_block(
    plan: Plan,
    dataset,
    prepared: PreparedRun,
    block: list[str],
    employee_ids: list[str] | None,
    overrides,
    eager: bool,
) -> Iterator[tuple[Iterator[Result], list]]:
    """(results, skipped) of each period of `block`, in order: metrics in one pass for the block, results
    computed as they are read."""
    for part in period_slices(plan, dataset, prepared.ledger, prepared.needed, block, employee_ids, eager=eager):
        yield _evaluate_period(plan, dataset, prepared, part, employee_ids, overrides)


@dataclass
class PeriodSlice:
    """One period's rows of a block's metric pass: metric rows (period then employee order), their exact
    money units (10**-digits), the source rows behind them when read eagerly, the days paid and the
    period's rows of the credit ledger."""

    period: str
    rows: pd.DataFrame
    units: pd.DataFrame
    digits: int
    evidence: Evidence | None
    shares: list[DayShare]
    credited: pd.DataFrame


def period_slices(
    plan: Plan,
    dataset,
    ledger: pd.DataFrame,
    needed: set[str],
    block: list[str],
    employee_ids: list[str] | None,
    *,
    eager: bool,
) -> Iterator[PeriodSlice]:
    """Each period of `block` with its rows, from one metrics pass over the block."""
    rows, units, digits, evidence = _values_frame(dataset, ledger, needed, block, employee_ids, with_evidence=eager)
    release_freed_memory()  # the metrics pass's temporaries: results of the block's periods reuse the pages
    shares = day_shares(rows, dataset, plan)
    bounds = np.searchsorted(rows["period"].to_numpy(str), block + [chr(0x10FFFF)])  # rows are period-sorted
    in_block = ledger[isin(ledger["period"], block)]  # each period's credits are read from these rows
    for period, lo, hi in zip(block, bounds[:-1], bounds[1:], strict=True):
        credited = in_block[(in_block["period"] == period).to_numpy(bool)]
        yield PeriodSlice(period, rows.iloc[lo:hi], units.iloc[lo:hi], digits, evidence, shares[lo:hi], credited)


def _evaluate_period(
    plan: Plan,
    dataset,
    prepared: PreparedRun,
    part: PeriodSlice,
    employee_ids: list[str] | None,
    overrides,
) -> tuple[Iterator[Result], list]:
    """Results and skipped rows of one period (`part`) of a prepared run."""
    ledger, needed = prepared.ledger, prepared.needed
    periods = [part.period]
    evaluated = set(part.rows["employee_id"].tolist())
    evidence = part.evidence

    def rows_behind() -> dict:
        if evidence is not None:  # read in the block's metrics pass: this period's rows as lists, now
            return evidence.mapping(evaluated, _evidence_periods(needed, periods))
        return _evidence(dataset, prepared.ledger_of_run(), needed, periods, evaluated)

    provenance = RunProvenance(frozenset(part.rows.columns), rows_behind, more=cumulative_input)
    skipped: list = []
    stream = result_stream(
        plan,
        part.rows,
        part.units,
        part.digits,
        needed,
        provenance,
        skipped=skipped,
        overrides=overrides,
        not_tracked=untracked_metrics(dataset),
        milestone_orders=milestone_orders(plan, part.credited, periods),
        notes=credit_notes(part.credited, plan.currency),
        spiffs=spiff_orders(plan, part.credited, dataset.orders, periods),
        draw_openings=draw_openings(plan, dataset, ledger, needed, periods, employee_ids),
        shares=part.shares,
    )
    return stream, skipped


def _values_frame(
    dataset, ledger: pd.DataFrame, needed: set[str], periods: list[str], employee_ids, *, with_evidence: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame, int, Evidence | None]:
    """Metric rows of the periods (with history columns) in (period, employee_id) order, their exact money
    units, and (`with_evidence`) the source rows behind them (see `_evidence`), read in the same pass."""
    lo, hi = parse_period(periods[0]), parse_period(periods[-1])
    table, evidence_rows = metric_table_and_evidence(
        dataset,
        periods=[period_label(i) for i in range(lo - HISTORY_MONTHS, hi + 1)],
        crediting=ledger,
        evidence_metrics=_evidence_metrics(needed) if with_evidence else (),
        evidence_periods=_evidence_periods(needed, periods) if with_evidence else (),
        look_back=0,
    )
    # Only the plan's columns travel on (each step below copies the frame); row order is kept, so `units`
    # stays aligned.
    frame = _with_history(table.frame[[c for c in table.frame.columns if c in ROW_KEYS or c in needed]], needed)
    keep = frame["period"].isin(periods)
    if employee_ids is not None:
        keep &= isin(frame["employee_id"], employee_ids)
    rows = with_cumulative_columns(frame, table.units, table.digits, needed, keep)
    units = table.units[keep.to_numpy()]
    # The metrics layer orders by employee then period; results are reported by period then employee.
    order = np.lexsort((rows["employee_id"].to_numpy(str), rows["period"].to_numpy(str)))
    rows, units = rows.iloc[order], units.iloc[order]
    return rows, units, table.digits, evidence_rows if with_evidence else None


def _evidence(dataset, ledger: pd.DataFrame, needed: set[str], periods: list[str], employees: set[str]) -> dict:
    """{(employee_id, period, metric): (table, row ids)} behind the run's row-counted metrics (for traces)."""
    months = _evidence_periods(needed, periods)
    rows = evidence_of_months(dataset, periods=months, metrics=_evidence_metrics(needed), crediting=ledger)
    return rows.mapping(employees, months)


def _evaluate_rows(
    plan: Plan,
    rows: pd.DataFrame,
    units: pd.DataFrame,
    digits: int,
    needed: set[str],
    provenance: RunProvenance,
    **options,
) -> tuple[list, list]:
    """`result_stream` collected: (results, skipped) as lists."""
    skipped: list = []
    return list(result_stream(plan, rows, units, digits, needed, provenance, skipped=skipped, **options)), skipped


def exact_columns(rows: pd.DataFrame, units: pd.DataFrame, digits: int, needed: set[str]) -> dict[str, list]:
    """The plan's metric columns as exact values per row: Decimal or None (money from integer units)."""
    return {name: values.tolist() for name, values in exact_arrays(rows, units, digits, needed).items()}


def exact_arrays(rows: pd.DataFrame, units: pd.DataFrame, digits: int, needed: set[str]) -> dict[str, np.ndarray]:
    """`exact_columns` as object arrays. Each distinct value is converted once: counts and targets repeat."""
    with localcontext(decimal_context()), collector_paused():
        columns = {c: _exact(rows[c], as_decimal) for c in needed if c in rows.columns and c not in MONEY}
        for c in MONEY:
            if c in needed and c != "revenue_trailing6_total":
                columns[c] = _exact(units[c], lambda v: from_units(v, digits))
        if "revenue_trailing6_mean" in needed:  # the metrics layer keeps the exact 6-month total
            total = units["revenue_trailing6_total"]
            columns["revenue_trailing6_mean"] = _exact(total, lambda v: from_units(v, digits) / 6)
    return columns


def _exact(column: pd.Series, convert) -> np.ndarray:
    """`convert` applied to each distinct value of a column (None for missing), spread back to its rows."""
    codes, distinct = pd.factorize(column)
    table = np.array([*(convert(v) for v in distinct.tolist()), None], dtype=object)
    return table[codes]  # code -1 (missing) picks the trailing None


RESULT_CHUNK = 500
"""Results computed per step of a stream: enough to amortise the exact-decimal context, few enough that a
period's results never sit in memory together (a result with its trace is ~12 KB)."""


def result_stream(
    plan: Plan,
    rows: pd.DataFrame,
    units: pd.DataFrame,
    digits: int,
    needed: set[str],
    provenance: RunProvenance,
    *,
    skipped: list,
    overrides,
    milestone_orders: dict,
    notes: dict,
    not_tracked: frozenset[str] = frozenset(),
    spiffs: dict | None = None,
    draw_openings: dict | None = None,
    shares: list[DayShare] | None = None,
) -> Iterator[Result]:
    """One `compute` per row, in the rows' order; the rows no segment selects or the plan does not pay are
    appended to `skipped` as the stream is read (`shares`: days paid under the plan, see
    `perfml.rules.proration`). The decimal context and the paused collector are entered per chunk, so a
    reader between two results runs under its own settings."""
    prorated: dict[tuple[str, int, int], Plan] = {}
    columns = exact_columns(rows, units, digits, needed)
    names = list(columns)
    segments: dict[tuple[str, int], str | None] = {}
    each_row = zip(
        rows["employee_id"].tolist(),
        rows["period"].tolist(),
        rows["role"].tolist(),
        rows["team_id"].tolist(),
        rows["tenure_months"].tolist(),
        shares if shares else [None] * len(rows),
        *columns.values(),
        strict=True,
    )
    for _ in range(0, len(rows), RESULT_CHUNK):
        results = []
        with localcontext(decimal_context()), collector_paused():
            for emp, period, role, team, tenure, share, *metric_values in islice(each_row, RESULT_CHUNK):
                if share is not None and share.skip:
                    skipped.append({"employee_id": emp, "period": period, "reason": share.skip})
                    continue
                key = (role, int(tenure))
                if key not in segments:
                    segments[key] = plan.segment_for(*key)
                seg_id = segments[key]
                if seg_id is None:
                    skipped.append(
                        {
                            "employee_id": emp,
                            "period": period,
                            "reason": f"no segment selects role {role} at tenure {int(tenure)} months",
                        }
                    )
                    continue
                data = dict(zip(names, metric_values, strict=True))
                paid_by = plan
                if share is not None and share.partial:
                    data = prorated_targets(data, share.days, share.of)
                    cut = (seg_id, share.days, share.of)
                    if cut not in prorated:
                        prorated[cut] = prorated_plan(plan, *cut)
                    paid_by = prorated[cut]
                    provenance.target_notes[(emp, period)] = share.target_note
                values = Values(emp, period, data, provenance, not_tracked)
                if overrides:
                    values = values.override(overrides)
                results.append(
                    compute(
                        paid_by,
                        seg_id,
                        values,
                        role=role,
                        team_id=team,
                        orders=milestone_orders.get((emp, period), ()),
                        credits=notes.get((emp, period)),
                        spiff_orders=(spiffs or {}).get((emp, period), ()),
                        draw_opening=(draw_openings or {}).get((emp, period), ZERO),
                    )
                )
                if share is not None and share.note:
                    note_share(results[-1], share, plan.segments[seg_id])
        yield from results


OVERRIDE_MAX = Decimal(int(MONEY_MAX))
OVERRIDE_DECIMALS = MONEY_PLACES
"""What-if values obey the contract's bounds on money: at most 1e12 in magnitude, at most 6 decimal places."""


class InvalidOverrides(PlanError):
    """What-if values outside what a metric can hold: `problems` maps each metric to why."""

    def __init__(self, problems: Mapping[str, str]):
        self.problems = dict(problems)
        super().__init__("overrides: " + "; ".join(f"{k}: {v}" for k, v in self.problems.items()))


def _exponent(d: Decimal) -> int:
    """Exponent of a finite Decimal in its shortest form (e.g. -2 for 1.25)."""
    exponent = d.normalize().as_tuple().exponent
    if not isinstance(exponent, int):  # 'n', 'N' or 'F': NaN or infinity, refused before this is asked
        raise ValueError(f"{d} is not finite")
    return exponent


def override_problems(overrides: Mapping[str, object]) -> dict[str, str]:
    """metric -> why its what-if value is refused (not a finite number, too large, too many decimals)."""
    out = {}
    for name, value in overrides.items():
        try:
            d = Decimal(str(value))
        except (ArithmeticError, ValueError, TypeError):
            out[name] = f"{value!r} is not a number"
            continue
        if not d.is_finite():
            out[name] = f"{value!r} is not a finite number"
        elif abs(d) > OVERRIDE_MAX:
            out[name] = f"{value!r} is out of range (at most {OVERRIDE_MAX:.0E} in magnitude)"
        elif d != 0 and _exponent(d) < -OVERRIDE_DECIMALS:
            out[name] = f"{value!r} has more than {OVERRIDE_DECIMALS} decimal places"
    return out


def what_if(
    plan: Plan | str,
    dataset,
    *,
    employee_id: str,
    period: str,
    overrides: Mapping[str, object],
    scores: pd.DataFrame | None = None,
    reviews: Mapping[str, str] | None = None,
) -> Result:
    """One employee-period re-evaluated with some metric values replaced (derived metrics follow).

    `InvalidOverrides` for a value no metric can hold (see `override_problems`), also when the
    overridden values drive a computation out of the exact decimal range.
    """
    problems = override_problems(overrides)
    if problems:
        raise InvalidOverrides(problems)
    try:
        run = evaluate(
            plan, dataset, period, scores=scores, reviews=reviews, employee_ids=[employee_id], overrides=overrides
        )
    except ArithmeticError as exc:  # decimal.InvalidOperation / Overflow: e.g. a ratio too large to round
        raise InvalidOverrides(
            {
                name: f"{value!r} makes the plan's arithmetic overflow ({type(exc).__name__})"
                for name, value in overrides.items()
            }
        ) from None
    result = run.result(employee_id, period)
    if result is None:
        raise PlanError(f"{employee_id} is not evaluated in {period} (not employed, or no segment selects them)")
    return result


# -- helpers -----------------------------------------------------------------------------------------
def run_periods(plan: Plan, periods: str | Iterable[str]) -> list[str]:
    """The periods of a run, sorted and each checked against the plan's effective dates."""
    out = sorted({periods} if isinstance(periods, str) else set(periods), key=parse_period)
    if not out:
        raise PlanError("no period to evaluate")
    for p in out:
        _check_effective(plan, p)
    return out


def _check_effective(plan: Plan, period: str) -> None:
    p = parse_period(period)
    start = period_index(plan.effective_from)
    if p < start:
        raise PlanError(
            f"plan {plan.id} v{plan.version} takes effect {plan.effective_from}; period {period} is before it"
        )
    if plan.effective_to is not None and p > period_index(plan.effective_to):
        raise PlanError(f"plan {plan.id} v{plan.version} ended {plan.effective_to}; period {period} is after it")


def _with_history(frame: pd.DataFrame, needed: set[str]) -> pd.DataFrame:
    """Add `<m>_last_year`, `<m>_trailing6_mean` and `<m>_best<N>` columns the plan reads (vectorised).

    `frame` is sorted by employee and period (as the metrics layer returns it); its order is kept.
    """
    frame = frame.copy()
    by = frame.groupby("employee_id", sort=False)
    for name in sorted(needed):
        if name in frame.columns:
            continue
        for suffix, months, how in (("_last_year", 12, "last"), ("_trailing6_mean", 6, "mean")):
            metric = name[: -len(suffix)] if name.endswith(suffix) else None
            if metric and metric in frame.columns:
                frame[name] = _lagged(frame, by, metric, months, how)
        if "_best" in name:
            metric, _, n = name.rpartition("_best")
            if metric in frame.columns and n.isdigit():
                frame[name] = _lagged(frame, by, metric, int(n), "max")
    return frame


def _lagged(frame: pd.DataFrame, by, metric: str, months: int, how: str) -> pd.Series:
    # Employment months are contiguous per employee, so k rows back within a group is k months back.
    if how == "last":
        lag = by[metric].shift(12)
        back = by["period"].shift(12)
        expect = (frame["period"].str[:4].astype(int) - 1).astype(str).str.zfill(4) + frame["period"].str[4:]
        return lag.where(back == expect)
    lags = pd.concat([by[metric].shift(k) for k in range(1, months + 1)], axis=1)
    return lags.mean(axis=1, skipna=False) if how == "mean" else lags.max(axis=1, skipna=True)


def _evidence_metrics(needed: set[str]) -> list[str]:
    """Row-counted metrics whose source rows the trace cites."""
    wanted = set()
    for name in needed:
        wanted |= set(DERIVED_FROM.get(name, (name,)))
    if "revenue_last_year" in needed:
        wanted.add("revenue")
    return sorted(wanted & set(ROW_SOURCES))


def _evidence_periods(needed: set[str], periods: list[str]) -> list[str]:
    """The evaluated periods, plus a year earlier when last year's revenue is an input."""
    out = set(periods)
    if "revenue_last_year" in needed:
        out |= {period_label(parse_period(p) - 12) for p in periods}
    return sorted(out)


def milestone_orders(plan: Plan, ledger: pd.DataFrame, periods: list[str]) -> dict:
    """(employee_id, period) -> [(order_id, amount)] of credited orders large enough for any milestone.

    Read like every count of the metrics layer: once per employee credited a positive share of the
    order (each holder of a split; nobody for a held share), at the whole order's amount in the
    plan's currency (a milestone is about the size of the deal)."""
    mins = [s.milestone_bonus.min_order for s in plan.segments.values() if s.milestone_bonus]
    if not mins:
        return {}
    rows = ledger[
        ledger["period"].isin(periods)
        & ledger["employee_id"].notna()
        & (ledger["share_bp"] > 0)
        & (ledger["amount"] >= float(min(mins)) * (1 - 1e-12))
    ].drop_duplicates(["employee_id", "order_id"])
    out: dict = {}
    for r in rows.sort_values("order_id").to_dict("records"):
        out.setdefault((r["employee_id"], r["period"]), []).append((r["order_id"], to_decimal(float(r["amount"]))))
    return out


def draw_openings(plan: Plan, dataset, ledger: pd.DataFrame, needed: set[str], periods: list[str], employee_ids):
    """(employee_id, period) -> draw balance (money) carried into the period, from the earlier months' commission."""
    if not any(seg.draw for seg in plan.segments.values()):
        return {}
    start = parse_period(min(balance_start(plan, p) for p in periods))
    earlier = [period_label(i) for i in range(start, parse_period(periods[-1]))]
    if not earlier:
        return {}
    rows, units, digits, _ = _values_frame(dataset, ledger, needed, earlier, employee_ids)
    no_traces = RunProvenance(frozenset(rows.columns), dict)  # only the commission values are read
    results, _ = _evaluate_rows(
        plan, rows, units, digits, needed, no_traces, overrides=None, milestone_orders={}, notes={}
    )
    commissions: dict[str, list] = {}
    for r in results:
        line = r.line("commission")
        commissions.setdefault(r.employee_id, []).append((r.period, r.segment, line.value if line else ZERO))
    wanted = {(emp, p) for emp in commissions for p in periods}
    return opening_balances(plan, commissions, wanted)


def _scores_fingerprint(scores: pd.DataFrame | None) -> str | None:
    """Content hash (sha256 hex) of the (change_id, score) pairs, whatever their order."""
    if scores is None:
        return None
    ordered = scores.sort_values("change_id", kind="stable")
    h = hashlib.sha256()
    for column in ("change_id", "score"):
        for part in column_bytes(ordered[column].astype("string" if column == "change_id" else "float64")):
            h.update(part)
    return h.hexdigest()
