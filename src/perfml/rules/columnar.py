"""Pay runs as columns: payroll's fast path, one Parquet row per employee-period.

`evaluate_columns` computes the same numbers as `evaluate` (scorecard total, every line, total), a
segment at a time over whole columns (`perfml.rules.vector`), and keeps per row what a trace is
rendered from: the metric values the plan read. A row whose segment needs a rule the column path
does not have (SPIFFs, draws, cumulative commission), that is prorated, or that carries a note, goes
through the per-row engine and lands in the same table. A dataset with order adjustments is
evaluated by the per-row engine as a whole (`evaluate`, each period as known at its end) and written
in the same format, without metric columns or credit rows.

File format (`ColumnRun.write(path)`, a Parquet file; the run header as JSON in its key-value
metadata under `perfml.run`, the same header `BonusRun.write_json` writes, with the summary):

    employee_id, period, role, team_id, segment      strings
    scorecard_total                                  decimal (points, 0.01; null without a scorecard)
    score.<indicator> ...                            decimal (points, 0.01; null: left out, or not on the card)
    <line name> ...                                  decimal (money at the plan's rounding; null: no such line)
    total                                            decimal (money)
    notes                                            list of strings (prorated or assigned rows)
    metric.<name> ...                                each metric the plan read: money as decimal, others as
                                                     the metrics layer gives them (exact Decimal via `as_decimal`)

and beside it `<stem>.credits.parquet`: the credit ledger rows the readable trace explains (transfers,
releases, voids, remainders, split shares, converted orders; `perfml.rules.crediting.credit_notes` renders
them). The readable trace of one row is rendered on demand by the per-row engine (`perfml bonus explain`),
from the same plan and data the header fingerprints.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from perfml.errors import PerfmlError
from perfml.files import staged_file
from perfml.frames import release_freed_memory
from perfml.metrics import MONEY, untracked_metrics
from perfml.rules.crediting import explained_credits
from perfml.rules.engine import (
    PeriodSlice,
    decimal_context,
    draw_openings,
    evaluate,
    exact_arrays,
    milestone_orders,
    period_blocks,
    period_slices,
    prepare_run,
    result_stream,
    run_periods,
)
from perfml.rules.loading import load_plan
from perfml.rules.plan import Plan
from perfml.rules.spiff import spiff_orders
from perfml.rules.trace import LINE_ORDER, BonusRun, Result, collector_paused, run_header, run_summary
from perfml.rules.values import RunProvenance
from perfml.rules.vector import Col, Columns, SegmentLines, segment_lines, supports

RUN_KEY = b"perfml.run"
CREDIT_COLUMNS = (
    "order_id",
    "employee_id",
    "period",
    "status",
    "change_id",
    "customer_id",
    "from_employee_id",
    "to_employee_id",
    "share_bp",
    "split_bp",
    "amount",
    "currency",
    "amount_original",
    "fx_rate",
    "fx_date",
)


MONEY_SCALE = 6  # money metrics are stored at 10**-6, the finest the data contract allows: one schema for a run
LINE_RANK = {name: i for i, name in enumerate(LINE_ORDER)}
NOT_LINES = {"employee_id", "period", "role", "team_id", "segment", "scorecard_total", "total", "notes"}


def is_line_column(name: str) -> bool:
    """Whether a run file's column holds a line's values (not identity, totals, notes, scores or metrics)."""
    return name not in NOT_LINES and "." not in name


@dataclass
class ColumnRun:
    """A run's header and, per period as it is computed, (results table, credits frame, skipped rows)."""

    plan: dict
    periods: list[str]
    currency: str
    data: dict
    holds: list
    parts: Iterator[tuple[pa.Table, pd.DataFrame, list[dict]]]

    def write(self, path: str | Path) -> dict:
        """Write the results to `path` (Parquet) and the credits beside it (`<stem>.credits.parquet`), each
        written to a temporary file renamed into place (0600); returns the run's summary."""
        path = Path(path)
        credits_path = path.with_name(f"{path.stem}.credits.parquet")
        count, total, skipped = 0, Decimal(0), []
        with staged_file(path) as results_tmp, staged_file(credits_path) as credits_tmp:
            results_out, credits_out = _Writer(results_tmp), _Writer(credits_tmp)
            for table, credits, part_skipped in self.parts:
                results_out.write(table)
                credits_out.write(pa.Table.from_pandas(credits, preserve_index=False))
                count += len(table)
                total += pc.sum(table["total"]).as_py() or Decimal(0)  # exact: decimal128 adds exactly
                skipped += part_skipped
                release_freed_memory()
            head = BonusRun(self.plan, self.periods, self.currency, self.data, [], self.holds, skipped)
            summary = run_summary(count, total, head)
            header = run_header(head, summary)
            for out in (results_out, credits_out):
                out.close(header)
        return summary


def read_header(path: str | Path) -> dict:
    """The run header (plan, periods, data fingerprint, summary, holds, skipped) of a columnar run file."""
    try:
        metadata = pq.read_metadata(path).metadata or {}
    except (OSError, pa.ArrowException) as exc:
        raise PerfmlError(f"{path}: cannot read a run file ({exc})") from None
    if RUN_KEY not in metadata:
        raise PerfmlError(f"{path}: not a perfml run file (no {RUN_KEY.decode()} metadata)")
    return json.loads(metadata[RUN_KEY])


def stored_row(path: str | Path, employee_id: str, period: str) -> dict | None:
    """One employee-period's row of a run file (None when the run has none)."""
    rows = pq.read_table(path, filters=[("employee_id", "=", employee_id), ("period", "=", period)]).to_pylist()
    return rows[0] if rows else None


def disagreements(path: str | Path, run_plan: dict, run_data: dict, result: Result) -> list[str]:
    """How a result re-evaluated for its trace differs from its row in the run file at `path` (plan, data or a
    number); empty when the trace explains the stored numbers."""
    header = read_header(path)
    out = []
    if header["plan"]["hash"] != run_plan["hash"]:
        plan = header["plan"]
        out.append(f"plan: the file was computed by {plan['id']} v{plan['version']} (sha256 {plan['hash'][:12]}…)")
    if header["data"] != run_data:
        fingerprint = header["data"]["fingerprint"][:12]
        out.append(f"data: the file was computed from other data, scores or reviews (fingerprint {fingerprint}…)")
    row = stored_row(path, result.employee_id, result.period)
    if row is None:
        return out + [f"{result.employee_id} has no row for {result.period} in the file"]
    stored = {k: v for k, v in row.items() if is_line_column(k) and v is not None}
    computed = {line.name: line.value for line in result.lines}
    for name in sorted(stored.keys() | computed.keys(), key=_line_rank):
        if stored.get(name) != computed.get(name):
            out.append(f"{name}: the file has {stored.get(name)}, the trace computes {computed.get(name)}")
    if row["scorecard_total"] != result.scorecard_total:
        out.append(
            f"scorecard_total: the file has {row['scorecard_total']}, the trace computes {result.scorecard_total}"
        )
    if row["total"] != result.total:
        out.append(f"total: the file has {row['total']}, the trace computes {result.total}")
    return out


def evaluate_columns(
    plan: Plan | str,
    dataset,
    periods: str | Iterable[str],
    *,
    scores: pd.DataFrame | None = None,
    reviews: Mapping[str, str] | None = None,
) -> ColumnRun:
    """`evaluate` as columns: per period an Arrow table of every employee-period's numbers (see the module)."""
    plan = load_plan(plan)
    periods = run_periods(plan, periods)
    names = plan_lines(plan)
    if dataset.has("order_adjustments"):  # each period on the data known at its end: the per-row engine
        run = evaluate(plan, dataset, periods, scores=scores, reviews=reviews)
        table = _results_table(plan, run.results, names | {"clawback"})
        parts = iter([(table, pd.DataFrame(columns=list(CREDIT_COLUMNS)), run.skipped)])
        return ColumnRun(run.plan, run.periods, run.currency, run.data, run.holds, parts)
    prepared = prepare_run(plan, dataset, periods, scores=scores, reviews=reviews)
    not_tracked = untracked_metrics(dataset)
    parts = (
        _period_table(plan, dataset, prepared.ledger, prepared.needed, part, not_tracked, names)
        for block in period_blocks(periods)
        for part in period_slices(plan, dataset, prepared.ledger, prepared.needed, block, None, eager=False)
    )
    return ColumnRun(prepared.plan_header, periods, plan.currency, prepared.data, prepared.holds, parts)


def plan_lines(plan: Plan) -> set[str]:
    """Every line a plan's segments can pay (a run file has a column for each)."""
    names: set[str] = set()
    for seg in plan.segments.values():
        parts = {
            "base_bonus": seg.base_bonus,
            "commission": seg.commission,
            "true_up": seg.commission and seg.commission.true_up,
            "growth_bonus": seg.growth_bonus,
            "team_bonus": seg.team_bonus,
            "milestone_bonus": seg.milestone_bonus,
            "combined_task": seg.combined_task,
            "spiff": seg.spiffs,
            "satisfaction_gate": seg.satisfaction_gate,
            "draw": seg.draw,
            "draw_recovery": seg.draw,
        }
        names |= {name for name, present in parts.items() if present}
    return names


def _period_table(
    plan: Plan,
    dataset,
    ledger: pd.DataFrame,
    needed: set[str],
    part: PeriodSlice,
    not_tracked: frozenset[str],
    names: set[str],
) -> tuple[pa.Table, pd.DataFrame, list[dict]]:
    """One period's results table, credits and skipped rows."""
    rows, period = part.rows, part.period
    employees, roles, tenures = (rows[c].tolist() for c in ("employee_id", "role", "tenure_months"))
    exact = exact_arrays(rows, part.units, part.digits, needed)
    segments = _segments(plan, rows)
    skipped: list[dict] = []
    in_columns = {seg_id: supports(seg) for seg_id, seg in plan.segments.items()}
    by_row = np.zeros(len(rows), bool)  # rows for the per-row engine
    for i, (share, seg_id) in enumerate(zip(part.shares, segments, strict=True)):
        if share.skip:
            skipped.append({"employee_id": employees[i], "period": period, "reason": share.skip})
        elif seg_id is None:
            reason = f"no segment selects role {roles[i]} at tenure {int(tenures[i])} months"
            skipped.append({"employee_id": employees[i], "period": period, "reason": reason})
        else:
            by_row[i] = share.partial or share.note is not None or not in_columns[seg_id]
    paid = np.array([not s.skip and seg is not None for s, seg in zip(part.shares, segments, strict=True)], bool)
    orders = milestone_orders(plan, part.credited, [period])
    out = _Numbers(len(rows), names, plan.indicators)
    with localcontext(decimal_context()), collector_paused():
        whole = {name: Col.of(values) for name, values in exact.items()}
        seg_array = np.array([s or "" for s in segments], dtype=object)
        by_column = paid & ~by_row
        for seg_id in dict.fromkeys(seg_array[by_column].tolist()):
            idx = np.flatnonzero(by_column & (seg_array == seg_id))
            cols = Columns({k: Col(c.d[idx], c.ok[idx]) for k, c in whole.items()}, len(idx), not_tracked)
            amounts = [[a for _, a in orders.get((employees[i], period), ())] for i in idx.tolist()]
            out.put(idx, segment_lines(plan, seg_id, cols, amounts))
    for i, result in _by_row(plan, dataset, ledger, needed, part, np.flatnonzero(paid & by_row), not_tracked, orders):
        out.put_result(i, result)
    keep = np.flatnonzero(paid)
    ident = {c: rows[c].iloc[keep].tolist() for c in ("employee_id", "period", "role", "team_id")}
    ident["segment"] = [segments[i] for i in keep.tolist()]
    table = out.table(plan, ident, keep, _metric_arrays(rows, exact, keep))
    return table, _credits(part.credited), skipped


class _Numbers:
    """The numbers of a period's rows as columns: scorecard total (points), each line's value, total, notes."""

    def __init__(self, n: int, names: set[str], indicators: Iterable[str]):
        self.card = np.full(n, None, dtype=object)
        self.scores = {ind_id: np.full(n, None, dtype=object) for ind_id in indicators}
        self.lines = {name: np.full(n, None, dtype=object) for name in sorted(names, key=_line_rank)}
        self.total = np.full(n, None, dtype=object)
        self.notes = np.full(n, None, dtype=object)

    def put(self, idx: np.ndarray, numbers: SegmentLines) -> None:
        """The numbers of a segment's rows computed over columns."""
        if numbers.card_total is not None:
            self.card[idx] = numbers.card_total
        for ind_id, values in numbers.scores.items():
            self.scores[ind_id][idx] = values
        for name, values in numbers.lines.items():
            self.lines[name][idx] = values
        self.total[idx] = numbers.total

    def put_result(self, i: int, result: Result) -> None:
        """The numbers of one row computed by the per-row engine."""
        self.card[i] = result.scorecard_total
        for row in result.scorecard["indicators"] if result.scorecard else ():
            self.scores[row["id"]][i] = row["score"]  # None when left out
        for line in result.lines:
            self.lines[line.name][i] = line.value
        self.total[i] = result.total
        self.notes[i] = list(result.notes) or None

    def table(self, plan: Plan, ident: dict[str, list], keep: np.ndarray, metrics: dict) -> pa.Table:
        """The results table of the kept rows: identity, scorecard total, a column per line the plan can pay,
        total, notes, then the metric columns."""
        money = pa.decimal128(38, max(-int(plan.rounding.places.as_tuple().exponent), 0))
        columns: dict[str, pa.Array] = {c: pa.array(v, pa.string()) for c, v in ident.items()}
        points = pa.decimal128(38, 2)
        columns["scorecard_total"] = pa.array(self.card[keep].tolist(), points)
        for ind_id, values in self.scores.items():
            columns[f"score.{ind_id}"] = pa.array(values[keep].tolist(), points)
        for name, values in self.lines.items():
            columns[name] = pa.array(values[keep].tolist(), money)
        columns["total"] = pa.array(self.total[keep].tolist(), money)
        columns["notes"] = pa.array(self.notes[keep].tolist(), pa.list_(pa.string()))
        return pa.table({**columns, **metrics})


def _line_rank(name: str) -> tuple[int, str]:
    return (LINE_RANK.get(name, len(LINE_RANK)), name)


def _segments(plan: Plan, rows: pd.DataFrame) -> list[str | None]:
    """The segment of each row, chosen once per (role, tenure)."""
    chosen: dict[tuple[str, int], str | None] = {}
    out = []
    for role, tenure in zip(rows["role"].tolist(), rows["tenure_months"].tolist(), strict=True):
        key = (role, int(tenure))
        if key not in chosen:
            chosen[key] = plan.segment_for(*key)
        out.append(chosen[key])
    return out


def _by_row(plan, dataset, ledger, needed, part: PeriodSlice, idx: np.ndarray, not_tracked, orders):
    """(row, Result) of the rows the per-row engine computes (prorated, noted, or rules without columns)."""
    if not len(idx):
        return
    periods = [part.period]
    stream = result_stream(
        plan,
        part.rows.iloc[idx],
        part.units.iloc[idx],
        part.digits,
        needed,
        RunProvenance(frozenset(part.rows.columns), dict),  # numbers only: traces are rendered on demand
        skipped=[],  # these rows are all paid
        overrides=None,
        not_tracked=not_tracked,
        milestone_orders=orders,
        notes={},
        spiffs=spiff_orders(plan, part.credited, dataset.orders, periods),
        draw_openings=draw_openings(plan, dataset, ledger, needed, periods, None),
        shares=[part.shares[i] for i in idx.tolist()],
    )
    yield from zip(idx.tolist(), stream, strict=True)


def _metric_arrays(rows: pd.DataFrame, exact: dict[str, np.ndarray], keep: np.ndarray) -> dict:
    """`metric.<name>` columns of the kept rows: money as exact decimals, others as the metrics layer has them."""
    out = {}
    for name in sorted(exact):
        if name in MONEY or name not in rows.columns:  # money, or computed here (the trailing 6-month mean)
            picked = exact[name][keep].tolist()
            kind = pa.decimal128(38, MONEY_SCALE) if name in MONEY else pa.string()
            texts = [None if v is None else format(v, "f") for v in picked]  # the trailing 6-month mean: not money
            out[f"metric.{name}"] = pa.array(picked if name in MONEY else texts, kind)
        else:
            column = rows[name].iloc[keep]
            out[f"metric.{name}"] = pa.array(column.to_numpy(dtype="float64", na_value=np.nan), from_pandas=True)
    return out


def _results_table(plan: Plan, results: list[Result], names: set[str]) -> pa.Table:
    """A results table from per-row results (no metric columns)."""
    out = _Numbers(len(results), names | {ln.name for r in results for ln in r.lines}, plan.indicators)
    for i, r in enumerate(results):
        out.put_result(i, r)
    ident: dict[str, list] = {
        "employee_id": [r.employee_id for r in results],
        "period": [r.period for r in results],
        "role": [r.role for r in results],
        "team_id": [r.team_id for r in results],
        "segment": [r.segment for r in results],
    }
    return out.table(plan, ident, np.arange(len(results)), {})


def _credits(credited: pd.DataFrame) -> pd.DataFrame:
    """The period's ledger rows a readable trace explains (`explained_credits`), the columns it reads."""
    rows = explained_credits(credited)
    return rows[[c for c in CREDIT_COLUMNS if c in rows.columns]].reset_index(drop=True)


class _Writer:
    """A Parquet file written table by table; the first table's schema is the file's."""

    def __init__(self, path: Path):
        self.path = path
        self.writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table.cast(self.writer.schema))

    def close(self, header: dict) -> None:
        if self.writer is None:  # no period had rows: an empty file that still says what ran
            self.writer = pq.ParquetWriter(self.path, pa.schema([]))
        self.writer.add_key_value_metadata({RUN_KEY: json.dumps(header, ensure_ascii=False, default=str)})
        self.writer.close()
