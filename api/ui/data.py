"""Every call the pages make into perfml, in one module: alerts, reviews, KPI runs, team views, models.

The page routes never touch the store, the snapshot or the registry directly; they call these
functions with the app's `ServiceContext` and the signed-in `Principal`, and get plain dicts and
lists back. Visibility follows the API exactly (`api.permissions`): a record outside the caller's
scope is reported as missing (None / `NotVisible`), never as forbidden.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import sqlalchemy as sa

from api.permissions import can_see, team_scope
from api.render import number, trajectory
from perfml import alerts as alert_service
from perfml import catalog
from perfml.audit_log import reading
from perfml.catalog import Lang
from perfml.errors import PerfmlError
from perfml.keys import Principal
from perfml.modeling.registry import client, list_versions
from perfml.pipelines import get_pipeline
from perfml.rules import evaluate, load_plan
from perfml.services import alerts as alert_actions
from perfml.services.fairness import audit_champion
from perfml.services.kpi import crediting_inputs
from perfml.services.scoring import UnknownUnits, score_ids
from perfml.serving.render import render_factors
from perfml.store import ALERT_STATUSES, ALERT_TYPES, utcnow
from perfml.store import alerts as alerts_table

log = logging.getLogger("perfml.ui")
SCORED_ALERTS = ("transfer_anomaly", "decline")
TIMELINE_DAYS = 45  # the customer's events this many days either side of an ownership change
SCORE_SORT_LIMIT = 10_000  # alerts sorted by score in memory at most (a page of them is shown)


class NotVisible(Exception):
    """A record that does not exist or that the caller may not see (pages answer 404 for both)."""


# -- alerts --------------------------------------------------------------------------------------------
def alert_types() -> tuple[str, ...]:
    """Alert types (one per model or rule), for the inbox filter."""

    return tuple(ALERT_TYPES)


def alert_statuses() -> tuple[str, ...]:

    return tuple(ALERT_STATUSES)


def teams(ctx, principal: Principal) -> list[str]:
    """Teams the caller may filter by (a manager: only their own)."""
    scope = team_scope(principal)
    if scope is not None:
        return [scope]
    return sorted(ctx.data.employees()["team_id"].dropna().astype(str).unique())


def alert_page(
    ctx,
    principal: Principal,
    *,
    type: str | None,
    status: str | None,
    team: str | None,
    sort: str,
    limit: int,
    offset: int,
    lang: Lang,
) -> tuple[list[dict], int]:
    """(rows of one inbox page, total matching): each row with summary, top reason and its explanation kind."""
    query = partial(
        alert_service.list_alerts, ctx.engine, type=type, status=status, team_id=team, scope_team=team_scope(principal)
    )
    if sort == "score":
        rows, total = query(limit=SCORE_SORT_LIMIT, offset=0)
        rows.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0.0), -r["id"]))
        rows = rows[offset : offset + limit]
    else:
        rows, total = query(limit=limit, offset=offset)
    explanations = _explanations(ctx, [r["id"] for r in rows])
    for r in rows:
        expl = explanations.get(r["id"]) or {}
        r["summary"] = alert_service.summary_line(r, lang)
        r["top_reason"] = top_reason(expl, lang)
    return rows, total


def _explanations(ctx, ids: list[int]) -> dict[int, dict]:
    """Stored explanations of a page of alerts, in one query."""
    if not ids:
        return {}
    with reading(ctx.engine) as conn:
        return {
            i: e
            for i, e in conn.execute(
                sa.select(alerts_table.c.id, alerts_table.c.explanation).where(alerts_table.c.id.in_(ids))
            )
        }


def top_reason(expl: dict, lang: Lang) -> str:
    """The one reason an inbox row shows: the largest factor, or the rule's own finding."""
    if expl.get("kind") == "model" and expl.get("factors"):
        return render_factors(expl["factors"][:1], lang)[0]["reason"]
    rule = expl.get("rule")
    if rule == "review_list":
        return expl.get("reason", "")
    if rule == "low_performer":
        return f"scorecard {expl.get('scorecard_total')} < {expl.get('bar')}"
    if rule == "reminder":
        leads = len(expl.get("lead_followups") or [])
        visits = expl.get("weekly_visits")
        parts = [f"{leads} lead(s) not contacted in time"] if leads else []
        if visits:
            parts.append(visits.get("suggestion", ""))
        return "; ".join(parts)
    return ""


def alert(ctx, principal: Principal, alert_id: int) -> dict:
    """One alert with explanation and reviews; `NotVisible` when missing or outside the caller's scope."""
    row = alert_service.get_alert(ctx.engine, alert_id)
    if row is None or not can_see(principal, employee_id=row["employee_id"], team_id=row["team_id"]):
        raise NotVisible(f"alert {alert_id}")
    return row


def review(ctx, principal: Principal, alert_id: int, *, decision: str, note: str, request_id: str | None) -> dict:
    """Confirm or dismiss through the API's own path: the same service call, snapshot update and audit entry."""
    alert(ctx, principal, alert_id)
    return alert_actions.review_alert(
        home=ctx.home,
        alert_id=alert_id,
        decision=decision,
        note=note,
        reviewer=principal.name,
        request_id=request_id,
        data=ctx.data,
    )


def record_view(ctx, principal: Principal, action: str, target: str, request_id: str | None, **details) -> None:
    """An audit entry for what a page showed or did (e.g. `alert.view`, `session.start`)."""
    ctx.audit.record(
        principal=principal.name, action=action, target=target, request_id=request_id, details=details or None
    )


def factors(expl: dict, lang: Lang) -> list[dict]:
    """The stored model factors with display name, formatted value (`value_text`) and reason text in `lang`."""

    out = render_factors(expl.get("factors") or [], lang)
    for f in out:
        feat = catalog.get(f["feature"])
        f["value_text"] = catalog.format_value(f["value"], feat.unit, lang)
        f["text"] = feat.describe_value(f["value"], lang)
    return out


def employee_months(ctx, employee_id: str | None, until=None, months: int = 6) -> list[dict]:
    """The employee's last months (revenue, target, activities...) begun before `until`, oldest first."""
    return trajectory(ctx.data.monthly(), employee_id, months, until=until)


def customer_timeline(ctx, context: dict) -> list[dict]:
    """The customer's orders, activities and ownership changes around a transfer, oldest first."""
    customer, at = context.get("customer_id"), context.get("changed_at")
    if not customer or not at:
        return []
    ds = ctx.data.dataset()
    at = pd.Timestamp(at)
    lo, hi = at - pd.Timedelta(days=TIMELINE_DAYS), at + pd.Timedelta(days=TIMELINE_DAYS)
    events = []
    changes = ds.ownership_changes[ds.ownership_changes["customer_id"] == customer]
    for r in changes.itertuples():
        if lo <= r.changed_at <= hi:
            events.append(
                {
                    "at": r.changed_at,
                    "kind": "ownership",
                    "who": f"{r.from_employee_id} → {r.to_employee_id}",
                    "what": str(r.reason) if pd.notna(r.reason) else "",
                    "this": r.change_id == context.get("change_id"),
                }
            )
    orders = ds.orders[ds.orders["customer_id"] == customer]
    for r in orders.itertuples():
        if lo <= r.closed_at <= hi:
            events.append(
                {
                    "at": r.closed_at,
                    "kind": "order",
                    "who": r.employee_id,
                    "what": f"{r.order_type} {number(r.amount):,.2f}",
                    "this": False,
                }
            )
    acts = ds.activities[ds.activities["customer_id"] == customer]
    for r in acts.itertuples():
        if lo <= r.occurred_at <= hi:
            events.append(
                {"at": r.occurred_at, "kind": "activity", "who": r.employee_id, "what": str(r.type), "this": False}
            )
    events.sort(key=lambda e: e["at"])
    for e in events:
        e["days"] = (e["at"] - at) / pd.Timedelta(days=1)
    return events


# -- people --------------------------------------------------------------------------------------------
def employee(ctx, principal: Principal, employee_id: str) -> dict:
    """The employee's public record; `NotVisible` when unknown or outside the caller's scope."""
    frame = ctx.data.employees()
    if employee_id not in frame.index:
        raise NotVisible(f"employee {employee_id}")
    row = frame.loc[employee_id]
    if not can_see(principal, employee_id=employee_id, team_id=str(row["team_id"])):
        raise NotVisible(f"employee {employee_id}")
    return {"employee_id": employee_id, "role": str(row["role"]), "team_id": str(row["team_id"])}


def team_members(ctx, team: str) -> list[dict]:
    """The team's employees (id, role), employed or not, sorted by id."""
    frame = ctx.data.employees()
    frame = frame[frame["team_id"] == team].sort_values("employee_id")
    return [
        {"employee_id": str(r.employee_id), "role": str(r.role), "left": pd.notna(r.termination_date)}
        for r in frame.itertuples()
    ]


def scores(ctx, model: str, ids: list[str], lang: Lang) -> dict[str, dict]:
    """employee id -> the by-id result of `model` (scored with factors, or its state and reason)."""

    if not ids:
        return {}
    spec = get_pipeline(model)
    out = {}
    for i in ids:  # one at a time: an id the pipeline does not know is "not tracked", not a failed page
        try:
            out[i] = score_ids(spec, ctx.models.scorer(model), ctx.data, [i], lang=lang)[0]
        except UnknownUnits:
            out[i] = {"outcome": "not_tracked", "state": None, "score": None, "factors": [], "reason": None}
    return out


def high_performer_traits(ctx, lang: Lang, top: int = 5) -> list[dict]:
    """The behaviours the high-performer model rewards most (global profile), most important first."""

    models = ctx.models.loaded()
    if "high-performer" not in models:
        return []
    key = ("ui-profile", lang)
    profile = ctx.data.derived(
        key, lambda ds: get_pipeline("high-performer").profile(ds, models["high-performer"], lang)
    )
    return profile.head(top).to_dict("records")


def team_alerts(ctx, team: str, type: str, lang: Lang) -> list[dict]:
    """The team's alerts of one rule type (reminders, review list) with their explanations, newest first."""
    rows, _ = alert_service.list_alerts(ctx.engine, type=type, scope_team=team, limit=200)
    expl = _explanations(ctx, [r["id"] for r in rows])
    return [{**r, "summary": alert_service.summary_line(r, lang), "explanation": expl.get(r["id"]) or {}} for r in rows]


# -- payouts -------------------------------------------------------------------------------------------
def periods(ctx) -> list[str]:
    """Months with data, newest first (YYYY-MM)."""
    monthly = ctx.data.monthly()
    if monthly.empty:
        return []
    return sorted(monthly["period"].astype(str).unique(), reverse=True)


def previous_period(period: str) -> str:
    p = pd.Period(period, freq="M") - 1
    return str(p)


def payout(ctx, employee_id: str, period: str, plan: str = alert_actions.DEFAULT_PLAN) -> dict | None:
    """One employee's result for a period (scorecard, lines, trace) as plain JSON, or None if not evaluated."""

    scores, reviews = crediting_inputs(home=ctx.home)  # the API's crediting inputs: one definition for both
    run = evaluate(
        load_plan(plan), ctx.data.dataset(), period, scores=scores, reviews=reviews, employee_ids=[employee_id]
    )
    result = run.result(employee_id, period)
    if result is None:
        return None
    return {"plan": run.plan, "currency": run.currency, **result.to_dict()}


def record_payout_view(
    ctx, principal: Principal, employee_id: str, period: str, request_id: str | None, result: dict | None
) -> None:
    """The audit entry the API writes for a plan evaluation, for a payout page."""
    plan = (result or {}).get("plan") or {"id": alert_actions.DEFAULT_PLAN, "version": "?", "hash": ""}
    ctx.audit.record(
        principal=principal.name,
        action="plan.evaluate",
        target=f"plan:{plan['id']}",
        version=f"{plan['id']} v{plan['version']} ({plan['hash'][:12]})",
        request_id=request_id,
        details={
            "period": period,
            "employee_id": employee_id,
            "via": "page",
            "total_payout": (result or {}).get("total"),
        },
    )


# -- models --------------------------------------------------------------------------------------------
def model_versions(ctx) -> list[dict]:
    """Per model: served status and every version with its test metrics (model vs baseline) and report images."""

    status = ctx.models.status()
    frame = list_versions(list(status), home=ctx.home)
    c = client(home=ctx.home)
    out = []
    for name, s in status.items():
        versions = []
        for _, r in frame[frame["model"] == name].iterrows() if not frame.empty else []:
            metrics = {
                k: float(v)
                for k, v in r.items()
                if k.startswith(("model_", "baseline_")) and isinstance(v, (int, float)) and math.isfinite(v)
            }
            versions.append(
                {
                    "version": int(r["version"]),
                    "champion": bool(r["champion"]),
                    "kind": r.get("kind"),
                    "created": r.get("created"),
                    "metrics": metrics,
                    "not_promoted": r.get("not_promoted") or "",
                    "images": sorted(p.name for p in _report_dir(c, r.get("run_id")).glob("*.png")),
                }
            )
        out.append({"name": name, "status": s, "versions": versions})
    return out


def report_image(ctx, name: str, version: int, image: str) -> bytes | None:
    """The bytes of one evaluation-report image of a model version, or None."""

    frame = list_versions([name], home=ctx.home)
    rows = frame[(frame["model"] == name) & (frame["version"] == version)] if not frame.empty else frame
    if rows.empty:
        return None
    folder = _report_dir(client(home=ctx.home), rows.iloc[0]["run_id"])
    names = {p.name: p for p in folder.glob("*.png")}  # only listed files: no path from the request is opened
    return names[image].read_bytes() if image in names else None


def _report_dir(c, run_id):
    """The local folder of a run's `report/` artifacts (an empty path when the artifacts are not local)."""

    if not run_id:
        return Path("/nonexistent")
    uri = c.get_run(run_id).info.artifact_uri
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        return Path("/nonexistent")
    return Path(unquote(parsed.path)) / "report"


def bias_table(ctx, name: str) -> tuple[list[dict], dict] | None:
    """A champion's bias audit on the store's data (rows, summary), cached per snapshot; None without demographics."""

    def build(ds):
        try:
            table, summary = audit_champion(home=ctx.home, name=name, dataset=ds)
        except PerfmlError as exc:
            return None, str(exc)
        return table.to_dict("records"), summary

    rows, summary = ctx.data.derived(("ui-bias", name), build)
    if rows is None:
        return None
    return rows, summary


def now() -> datetime:

    return utcnow()
