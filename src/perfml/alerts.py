"""Alerts: build them from the champions and the rule engine, list them, and record reviews.

`refresh_alerts` (idempotent; safe to run any time):
- **transfer_anomaly** - every ownership change scored by the transfer-anomaly champion at its
  cut-off (`perfml.pipelines.transfer_anomaly.nodes`); changes at or above the model's threshold become alerts with their
  TreeSHAP factors and the change's context;
- **decline** - every sales employee at the latest month end scored by the decline champion;
  those at or above its threshold become alerts;
- **low_performer** / **review_list** / **reminder** - the rule engine's monthly low-performer
  pool, its review list (under the bar N periods running) and the day's reminders (leads not
  contacted in time, weekly visit shortfalls), each with the evidence the rules cite.
Alerts are upserted by (type, subject, period/as_of): a refresh updates scores and explanations
and never resets a review. A missing model skips its part with a note instead of failing.

`review_alert` records a person's decision (`confirm` / `dismiss`, with a note) and, for a
transfer alert, writes the outcome to `transfer_labels` (is_anomalous = 1 on confirm, 0 on
dismiss, `reviewed_at` = now) in the same transaction - the next training reads it as an audit
label, and the rule engine's crediting reads it as a void (confirm) or release (dismiss).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from perfml import audit_log
from perfml.audit_log import reading
from perfml.config import Settings
from perfml.errors import PerfmlError
from perfml.store import (ALERT_STATUSES, ALERT_TYPES, REVIEW_DECISIONS, alert_reviews, alerts, create_all,
                          engine_for, read_dataset, upsert_alert, upsert_records, utcnow)

log = logging.getLogger(__name__)
TOP_FACTORS = 10  # factors stored per model alert (rendered in the reader's language at read time)
DEFAULT_PLAN = "sales-default"
STATUS_OF = {"confirm": "confirmed", "dismiss": "dismissed"}
MAX_AS_OF_AHEAD = pd.Timedelta(days=45)  # a refresh describes a moment the data covers (rules read the last months)
RULES_HISTORY = pd.Timedelta(days=62)  # the low-performer rules read the two complete months before as_of
Progress = Callable[[str, float], None]


class AlertNotFound(PerfmlError):
    """No alert with that id."""


@dataclass
class RefreshSummary:
    """What one refresh did: alerts upserted per type, the models used, parts skipped and why."""

    as_of: str
    alerts: dict[str, int] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    plan: dict[str, str] | None = None
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"as_of": self.as_of, "alerts": dict(self.alerts), "models": dict(self.models),
                "thresholds": dict(self.thresholds), "plan": self.plan, "skipped": list(self.skipped)}


# -- refresh -------------------------------------------------------------------------------------------
def default_as_of(dataset) -> pd.Timestamp:
    """The moment a refresh describes by default: the day after the data's last event."""
    _, end = dataset.date_range()
    if pd.isna(end):
        return pd.Timestamp(utcnow()).normalize()
    return pd.Timestamp(end).normalize() + pd.Timedelta(days=1)


def _first_event(ds) -> pd.Timestamp | None:
    """The first activity or order: months before it say nothing about anyone's performance."""
    stamps = [ds.activities["occurred_at"].min(), ds.orders["closed_at"].min()]
    stamps = [pd.Timestamp(t) for t in stamps if pd.notna(t)]
    return min(stamps) if stamps else None


def _model(name: str, models: Mapping | None, settings: Settings | None):
    if models is not None and name in models:
        return models[name]
    from perfml.modeling.registry import load_model

    return load_model(name, settings=settings)


def _factors(ex, i: int, k: int = TOP_FACTORS) -> list[dict]:
    c = ex.contributions[i]
    order = np.argsort(-np.abs(c), kind="stable")[:k]
    out = []
    for j in order:
        if c[j] == 0.0:
            continue
        v = float(ex.values[i, j])
        out.append({"feature": ex.feature_names[j], "value": None if np.isnan(v) else v, "contribution": float(c[j])})
    return out


def _model_explanation(ex, i: int, model, context: dict, threshold: float) -> dict:
    raw, base = float(ex.raw_score[i]), float(ex.base_value[i])
    factors = _factors(ex, i)
    return {"kind": "model", "model": model.name, "version": str(model.version), "model_kind": model.kind,
            "threshold": float(threshold), "score": float(ex.score[i]), "raw_score": raw, "base_value": base,
            "factors": factors, "other_contribution": raw - base - sum(f["contribution"] for f in factors),
            "context": context}


def _iso(x) -> str | None:
    return None if x is None or pd.isna(x) else pd.Timestamp(x).isoformat()


def _str(x) -> str | None:
    return None if x is None or pd.isna(x) else str(x)


def _transfer_alerts(model, frame, teams: pd.Series, threshold: float) -> tuple[list[dict], pd.DataFrame]:
    """Upsert arguments for changes at/above the threshold, and every change's score."""
    from perfml.explain import explain

    if frame.empty:
        return [], pd.DataFrame(columns=["change_id", "score"])
    ex = explain(model, frame)
    scores = pd.DataFrame({"change_id": frame["change_id"].astype(str).to_numpy(), "score": ex.score})
    out = []
    for i in np.flatnonzero(ex.score >= threshold):
        row = frame.iloc[i]
        receiver = _str(row.get("to_employee_id"))
        context = {"change_id": _str(row["change_id"]), "customer_id": _str(row.get("customer_id")),
                   "from_employee_id": _str(row.get("from_employee_id")), "to_employee_id": receiver,
                   "changed_at": _iso(row.get("changed_at")), "scored_at": _iso(row.get("scored_at"))}
        out.append(dict(type="transfer_anomaly", change_id=context["change_id"], employee_id=receiver,
                        team_id=_str(teams.get(receiver)) if receiver else None,
                        as_of=pd.Timestamp(row["changed_at"]).to_pydatetime(), score=float(ex.score[i]),
                        model_name=model.name, model_version=str(model.version),
                        explanation=_model_explanation(ex, i, model, context, threshold)))
    return out, scores


def _decline_alerts(model, frame, teams: pd.Series, threshold: float, rules: np.ndarray) -> list[dict]:
    """Upsert arguments for employees at/above the threshold or alerted by the pipeline's rule (`rules`:
    per row its reason or None) at the instant scored."""
    from perfml.explain import explain

    if frame.empty:
        return []
    ex = explain(model, frame)
    out = []
    for i in np.flatnonzero((ex.score >= threshold) | pd.notna(rules)):
        row = frame.iloc[i]
        emp = _str(row["employee_id"])
        as_of = pd.Timestamp(row["as_of"])
        context = {"employee_id": emp, "as_of": as_of.isoformat(), "period": _str(row.get("period")),
                   "rule_alert": rules[i]}
        out.append(dict(type="decline", employee_id=emp, team_id=_str(teams.get(emp)), as_of=as_of.to_pydatetime(),
                        score=float(ex.score[i]), model_name=model.name, model_version=str(model.version),
                        explanation=_model_explanation(ex, i, model, context, threshold)))
    return out


def _period_end(period: str) -> datetime:
    from perfml.metrics import period_bounds

    return period_bounds(period)[1].to_pydatetime()


def _rule_alerts(result: dict, teams: pd.Series, as_of: pd.Timestamp) -> list[dict]:
    """Upsert arguments for the low-performer pool, the review list and the day's reminders."""
    out = []
    plan = result["plan"]
    common = dict(model_name=plan["id"], model_version=str(plan["version"]))
    pool = result["low_performer_pool"]
    for e in pool["employees"]:
        emp = e["employee_id"]
        out.append(dict(type="low_performer", employee_id=emp, team_id=_str(teams.get(emp)), period=pool["period"],
                        as_of=_period_end(pool["period"]), score=float(e["scorecard_total"]), **common,
                        explanation={"kind": "rule", "rule": "low_performer", "plan": plan, "bar": pool["bar"],
                                     "notice": result["notice"], **e}))
    for e in result["review_list"]:
        emp = e["employee_id"]
        period = e["periods"][-1]
        out.append(dict(type="review_list", employee_id=emp, team_id=_str(teams.get(emp)), period=period,
                        as_of=_period_end(period), score=float(e["scorecard_totals"][-1]), **common,
                        explanation={"kind": "rule", "rule": "review_list", "plan": plan,
                                     "notice": result["notice"], **e}))
    # Reminders: one alert per employee and day, with every lead and visit finding as evidence.
    per_emp: dict[str, dict[str, Any]] = {}
    for lead in result["lead_followups"]:
        per_emp.setdefault(lead["owner_id"], {"lead_followups": [], "weekly_visits": None})["lead_followups"].append(lead)
    for v in result["weekly_visits"].get("employees", []):
        per_emp.setdefault(v["employee_id"], {"lead_followups": [], "weekly_visits": None})["weekly_visits"] = v
    for emp, found in sorted(per_emp.items()):
        out.append(dict(type="reminder", employee_id=emp, team_id=_str(teams.get(emp)), as_of=as_of.to_pydatetime(),
                        **common, explanation={"kind": "rule", "rule": "reminder", "plan": plan,
                                               "notice": result["notice"],
                                               "week_start": result["weekly_visits"].get("week_start"), **found}))
    return out


def refresh_alerts(engine: Engine | str | None = None, *, dataset=None, models: Mapping | None = None,
                   features: Callable | None = None, as_of=None, plan: str = DEFAULT_PLAN,
                   thresholds: Mapping[str, float] | None = None, principal: str = "system",
                   request_id: str | None = None, progress: Progress | None = None,
                   settings: Settings | None = None) -> RefreshSummary:
    """Score new changes and month ends with the champions and run the reminder/review rules; upsert alerts.

    `dataset`: default `read_dataset(engine)`; `models`: name -> TrainedModel (a model not in
    it: the champion in the registry of `settings`, default the process-wide one);
    `features(spec, as_of)`: a cached feature builder (the service's); `as_of`: the moment
    described (default: the day after the last event in the data); `thresholds`: model name ->
    alert threshold on the score (default: each model's own).
    Everything is computed first and written in one short transaction (all or nothing).
    """
    from perfml.pipelines import get_pipeline

    say = progress or (lambda stage, fraction: None)
    eng = engine_for(engine)
    create_all(eng)
    say("reading the store", 0.02)
    ds = dataset if dataset is not None else read_dataset(eng)
    when = pd.Timestamp(as_of) if as_of is not None else None
    if when is not None:
        start, end = ds.date_range()
        if pd.isna(start) or when <= start:
            raise PerfmlError(f"as_of {when.date()} is not after the first record"
                              f"{'' if pd.isna(start) else f' ({start.date()})'}: nothing to score")
        if when > end + MAX_AS_OF_AHEAD:
            raise PerfmlError(f"as_of {when.date()} is more than {MAX_AS_OF_AHEAD.days} days after the last record "
                              f"({end.date()}); import newer data first")
    moment = when if when is not None else default_as_of(ds)
    teams = ds.employees.set_index("employee_id")["team_id"]
    build = features or (lambda spec, at: spec.scoring_rows(spec.build_features(ds, as_of=at), at).reset_index(drop=True))
    summary = RefreshSummary(as_of=moment.isoformat(), alerts={t: 0 for t in ALERT_TYPES})
    pending: list[dict] = []
    scores = None
    for name, at in (("transfer-anomaly", 0.1), ("decline", 0.4)):
        say(f"scoring {name}", at)
        try:
            spec = get_pipeline(name)
            model = _model(spec.model_name, models, settings)
            frame = build(spec, when)
        except ValueError as exc:  # too little history at this as-of (the pipeline's own words)
            if when is None:
                raise
            summary.skipped.append(f"{name}: nothing to score as of {when.date()} ({exc})")
            continue
        except (PerfmlError, KeyError) as exc:
            summary.skipped.append(f"{name}: skipped ({exc})")
            continue
        summary.models[name] = str(model.version)
        threshold = float((thresholds or {}).get(name, model.threshold))
        summary.thresholds[name] = threshold
        if name == "transfer-anomaly":
            found, scores = _transfer_alerts(model, frame, teams, threshold)
        else:
            found = _decline_alerts(model, frame, teams, threshold, spec.rule_alerts(frame))
        pending += found
    say("reminder and review rules", 0.7)
    first = _first_event(ds)
    try:
        from perfml.rules import reminders

        if first is None or moment < first + RULES_HISTORY:
            raise PerfmlError(f"too little history before {moment.date()} for the monthly rules "
                              f"(activity starts {first.date() if first is not None else 'nowhere'})")
        result = reminders(plan, ds, moment, scores=scores)
    except PerfmlError as exc:
        summary.skipped.append(f"rules: {exc}")
    else:
        summary.plan = {k: str(v) for k, v in result["plan"].items()}
        pending += _rule_alerts(result, teams, moment)
    say("writing alerts", 0.9)
    for item in pending:
        summary.alerts[item["type"]] = summary.alerts.get(item["type"], 0) + 1
    with eng.begin() as conn:
        for item in pending:
            upsert_alert(conn, **item)
        audit_log.write(conn, principal=principal, action="alerts.refresh", target="alerts",
                        version=", ".join(f"{k}@{v}" for k, v in summary.models.items()) or None,
                        request_id=request_id, details=summary.to_dict())
    say("done", 1.0)
    return summary


# -- reading -------------------------------------------------------------------------------------------
_LIST_COLUMNS = [c for c in alerts.c if c.name != "explanation"]



def _row(r) -> dict:
    return dict(r._mapping)


def list_alerts(engine: Engine | str | Connection | Session | None = None, *, type: str | None = None,
                team_id: str | None = None,
                scope_team: str | None = None, employee_id: str | None = None, status: str | None = None,
                since: datetime | None = None, until: datetime | None = None, min_score: float | None = None,
                limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
    """(alerts without their explanation, total matching), newest event first.

    `scope_team` confines the result to one team whatever the other filters say (a manager's
    view); `since`/`until` filter the alert's date (`as_of`: change time, month end or day).
    """
    where = []
    if scope_team is not None:
        where.append(alerts.c.team_id == scope_team)
    if team_id is not None:
        where.append(alerts.c.team_id == team_id)
    if type is not None:
        where.append(alerts.c.type == type)
    if employee_id is not None:
        where.append(alerts.c.employee_id == employee_id)
    if status is not None:
        where.append(alerts.c.status == status)
    if since is not None:
        where.append(alerts.c.as_of >= since)
    if until is not None:
        where.append(alerts.c.as_of < until)
    if min_score is not None:
        where.append(alerts.c.score >= min_score)
    with reading(engine) as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(alerts).where(*where)).scalar_one()
        rows = conn.execute(sa.select(*_LIST_COLUMNS).where(*where)
                            .order_by(alerts.c.as_of.desc(), alerts.c.id.desc()).limit(limit).offset(offset)).all()
    return [_row(r) for r in rows], int(total)


def get_alert(engine: Engine | str | Connection | Session | None, alert_id: int) -> dict | None:
    """One alert with its explanation and reviews (oldest first), or None."""
    with reading(engine) as conn:
        row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
        if row is None:
            return None
        out = _row(row)
        out["reviews"] = [_row(r) for r in conn.execute(
            sa.select(alert_reviews).where(alert_reviews.c.alert_id == alert_id).order_by(alert_reviews.c.id))]
    return out


def transfer_scores(engine: Engine | str | Connection | Session | None = None) -> pd.DataFrame:
    """`change_id, score` of every transfer alert (the rule engine's anomaly-aware crediting input)."""
    with reading(engine) as conn:
        rows = conn.execute(sa.select(alerts.c.change_id, alerts.c.score)
                            .where(alerts.c.type == "transfer_anomaly", alerts.c.change_id.is_not(None),
                                   alerts.c.score.is_not(None))).all()
    frame = pd.DataFrame(rows, columns=["change_id", "score"])
    return frame.drop_duplicates("change_id", keep="last").reset_index(drop=True)


_SUMMARY = {
    "en": {"transfer_anomaly": "change {change_id} to {emp}: anomaly score {score}",
           "transfer_anomaly_unscored": "change {change_id} to {emp}",
           "decline": "{emp}: decline risk {score}", "decline_unscored": "{emp}: decline risk",
           "low_performer": "{emp}: scorecard {points} under the bar in {period}",
           "review_list": "{emp}: under the bar for consecutive periods up to {period}; review with a person",
           "reminder": "{emp}: follow-up reminders"},
    "zh": {"transfer_anomaly": "客户归属变更 {change_id}（转给 {emp}）：异常分 {score}",
           "transfer_anomaly_unscored": "客户归属变更 {change_id}（转给 {emp}）",
           "decline": "{emp}：业绩下滑风险 {score}", "decline_unscored": "{emp}：业绩下滑风险",
           "low_performer": "{emp}：{period} 考核得分 {points}，低于标准线",
           "review_list": "{emp}：截至 {period} 连续多期低于标准线，请人工复核",
           "reminder": "{emp}：跟进提醒"},
}


def summary_line(alert: Mapping, lang: str = "en") -> str:
    """A one-line description of an alert for lists, in `lang` (en or zh)."""
    texts = _SUMMARY.get(lang, _SUMMARY["en"])
    t, score = alert["type"], alert.get("score")
    key = t if t in texts else "reminder"
    if t in ("transfer_anomaly", "decline") and score is None:
        key = f"{t}_unscored"
    return texts[key].format(change_id=alert.get("change_id"), emp=alert.get("employee_id"), period=alert.get("period"),
                             score=f"{score:.2f}" if score is not None else "",
                             points=f"{score:g}" if score is not None else "")


# -- review --------------------------------------------------------------------------------------------
def _label_frame(change_id: str, label: int, reviewed_at) -> pd.DataFrame:
    """One `transfer_labels` row, typed as `Dataset` types it."""
    return pd.DataFrame({"change_id": pd.Series([change_id], dtype="string"),
                         "is_anomalous": pd.Series([float(label)], dtype="float64"),
                         "reviewed_at": pd.Series([pd.Timestamp(reviewed_at)], dtype="datetime64[ns]")})


def review_changes(alert: Mapping) -> dict[str, pd.DataFrame]:
    """The canonical rows the latest review of `alert` (as `review_alert` returns it) wrote: table -> typed rows."""
    reviews = alert.get("reviews") or []
    if alert.get("type") != "transfer_anomaly" or not alert.get("change_id") or not reviews:
        return {}
    last = reviews[-1]
    return {"transfer_labels": _label_frame(alert["change_id"], 1 if last["decision"] == "confirm" else 0,
                                            last["reviewed_at"])}


def review_alert(engine: Engine | str | None, alert_id: int, *, decision: str, note: str | None, reviewer: str,
                 request_id: str | None = None) -> dict:
    """Record a decision on an alert; a transfer alert's decision also becomes a `transfer_labels` row."""
    if decision not in REVIEW_DECISIONS:
        raise PerfmlError(f"decision must be one of {', '.join(REVIEW_DECISIONS)}, got {decision!r}")
    eng = engine_for(engine)
    create_all(eng)
    now = utcnow()
    status = STATUS_OF[decision]
    assert status in ALERT_STATUSES
    with eng.begin() as conn:
        # Write first (SQLite: a transaction that reads and then writes can lose its snapshot to a
        # concurrent writer); RETURNING still gives the values before the status changes below.
        row = conn.execute(sa.update(alerts).where(alerts.c.id == alert_id).values(updated_at=now)
                           .returning(alerts.c.id, alerts.c.type, alerts.c.change_id, alerts.c.status,
                                      alerts.c.model_version)).first()
        if row is None:
            raise AlertNotFound(f"alert {alert_id} does not exist")
        conn.execute(sa.insert(alert_reviews).values(alert_id=alert_id, decision=decision, note=note,
                                                     reviewer=reviewer, reviewed_at=now))
        conn.execute(sa.update(alerts).where(alerts.c.id == alert_id).values(status=status))
        label = None
        if row.type == "transfer_anomaly" and row.change_id:
            label = 1 if decision == "confirm" else 0
            upsert_records(conn, "transfer_labels", _label_frame(row.change_id, label, now), ingested_at=now)
        audit_log.write(conn, principal=reviewer, action="alert.review", target=f"alert:{alert_id}",
                        version=row.model_version, request_id=request_id,
                        details={"decision": decision, "note": note, "type": row.type, "change_id": row.change_id,
                                 "previous_status": row.status, "transfer_label": label})
    out = get_alert(eng, alert_id)
    assert out is not None
    return out


__all__ = ["AlertNotFound", "DEFAULT_PLAN", "RefreshSummary", "default_as_of", "get_alert", "list_alerts",
           "refresh_alerts", "review_alert", "review_changes", "summary_line", "transfer_scores"]
