"""The rule engine: plans as data, exact scorecards and payouts, anomaly-aware crediting, traces.

Typical use::

    from perfml.rules import load_plan, evaluate, what_if
    run = evaluate("sales-default", Dataset.load("data/"), "2024-03")
    run.to_json()                       # canonical bytes (same plan + data -> same bytes)
    evaluate_columns("sales-default", ds, ["2024-01", "2024-02"]).write("run.parquet")   # payroll's fast path
    what_if("sales-default", ds, employee_id="E1", period="2024-03", overrides={"revenue": 130000})
"""

from perfml.rules.checks import plan_errors, plan_warnings
from perfml.rules.columnar import ColumnRun, evaluate_columns, read_header
from perfml.rules.crediting import credit_ledger, load_scores
from perfml.rules.engine import evaluate, evaluate_stream, evaluate_values, plan_metrics, what_if
from perfml.rules.loading import PlanInvalid, builtin_plans, check_plan, load_plan, parse_plan, plan_hash
from perfml.rules.plan import Plan
from perfml.rules.reminders import reminders
from perfml.rules.trace import BonusRun, Result, RunStream, explain_text

__all__ = [
    "BonusRun",
    "ColumnRun",
    "Plan",
    "PlanInvalid",
    "Result",
    "RunStream",
    "builtin_plans",
    "check_plan",
    "credit_ledger",
    "evaluate",
    "evaluate_columns",
    "evaluate_stream",
    "evaluate_values",
    "explain_text",
    "load_plan",
    "load_scores",
    "parse_plan",
    "plan_errors",
    "plan_hash",
    "plan_metrics",
    "plan_warnings",
    "read_header",
    "reminders",
    "what_if",
]
