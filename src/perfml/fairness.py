"""Fairness: the bias audit - do a model's alerts fall evenly across protected groups?

(Not the access log: that is `perfml.audit_log`.)

`bias_audit(scores, demographics, threshold=...)` is pure: for each group column of
`demographics` (every column but `employee_id`) and each group it reports
- `n`, `share` of the scored rows,
- `selection_rate`: share of the group's rows scored at or above the alert threshold,
- `scoring_rate`: share of the group's rows scored above the median of all scored rows,
- `impact_ratio` / `scoring_impact_ratio`: the rate divided by the highest rate among the
  included groups of that column,
- `included`: groups under `min_share` (default 2%) of the rows, and the unknown group (no
  demographics row or an empty value), are reported but excluded from the ratios,
- `flagged`: an included group with either impact ratio under `min_ratio` (0.8, the
  four-fifths rule).
Rows are scored units (transfers, employee-months, employees), each attributed to the employee
the decision is about (`PipelineSpec.subject_column`). For adverse outcomes (alerts) the group
most often alerted has ratio 1.0, so a flag on another group means *that* group is alerted much
less often than the top one: read the top group's rate first.

`audit_model(name, dataset)` scores a dataset with the champion and audits it against
`dataset.demographics`. Demographics are read here and nowhere else; they are never model inputs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perfml.dataset import Dataset
from perfml.errors import PerfmlError

UNKNOWN = "(unknown)"
MIN_SHARE = 0.02
MIN_RATIO = 0.8
COLUMNS = (
    "column",
    "group",
    "n",
    "share",
    "selected",
    "selection_rate",
    "scoring_rate",
    "impact_ratio",
    "scoring_impact_ratio",
    "included",
    "flagged",
)


def bias_audit(
    scores: pd.DataFrame,
    demographics: pd.DataFrame,
    *,
    threshold: float,
    subject: str = "employee_id",
    score: str = "score",
    min_share: float = MIN_SHARE,
    min_ratio: float = MIN_RATIO,
    group_columns: list[str] | None = None,
) -> pd.DataFrame:
    """Per group column and group: selection and scoring rates, impact ratios, inclusion and flags."""
    if scores.empty:
        raise PerfmlError("bias audit: nothing was scored")
    demo = demographics.drop_duplicates("employee_id", keep="last").set_index("employee_id")
    cols = group_columns or [c for c in demo.columns if c != "employee_id"]
    if not cols:
        raise PerfmlError("bias audit: the demographics table has no group columns")
    s = scores[score].to_numpy(dtype="float64")
    median = float(np.median(s))
    who = scores[subject].astype("string")
    base = pd.DataFrame({"selected": (s >= threshold).astype(float), "above": (s > median).astype(float)})
    n_all = len(base)
    out = []
    for col in cols:
        labels = demo[col].reindex(who).astype("string").str.strip().to_numpy()
        group = pd.Series(labels).mask(lambda g: g.isna() | (g == ""), UNKNOWN)
        g = base.groupby(group.to_numpy(), sort=True).agg(
            n=("selected", "size"),
            selected=("selected", "sum"),
            selection_rate=("selected", "mean"),
            scoring_rate=("above", "mean"),
        )
        g = g.reset_index(names="group")
        g["share"] = g["n"] / n_all
        g["included"] = (g["group"] != UNKNOWN) & (g["share"] >= min_share)
        inc = g[g["included"]]
        for rate, ratio in (("selection_rate", "impact_ratio"), ("scoring_rate", "scoring_impact_ratio")):
            top = inc[rate].max() if len(inc) else np.nan
            values = g[rate] / top if pd.notna(top) and top > 0 else np.nan
            g[ratio] = np.where(g["included"], values, np.nan)
        g["flagged"] = g["included"] & ((g["impact_ratio"] < min_ratio) | (g["scoring_impact_ratio"] < min_ratio))
        g.insert(0, "column", col)
        out.append(g)
    result = pd.concat(out, ignore_index=True)
    result["n"] = result["n"].astype(int)
    result["selected"] = result["selected"].astype(int)
    return result[list(COLUMNS)]


def require_demographics(dataset: Dataset) -> None:
    """`PerfmlError` unless the dataset has the demographics table the audit groups by."""
    if not dataset.has("demographics"):
        raise PerfmlError("bias audit needs a demographics table (demographics.csv) in the dataset")


def audit_model(
    spec,
    dataset: Dataset,
    *,
    model,
    threshold: float | None = None,
    as_of=None,
    min_share: float = MIN_SHARE,
    min_ratio: float = MIN_RATIO,
) -> tuple[pd.DataFrame, dict]:
    """Score `dataset` with `model` (the champion of pipeline `spec`) and audit it; returns (table, summary)."""
    require_demographics(dataset)
    as_of = None if as_of is None else pd.Timestamp(as_of)
    features = spec.scoring_rows(spec.build_features(dataset, as_of=as_of), as_of).reset_index(drop=True)
    frame = pd.DataFrame(
        {"employee_id": features[spec.subject_column].astype("string"), "score": model.predict(features)}
    )
    cut = model.threshold if threshold is None else float(threshold)
    table = bias_audit(frame, dataset.demographics, threshold=cut, min_share=min_share, min_ratio=min_ratio)
    summary = {
        "model": spec.model_name,
        "version": model.version,
        "threshold": cut,
        "rows": len(frame),
        "subject": spec.subject_column,
        "flagged": int(table["flagged"].sum()),
    }
    return table, summary
