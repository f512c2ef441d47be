"""Alert use cases: refresh them from the champions and the rule engine, and record a review.

`refresh_alerts` (idempotent; safe to run any time):
- **transfer_anomaly** - every ownership change scored by the transfer-anomaly champion at its
  cut-off; changes at or above the model's threshold become alerts with their TreeSHAP factors
  and the change's context;
- **decline** - every sales employee at the latest month end scored by the decline champion;
  those at or above its threshold (or alerted by the pipeline's rule) become alerts;
- **low_performer** / **review_list** / **reminder** - the rule engine's monthly low-performer
  pool, its review list (under the bar N periods running) and the day's reminders (leads not
  contacted in time, weekly visit shortfalls), each with the evidence the rules cite.
Alerts are upserted by (type, subject, period/as_of): a refresh updates scores and explanations
and never resets a review. A model without a champion skips its part with a note instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from perfml import audit_log, pipelines
from perfml.alerts import review_alert as record_review
from perfml.alerts import review_changes
from perfml.alerts.build import MODEL_ALERTS, rule_alerts
from perfml.dataset import Dataset
from perfml.errors import PerfmlError
from perfml.home import Home
from perfml.modeling import registry
from perfml.rules import reminders
from perfml.serving.snapshot import DatasetCache
from perfml.store import ALERT_TYPES, create_all, read_dataset, upsert_alert, utcnow

DEFAULT_PLAN = "sales-default"
MAX_AS_OF_AHEAD = pd.Timedelta(days=45)  # a refresh describes a moment the data covers (rules read the last months)
RULES_HISTORY = pd.Timedelta(days=62)  # the low-performer rules read the two complete months before as_of
Progress = Callable[[str, float], None]


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
        return {
            "as_of": self.as_of,
            "alerts": dict(self.alerts),
            "models": dict(self.models),
            "thresholds": dict(self.thresholds),
            "plan": self.plan,
            "skipped": list(self.skipped),
        }


def default_as_of(dataset: Dataset) -> pd.Timestamp:
    """The moment a refresh describes by default: the day after the data's last event."""
    _, end = dataset.date_range()
    if pd.isna(end):
        return pd.Timestamp(utcnow()).normalize()
    return pd.Timestamp(end).normalize() + pd.Timedelta(days=1)


def _first_event(ds: Dataset) -> pd.Timestamp | None:
    """The first activity or order: months before it say nothing about anyone's performance."""
    stamps = [ds.activities["occurred_at"].min(), ds.orders["closed_at"].min()]
    stamps = [pd.Timestamp(t) for t in stamps if pd.notna(t)]
    return min(stamps) if stamps else None


def _check_as_of(ds: Dataset, when: pd.Timestamp) -> None:
    start, end = ds.date_range()
    if pd.isna(start) or when <= start:
        raise PerfmlError(
            f"as_of {when.date()} is not after the first record"
            f"{'' if pd.isna(start) else f' ({start.date()})'}: nothing to score"
        )
    if when > end + MAX_AS_OF_AHEAD:
        raise PerfmlError(
            f"as_of {when.date()} is more than {MAX_AS_OF_AHEAD.days} days after the last record "
            f"({end.date()}); import newer data first"
        )


def refresh_alerts(
    *,
    home: Home,
    dataset: Dataset | None = None,
    models: Mapping | None = None,
    features: Callable | None = None,
    as_of=None,
    plan: str = DEFAULT_PLAN,
    thresholds: Mapping[str, float] | None = None,
    principal: str = "system",
    request_id: str | None = None,
    progress: Progress | None = None,
) -> RefreshSummary:
    """Score new changes and month ends with the champions and run the reminder/review rules; upsert alerts.

    `dataset`: default the home's store; `models`: name -> TrainedModel (a model not in it: the
    champion in the home's registry); `features(spec, as_of)`: a cached feature builder (the
    service's snapshot); `as_of`: the moment described (default: the day after the last event in
    the data); `thresholds`: model name -> alert threshold on the score (default: each model's own).
    Everything is computed first and written in one short transaction (all or nothing).
    """
    say = progress or (lambda stage, fraction: None)
    eng = home.engine
    create_all(eng)
    say("reading the store", 0.02)
    ds = dataset if dataset is not None else read_dataset(eng)
    when = pd.Timestamp(as_of) if as_of is not None else None
    if when is not None:
        _check_as_of(ds, when)
    moment = when if when is not None else default_as_of(ds)
    teams = ds.employees.set_index("employee_id")["team_id"]
    build = features or (
        lambda spec, at: spec.scoring_rows(spec.build_features(ds, as_of=at), at).reset_index(drop=True)
    )
    summary = RefreshSummary(as_of=moment.isoformat(), alerts={t: 0 for t in ALERT_TYPES})
    pending: list[dict] = []
    scores = None
    for at, (name, alerts_of) in zip((0.1, 0.4), MODEL_ALERTS.items(), strict=True):
        say(f"scoring {name}", at)
        try:
            spec = pipelines.get_pipeline(name, home.settings)
            model = (
                models[spec.model_name]
                if models is not None and spec.model_name in models
                else registry.load_model(spec.model_name, home=home)
            )
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
        found, model_scores = alerts_of(model, frame, teams, threshold, spec)
        scores = model_scores if model_scores is not None else scores
        pending += found
    say("reminder and review rules", 0.7)
    first = _first_event(ds)
    try:
        if first is None or moment < first + RULES_HISTORY:
            raise PerfmlError(
                f"too little history before {moment.date()} for the monthly rules "
                f"(activity starts {first.date() if first is not None else 'nowhere'})"
            )
        result = reminders(plan, ds, moment, scores=scores)
    except PerfmlError as exc:
        summary.skipped.append(f"rules: {exc}")
    else:
        summary.plan = {k: str(v) for k, v in result["plan"].items()}
        pending += rule_alerts(result, teams, moment)
    say("writing alerts", 0.9)
    for item in pending:
        summary.alerts[item["type"]] = summary.alerts.get(item["type"], 0) + 1
    with eng.begin() as conn:
        for item in pending:
            upsert_alert(conn, **item)
        audit_log.write(
            conn,
            principal=principal,
            action="alerts.refresh",
            target="alerts",
            version=", ".join(f"{k}@{v}" for k, v in summary.models.items()) or None,
            request_id=request_id,
            details=summary.to_dict(),
        )
    say("done", 1.0)
    return summary


def review_alert(
    *,
    home: Home,
    alert_id: int,
    decision: str,
    note: str | None,
    reviewer: str,
    request_id: str | None = None,
    data: DatasetCache | None = None,
) -> dict:
    """Record a decision on an alert (a transfer alert's becomes a `transfer_labels` row); return the alert.

    `data`: the service's snapshot, which gets the label with the commit."""

    def write() -> dict:
        return record_review(
            home.engine, alert_id, decision=decision, note=note, reviewer=reviewer, request_id=request_id
        )

    return write() if data is None else data.update(write, review_changes)


__all__ = ["DEFAULT_PLAN", "RefreshSummary", "default_as_of", "refresh_alerts", "review_alert"]
