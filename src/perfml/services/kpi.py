"""KPI use cases: evaluate a plan for a period, what-if, explain one result - with their crediting inputs.

The API reads the crediting inputs (anomaly scores that hold credit, review decisions that void or
release it) from the home's store (`crediting_inputs`); `perfml bonus` reads them from files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from perfml.alerts import transfer_scores
from perfml.dataset import Dataset
from perfml.errors import PerfmlError
from perfml.home import Home
from perfml.rules import BonusRun, Plan, Result, evaluate, what_if
from perfml.store import read_table


def crediting_inputs(*, home: Home) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """(anomaly scores of the transfer alerts or None, change id -> "void" | "release" from the reviews
    in the store's `transfer_labels`)."""
    scores = transfer_scores(home.engine)
    labels = read_table("transfer_labels", home.engine)
    reviews = {
        str(c): ("void" if f == 1 else "release")
        for c, f in zip(labels["change_id"], labels["is_anomalous"], strict=True)
        if pd.notna(f)
    }
    return (scores if not scores.empty else None), reviews


def evaluate_plan(
    *,
    plan: Plan | str,
    dataset: Dataset,
    period: str,
    scores: pd.DataFrame | None = None,
    reviews: Mapping[str, str] | None = None,
    employee_ids: Iterable[str] | None = None,
    source_rows: bool | None = None,
) -> BonusRun:
    """Scorecards and payouts with traces for everyone employed in `period` (or `employee_ids`);
    `source_rows=True` when every trace will be rendered (see `perfml.rules.evaluate`)."""
    return evaluate(
        plan, dataset, period, scores=scores, reviews=reviews, employee_ids=employee_ids, source_rows=source_rows
    )


def explain_result(
    *,
    plan: Plan | str,
    dataset: Dataset,
    employee_id: str,
    period: str,
    scores: pd.DataFrame | None = None,
    reviews: Mapping[str, str] | None = None,
) -> tuple[BonusRun, Result]:
    """(the run, one employee's result) with every input, formula and source row; `PerfmlError` when
    the employee has no result in `period` (and why)."""
    run = evaluate_plan(
        plan=plan, dataset=dataset, period=period, scores=scores, reviews=reviews, employee_ids=[employee_id]
    )
    result = run.result(employee_id, period)
    if result is None:
        why = next((s["reason"] for s in run.skipped if s["employee_id"] == employee_id), "not employed in that period")
        raise PerfmlError(f"no result for {employee_id} in {period}: {why}")
    return run, result


def what_if_result(
    *,
    plan: Plan | str,
    dataset: Dataset,
    employee_id: str,
    period: str,
    overrides: Mapping[str, object],
    scores: pd.DataFrame | None = None,
    reviews: Mapping[str, str] | None = None,
) -> Result:
    """One employee-period re-evaluated with some metric values replaced (`InvalidOverrides` for bad ones)."""
    return what_if(
        plan, dataset, employee_id=employee_id, period=period, overrides=overrides, scores=scores, reviews=reviews
    )


__all__ = ["crediting_inputs", "evaluate_plan", "explain_result", "what_if_result"]
