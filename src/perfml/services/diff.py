"""Diff use cases: what changed between two run files, or between two periods of one plan over one dataset."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from perfml.dataset import Dataset
from perfml.errors import PerfmlError
from perfml.rules import Plan
from perfml.rules.diff import RunDiff, diff_periods, diff_runs
from perfml.services.kpi import evaluate_plan


def load_run(path: Path) -> dict[str, Any]:
    """The dict form of a run file written by `perfml bonus --out` (`PerfmlError` naming the file if unreadable)."""
    try:
        with path.open("rb") as fh:
            run = json.load(fh)
    except OSError as exc:
        raise PerfmlError(f"{path}: cannot read the run file ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PerfmlError(f"{path}: not a JSON run file ({exc})") from None
    if not isinstance(run, dict):
        raise PerfmlError(f"{path}: not a run file (expected a JSON object)")
    return run


def diff_run_files(before: Path, after: Path) -> RunDiff:
    """Two run files compared line by line (`after` against `before`); errors name the file and the path."""
    return diff_runs(load_run(before), load_run(after), labels=(str(before), str(after)))


def diff_two_periods(
    *,
    plan: Plan | str,
    dataset: Dataset,
    period: str,
    against: str,
    scores: pd.DataFrame | None = None,
    reviews: Mapping[str, str] | None = None,
    employee_ids: Iterable[str] | None = None,
) -> RunDiff:
    """Each employee's statement of `period` compared with their statement of `against`, same plan and data."""
    ids = None if employee_ids is None else list(employee_ids)
    runs = [
        evaluate_plan(plan=plan, dataset=dataset, period=p, scores=scores, reviews=reviews, employee_ids=ids)
        for p in (against, period)
    ]
    return diff_periods(runs[0].to_dict(), runs[1].to_dict())


__all__ = ["diff_run_files", "diff_two_periods", "load_run"]
