"""Evidence gates: whether a training run has earned the right to become champion, and why not.

A run may be promoted only when, on its labelled test rows,
- the model beats its own baseline on the pipeline's primary metric (`spec.test_metric` against
  the baseline's same metric; a tie or an undefined metric is not a win),
- there is enough evidence: `Settings.gate_min_test_rows` labelled rows,
  `gate_min_test_positives` positives, `gate_min_test_units` distinct subjects, and records in
  `gate_min_data_months` distinct calendar months (of the pipeline's input tables),
- the model's test scores are not (nearly) constant: at least 2 distinct values after rounding
  to 1e-6 and a standard deviation of at least 1e-6. A constant model ranks nobody; it would
  flag everyone or no one, whatever its metrics say.
`GateOutcome.reasons` says in plain words what is missing (counts found and needed, and the
pipeline's input tables with their row counts), for the CLI and the MLflow run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from perfml.config import Settings
from perfml.dataset import Dataset
from perfml.schema import TABLES

CONSTANT_DECIMALS = 6
CONSTANT_STD = 1e-6


@dataclass(frozen=True)
class GateOutcome:
    """The gate's verdict: `passed`, the failed checks in plain words, and the evidence counted."""

    passed: bool
    reasons: tuple[str, ...]
    evidence: dict[str, float]

    @property
    def reason(self) -> str:
        """All failed checks on one line ("" when passed)."""
        return "; ".join(self.reasons)


def distinct_scores(scores) -> int:
    """Distinct values among finite `scores` after rounding to `CONSTANT_DECIMALS` decimals."""
    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    return int(len(np.unique(np.round(s, CONSTANT_DECIMALS))))


def is_constant(scores) -> bool:
    """Whether `scores` are (nearly) constant: < 2 distinct rounded values or std < `CONSTANT_STD`."""
    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    return distinct_scores(s) < 2 or float(np.std(s)) < CONSTANT_STD


def data_months(dataset: Dataset, tables: tuple[str, ...] = ()) -> int:
    """Distinct calendar months with at least one record in `tables` (default: every event table;
    `employees` never counts: hire dates reach back years before the data)."""
    names = [t for t in (tables or TABLES) if TABLES[t].time_column and t != "employees" and dataset.has(t)]
    months: set = set()
    for t in names:
        stamps = dataset.table(t)[TABLES[t].time_column].dropna()
        months |= set(stamps.dt.to_period("M").unique())
    return len(months)


def inputs_summary(tables: tuple[str, ...], dataset: Dataset) -> str:
    """ "orders 8,800 rows, activities not tracked" for the given tables."""
    rows = dataset.rows()
    parts = []
    for t in tables:
        if t in dataset.untracked:
            parts.append(f"{t} not tracked")
        elif not rows.get(t):
            parts.append(f"{t} has no rows")
        else:
            parts.append(f"{t} {rows[t]:,} rows")
    return ", ".join(parts)


def evidence_gate(
    *,
    test_metric: str,
    metrics: dict[str, float],
    test_scores,
    test_subjects,
    dataset: Dataset,
    settings: Settings,
    input_tables: tuple[str, ...] = (),
) -> GateOutcome:
    """Check one run's test side against the evidence settings (see module doc)."""
    rows = int(metrics.get("n_test_labelled", 0))
    positives = int(metrics.get("model_positives", 0) or 0)
    units = int(pd.Series(test_subjects).dropna().nunique())
    months = data_months(dataset, input_tables)
    distinct = distinct_scores(test_scores)
    evidence = {
        "test_rows": rows,
        "test_positives": positives,
        "test_units": units,
        "data_months": months,
        "distinct_test_scores": distinct,
    }
    reasons: list[str] = []
    thin = []
    if rows < settings.gate_min_test_rows:
        thin.append(f"{rows} labelled test rows ({settings.gate_min_test_rows} needed)")
    if positives < settings.gate_min_test_positives:
        thin.append(f"{positives} positives on the test side ({settings.gate_min_test_positives} needed)")
    if units < settings.gate_min_test_units:
        thin.append(f"{units} distinct employees on the test side ({settings.gate_min_test_units} needed)")
    if months < settings.gate_min_data_months:
        thin.append(f"records in {months} months ({settings.gate_min_data_months} needed)")
    if thin:
        source = f" - inputs: {inputs_summary(input_tables, dataset)}" if input_tables else ""
        reasons.append("too little evidence: " + ", ".join(thin) + source)
    if is_constant(test_scores):
        reasons.append(f"test predictions are constant ({distinct} distinct score(s)): the model ranks nobody")
    base_metric = "baseline_" + test_metric.removeprefix("model_")
    label = test_metric.removeprefix("model_").replace("_", "-").upper()  # "ROC-AUC", "PR-AUC"
    model_value, base_value = metrics.get(test_metric), metrics.get(base_metric)
    if model_value is None or not math.isfinite(model_value):
        reasons.append(f"{label} cannot be computed on the test side (needs labelled positives and negatives)")
    elif base_value is not None and math.isfinite(base_value) and not model_value > base_value:
        reasons.append(f"model {label} {model_value:.3f} does not beat its baseline's {base_value:.3f}")
    return GateOutcome(not reasons, tuple(reasons), {k: float(v) for k, v in evidence.items()})
