"""What an alert says: the upsert arguments of each alert type, built from scored frames and rule results.

- model alerts (`MODEL_ALERTS`, one builder per pipeline): the rows at or above the model's
  threshold (or alerted by the pipeline's own rule) with their TreeSHAP factors and context;
- rule alerts (`rule_alerts`): the rule engine's low-performer pool, review list and reminders,
  each with the evidence the rules cite.
`perfml.services.alerts.refresh_alerts` decides what to score and writes what these return.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from perfml.explain import Explanations, explain
from perfml.metrics import period_bounds
from perfml.modeling.model import TrainedModel

TOP_FACTORS = 10  # factors stored per model alert (rendered in the reader's language at read time)


def _factors(ex: Explanations, i: int, top: np.ndarray) -> list[dict]:
    """Row `i`'s factors in the order of `top` (its row of `Explanations.top_indices`), zeros left out."""
    out = []
    for j in top:
        c = ex.contributions[i, j]
        if c == 0.0:
            continue
        v = float(ex.values[i, j])
        out.append({"feature": ex.feature_names[j], "value": None if np.isnan(v) else v, "contribution": float(c)})
    return out


def _model_explanation(
    ex: Explanations, top: np.ndarray, i: int, model: TrainedModel, context: dict, threshold: float
) -> dict:
    raw, base = float(ex.raw_score[i]), float(ex.base_value[i])
    factors = _factors(ex, i, top[i])
    return {
        "kind": "model",
        "model": model.name,
        "version": str(model.version),
        "model_kind": model.kind,
        "threshold": float(threshold),
        "score": float(ex.score[i]),
        "raw_score": raw,
        "base_value": base,
        "factors": factors,
        "other_contribution": raw - base - sum(f["contribution"] for f in factors),
        "context": context,
    }


def _iso(x) -> str | None:
    return None if x is None or pd.isna(x) else pd.Timestamp(x).isoformat()


def _str(x) -> str | None:
    return None if x is None or pd.isna(x) else str(x)


def transfer_alerts(
    model: TrainedModel, frame: pd.DataFrame, teams: pd.Series, threshold: float, spec
) -> tuple[list[dict], pd.DataFrame]:
    """Upsert arguments for changes at/above the threshold, and every change's score (crediting holds)."""
    if frame.empty:
        return [], pd.DataFrame(columns=["change_id", "score"])
    ex = explain(model, frame)
    scores = pd.DataFrame({"change_id": frame["change_id"].astype(str).to_numpy(), "score": ex.score})
    top = ex.top_indices(TOP_FACTORS)
    out = []
    for i in np.flatnonzero(ex.score >= threshold).tolist():
        row = frame.iloc[i]
        receiver = _str(row.get("to_employee_id"))
        context = {
            "change_id": _str(row["change_id"]),
            "customer_id": _str(row.get("customer_id")),
            "from_employee_id": _str(row.get("from_employee_id")),
            "to_employee_id": receiver,
            "changed_at": _iso(row.get("changed_at")),
            "scored_at": _iso(row.get("scored_at")),
        }
        out.append(
            dict(
                type="transfer_anomaly",
                change_id=context["change_id"],
                employee_id=receiver,
                team_id=_str(teams.get(receiver)) if receiver else None,
                as_of=pd.Timestamp(row["changed_at"]).to_pydatetime(),
                score=float(ex.score[i]),
                model_name=model.name,
                model_version=str(model.version),
                explanation=_model_explanation(ex, top, i, model, context, threshold),
            )
        )
    return out, scores


def decline_alerts(
    model: TrainedModel, frame: pd.DataFrame, teams: pd.Series, threshold: float, spec
) -> tuple[list[dict], None]:
    """Upsert arguments for employees at/above the threshold or alerted by the pipeline's rule
    (`spec.rule_alerts`: per row its reason or None) at the instant scored."""
    if frame.empty:
        return [], None
    rules = spec.rule_alerts(frame)
    ex = explain(model, frame)
    top = ex.top_indices(TOP_FACTORS)
    out = []
    for i in np.flatnonzero((ex.score >= threshold) | pd.notna(rules)).tolist():
        row = frame.iloc[i]
        emp = _str(row["employee_id"])
        as_of = pd.Timestamp(row["as_of"])
        context = {
            "employee_id": emp,
            "as_of": as_of.isoformat(),
            "period": _str(row.get("period")),
            "rule_alert": rules[i],
        }
        out.append(
            dict(
                type="decline",
                employee_id=emp,
                team_id=_str(teams.get(emp)),
                as_of=as_of.to_pydatetime(),
                score=float(ex.score[i]),
                model_name=model.name,
                model_version=str(model.version),
                explanation=_model_explanation(ex, top, i, model, context, threshold),
            )
        )
    return out, None


ModelAlerts = Callable[..., tuple[list[dict], "pd.DataFrame | None"]]
MODEL_ALERTS: dict[str, ModelAlerts] = {"transfer-anomaly": transfer_alerts, "decline": decline_alerts}
"""Pipeline name -> builder(model, scoring frame, team per employee, threshold, spec) -> (upsert
arguments, the frame of scores the crediting rules read, or None)."""


def _period_end(period: str) -> datetime:
    return period_bounds(period)[1].to_pydatetime()


def rule_alerts(result: dict, teams: pd.Series, as_of: pd.Timestamp) -> list[dict]:
    """Upsert arguments for the low-performer pool, the review list and the day's reminders."""
    out = []
    plan = result["plan"]
    common = dict(model_name=plan["id"], model_version=str(plan["version"]))
    pool = result["low_performer_pool"]
    for e in pool["employees"]:
        emp = e["employee_id"]
        out.append(
            dict(
                type="low_performer",
                employee_id=emp,
                team_id=_str(teams.get(emp)),
                period=pool["period"],
                as_of=_period_end(pool["period"]),
                score=float(e["scorecard_total"]),
                **common,
                explanation={
                    "kind": "rule",
                    "rule": "low_performer",
                    "plan": plan,
                    "bar": pool["bar"],
                    "notice": result["notice"],
                    **e,
                },
            )
        )
    for e in result["review_list"]:
        emp = e["employee_id"]
        period = e["periods"][-1]
        out.append(
            dict(
                type="review_list",
                employee_id=emp,
                team_id=_str(teams.get(emp)),
                period=period,
                as_of=_period_end(period),
                score=float(e["scorecard_totals"][-1]),
                **common,
                explanation={"kind": "rule", "rule": "review_list", "plan": plan, "notice": result["notice"], **e},
            )
        )
    # Reminders: one alert per employee and day, with every lead and visit finding as evidence.
    per_emp: dict[str, dict[str, Any]] = {}
    for lead in result["lead_followups"]:
        evidence = per_emp.setdefault(lead["owner_id"], {"lead_followups": [], "weekly_visits": None})
        evidence["lead_followups"].append(lead)
    for v in result["weekly_visits"].get("employees", []):
        per_emp.setdefault(v["employee_id"], {"lead_followups": [], "weekly_visits": None})["weekly_visits"] = v
    for emp, found in sorted(per_emp.items()):
        out.append(
            dict(
                type="reminder",
                employee_id=emp,
                team_id=_str(teams.get(emp)),
                as_of=as_of.to_pydatetime(),
                **common,
                explanation={
                    "kind": "rule",
                    "rule": "reminder",
                    "plan": plan,
                    "notice": result["notice"],
                    "week_start": result["weekly_visits"].get("week_start"),
                    **found,
                },
            )
        )
    return out


__all__ = ["MODEL_ALERTS", "TOP_FACTORS", "decline_alerts", "rule_alerts", "transfer_alerts"]
