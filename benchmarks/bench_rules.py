"""Benchmark the rule engine: scorecards + payouts with traces for >= 100,000 employee-periods.

Builds a synthetic company directly as typed frames (validation is not what is measured), then
evaluates the built-in `sales-default` plan over every month (in one run, or one run per month
with --per-period; a run builds its credit ledger once, its metrics in one pass per block of up to
12 months and its results one period at a time, `evaluate_stream`) and streams each run to JSON
with its CSV summary, by two paths, each in its own subprocess so that peak memory is its own:

- `records`: compact records (`BonusRun.write_json(fh, render=False)`), texts rendered on demand;
- `rendered`: every result's readable trace (formula texts and source row ids of every input), as
  `perfml bonus --out run.json` writes it (`write_json(fh)`);
- `columns`: the column path (`evaluate_columns(...).write(path)`, as `perfml bonus --out run.parquet`
  writes it): numbers a segment at a time over whole columns, one Parquet row per employee-period with
  the metric values its trace is rendered from (the per-row paths above are the old ones).

Prints one JSON object: per path employee-periods per second (end to end wall and CPU: evaluate
plus JSON), JSON bytes and peak resident memory (MB).

    python benchmarks/bench_rules.py            # ~100,800 employee-periods
    python benchmarks/bench_rules.py --quick    # a few thousand, for CI
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from perfml.dataset import Dataset
from perfml.metrics import employee_period_metrics, period_label
from perfml.rules import evaluate_stream, load_plan
from perfml.rules.columnar import evaluate_columns, is_line_column


def synthetic(employees: int, months: int, seed: int = 0) -> tuple[Dataset, list[str]]:
    """A typed Dataset: `months` evaluated months preceded by 12 months of history."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2023-01-01")
    total_months = months + 12
    span = (start + pd.DateOffset(months=total_months) - start).total_seconds()

    def ids(prefix: str, n: int) -> pd.Series:
        return pd.Series([f"{prefix}{i:07d}" for i in range(n)], dtype="string")

    def stamps(n: int) -> pd.Series:
        return pd.Series(start + pd.to_timedelta(rng.uniform(0, span, n), unit="s")).astype("datetime64[ns]")

    emp_ids = ids("E", employees)
    roles = np.where(rng.random(employees) < 0.2, "assistant", "sales")
    hire = start - pd.to_timedelta(rng.integers(0, 2000, employees), unit="D")
    emp = pd.DataFrame(
        {
            "employee_id": emp_ids,
            "role": pd.Series(roles, dtype="string"),
            "team_id": pd.Series([f"T{i // 10:04d}" for i in range(employees)], dtype="string"),
            "manager_id": pd.Series([pd.NA] * employees, dtype="string"),
            "hire_date": pd.Series(hire).astype("datetime64[ns]"),
            "probation_end_date": pd.Series(hire + pd.Timedelta(days=90)).astype("datetime64[ns]"),
            "termination_date": pd.Series([pd.NaT] * employees, dtype="datetime64[ns]"),
        }
    )
    n_cust = employees * 12
    cust_ids = ids("C", n_cust)
    customers = pd.DataFrame(
        {
            "customer_id": cust_ids,
            "created_at": pd.Series([start] * n_cust).astype("datetime64[ns]"),
            "segment": pd.Series(["smb"] * n_cust, dtype="string"),
            "region": pd.Series(["north"] * n_cust, dtype="string"),
        }
    )
    owner = rng.integers(0, employees, n_cust)
    n_moves = n_cust // 10
    moved = rng.choice(n_cust, n_moves, replace=False)
    receivers = rng.integers(0, employees, n_moves)
    changes = pd.DataFrame(
        {
            "change_id": ids("X", n_cust + n_moves),
            "customer_id": pd.concat([cust_ids, cust_ids.iloc[moved]], ignore_index=True),
            "from_employee_id": pd.concat(
                [pd.Series([pd.NA] * n_cust, dtype="string"), emp_ids.iloc[owner[moved]].reset_index(drop=True)],
                ignore_index=True,
            ),
            "to_employee_id": pd.concat(
                [emp_ids.iloc[owner].reset_index(drop=True), emp_ids.iloc[receivers].reset_index(drop=True)],
                ignore_index=True,
            ),
            "changed_at": pd.concat([pd.Series([start] * n_cust), stamps(n_moves)], ignore_index=True).astype(
                "datetime64[ns]"
            ),
            "reason": pd.Series([pd.NA] * (n_cust + n_moves), dtype="string"),
        }
    )
    current = owner.copy()  # closer: the customer's owner (transfers ignored here; crediting still links them)
    current[moved] = receivers
    n_orders = employees * total_months * 4
    ord_cust = rng.integers(0, n_cust, n_orders)
    orders = pd.DataFrame(
        {
            "order_id": ids("O", n_orders),
            "customer_id": cust_ids.iloc[ord_cust].reset_index(drop=True),
            "employee_id": emp_ids.iloc[current[ord_cust]].reset_index(drop=True),
            "closed_at": stamps(n_orders),
            "amount": np.round(rng.lognormal(9, 1, n_orders), 2),
            "order_type": pd.Series(np.where(rng.random(n_orders) < 0.2, "new", "repeat"), dtype="string"),
            "currency": pd.Series([pd.NA] * n_orders, dtype="string"),  # the plan's currency
            "product": pd.Series([pd.NA] * n_orders, dtype="string"),
        }
    )
    n_act = employees * total_months * 8
    acts = pd.DataFrame(
        {
            "activity_id": ids("A", n_act),
            "employee_id": emp_ids.iloc[rng.integers(0, employees, n_act)].reset_index(drop=True),
            "customer_id": pd.Series([pd.NA] * n_act, dtype="string"),
            "lead_id": pd.Series([pd.NA] * n_act, dtype="string"),
            "type": pd.Series(rng.choice(["visit", "call", "email", "meeting"], n_act), dtype="string"),
            "occurred_at": stamps(n_act),
            "duration_minutes": rng.uniform(5, 60, n_act),
        }
    )
    n_leads = employees * total_months * 2
    created = stamps(n_leads)
    contact = created + pd.to_timedelta(rng.exponential(20, n_leads), unit="h")
    resolved = created + pd.to_timedelta(rng.uniform(1, 40, n_leads), unit="D")
    won = rng.random(n_leads) < 0.3
    leads = pd.DataFrame(
        {
            "lead_id": ids("L", n_leads),
            "customer_id": pd.Series([pd.NA] * n_leads, dtype="string"),
            "owner_id": emp_ids.iloc[rng.integers(0, employees, n_leads)].reset_index(drop=True),
            "created_at": created,
            "first_contact_at": contact.astype("datetime64[ns]"),
            "converted_at": resolved.where(won).astype("datetime64[ns]"),
            "lost_at": resolved.where(~won).astype("datetime64[ns]"),
        }
    )
    n_sat = employees * total_months
    sat = pd.DataFrame(
        {
            "survey_id": ids("S", n_sat),
            "customer_id": cust_ids.iloc[rng.integers(0, n_cust, n_sat)].reset_index(drop=True),
            "employee_id": emp_ids.iloc[rng.integers(0, employees, n_sat)].reset_index(drop=True),
            "responded_at": stamps(n_sat),
            "score": rng.integers(50, 101, n_sat).astype("float64"),
        }
    )
    periods = [period_label(start.year * 12 + start.month - 1 + k) for k in range(total_months)]
    grid = pd.MultiIndex.from_product(
        [emp_ids, periods, ["revenue", "visits", "new_customers"]], names=["employee_id", "period", "metric"]
    ).to_frame(index=False)
    grid["target"] = np.select([grid["metric"] == "revenue", grid["metric"] == "visits"], [40000.0, 3.0], 1.0)
    targets = grid.astype({"employee_id": "string", "period": "string", "metric": "string"})
    tables = {
        "employees": emp,
        "customers": customers,
        "ownership_changes": changes,
        "activities": acts,
        "leads": leads,
        "orders": orders,
        "targets": targets,
        "satisfaction": sat,
    }
    return Dataset(tables, source="synthetic"), periods[12:]


class _CountingSink:
    """A binary file that only counts what is written to it."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


class _LineCounter:
    """Pass a stream's (results, skipped) parts through, counting their line items."""

    def __init__(self, parts) -> None:
        self.parts, self.lines = iter(parts), 0

    def __iter__(self):
        return self

    def __next__(self):
        results, skipped = next(self.parts)
        return self._counted(results), skipped

    def _counted(self, results):
        for r in results:  # results are computed as they are read: count them on the way through
            self.lines += len(r.lines)
            yield r


def peak_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 1024 / 1024


def run_path(employees: int, months: int, per_period: bool, path: str) -> dict:
    """Evaluate and write by one path; timings, sizes and this process's peak memory."""
    render = path == "rendered"
    t0 = time.perf_counter()
    ds, periods = synthetic(employees, months)
    build_s = time.perf_counter() - t0
    plan = load_plan("sales-default")
    scores = pd.DataFrame(
        {
            "change_id": ds.ownership_changes["change_id"],
            "score": np.random.default_rng(1).random(len(ds.ownership_changes)),
        }
    )
    workdir, written = tempfile.TemporaryDirectory(), []  # the column path writes real files
    t0, c0 = time.perf_counter(), time.process_time()
    evaluated, json_bytes, holds, lines = 0, 0, 0, 0
    # Default: the whole span in one run (metrics and crediting computed once); --per-period runs
    # month by month as a monthly payroll would, recomputing the 12-month look-back each time.
    for batch in [[p] for p in periods] if per_period else [periods]:
        if path == "columns":
            out = Path(workdir.name) / f"run-{batch[0]}.parquet"
            summary = evaluate_columns(plan, ds, batch, scores=scores).write(out)
            written.append(out)
            json_bytes += out.stat().st_size + out.with_name(f"{out.stem}.credits.parquet").stat().st_size
            evaluated += summary["employees"]
            holds += summary["holds"]
            continue
        # One period at a time, results streamed to the file, as `perfml bonus --out` writes it.
        stream = evaluate_stream(plan, ds, batch, scores=scores, source_rows=render)
        counted = _LineCounter(stream.parts)
        stream.parts = counted
        sink = _CountingSink()
        summary = stream.write_json(sink, render=render, csv_fh=_CountingSink())
        evaluated += summary["employees"]
        holds += summary["holds"]
        lines += counted.lines
        json_bytes += sink.size
        del stream
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    lines += sum(_line_count(out) for out in written)  # counted after the clock stopped
    workdir.cleanup()
    return {
        "employee_periods": evaluated,
        "line_items": lines,
        "holds": holds,
        "build_seconds": round(build_s, 2),
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),  # wall time suffers on a shared machine; CPU time less so
        "employee_periods_per_s": round(evaluated / wall, 1),
        "employee_periods_per_cpu_s": round(evaluated / cpu, 1),
        "file_mb": round(json_bytes / 1e6, 1),
        "file_bytes_per_result": round(json_bytes / max(evaluated, 1)),
        "peak_rss_mb": round(peak_mb(), 1),
    }


def _line_count(path: Path) -> int:
    """Line items in a columnar run file (non-null line columns), read after the timed part."""
    table = pq.read_table(path)
    return sum(len(table) - table[c].null_count for c in table.column_names if is_line_column(c))


def metrics_only(employees: int, months: int) -> dict:
    """The metrics layer alone over the evaluated months (the engine's vectorised part)."""
    ds, periods = synthetic(employees, months)
    t0 = time.perf_counter()
    metrics = employee_period_metrics(ds, periods=periods)
    seconds = time.perf_counter() - t0
    return {
        "rows": {name: len(df) for name, df in ds.tables.items() if len(df)},
        "metrics_seconds": round(seconds, 2),
        "metrics_employee_periods_per_s": round(len(metrics) / seconds, 1),
    }


def _in_subprocess(args: argparse.Namespace, path: str) -> dict:
    cmd = [sys.executable, __file__, "--employees", str(args.employees), "--months", str(args.months), "--path", path]
    if args.per_period:
        cmd.append("--per-period")
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run for CI")
    parser.add_argument("--employees", type=int, help="override the number of employees")
    parser.add_argument("--months", type=int, help="override the number of evaluated months")
    parser.add_argument("--per-period", action="store_true", help="one evaluate() per month instead of one for all")
    parser.add_argument(
        "--path", choices=["records", "rendered", "columns", "metrics"], help="run one path here (internal)"
    )
    args = parser.parse_args()
    args.employees = args.employees or (200 if args.quick else 8400)
    args.months = args.months or (6 if args.quick else 12)
    if args.path == "metrics":
        print(json.dumps(metrics_only(args.employees, args.months)))
        return
    if args.path:
        print(json.dumps(run_path(args.employees, args.months, args.per_period, args.path)))
        return
    paths = {path: _in_subprocess(args, path) for path in ("records", "rendered", "columns")}
    print(
        json.dumps(
            {
                "benchmark": "rules",
                "quick": args.quick,
                "per_period": args.per_period,
                "employees": args.employees,
                "months": args.months,
                **_in_subprocess(args, "metrics"),
                "paths": paths,
                # CPU time of the old per-row paths over the column path's
                **{
                    f"speedup_{old}": round(paths[old]["cpu_seconds"] / max(paths["columns"]["cpu_seconds"], 1e-9), 2)
                    for old in ("records", "rendered")
                },
                "python": platform.python_version(),
                "pandas": pd.__version__,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
