"""The pages under `/ui/`: sign-in, alert inbox and detail with review, payout, team, models.

Server-rendered (Jinja2), readable without JavaScript. Every page needs a session (`api.ui.session`);
roles and record visibility are the API's: a manager sees one team, an employee their own pages,
and anything outside answers 404 like a missing page. Every form POST carries the session's CSRF
token (the sign-in form a pre-session one), compared in constant time.
"""

from __future__ import annotations

import math
import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from api.schemas.common import MAX_PAGE, MAX_ROW_ID
from api.ui import charts, data
from api.ui.changes import payout_changes
from api.ui.session import COOKIE, LANGS, PageSession, SessionStore, csrf_ok, lang_of
from api.ui.text import TEXT, risk_words
from perfml.catalog import Lang
from perfml.keys import verify_key

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals["risk_words"] = risk_words
templates.env.filters["zip"] = zip
PRE_COOKIE = "perfml_signin"  # the sign-in form's CSRF token (double submit: cookie and hidden field)
PAGE_SIZE = 50
MAX_NOTE = 2000
REVIEWERS = ("hr_admin", "manager")


class PageError(Exception):
    """Answer with the error page: 403 (role, CSRF), 404 (missing or not visible)."""

    def __init__(self, status: int, kind: str):
        self.status, self.kind = status, kind


class SignInNeeded(Exception):
    """No live session: go to the sign-in page and come back."""


def store(request: Request) -> SessionStore:
    return request.app.state.ui_sessions


def ctx_of(request: Request):
    return request.app.state.ctx


def session_of(request: Request, *roles: str) -> PageSession:
    """The live session (its principal re-verified); `SignInNeeded` without one, 403 for another role."""
    session = store(request).get(request.cookies.get(COOKIE), ctx_of(request).engine)
    if session is None:
        raise SignInNeeded()
    if roles and session.principal.role not in roles:
        raise PageError(403, "forbidden")
    return session


def rid(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def render(request: Request, session: PageSession | None, name: str, status: int = 200, **values) -> HTMLResponse:
    lang = session.lang if session else lang_of(request.cookies.get("perfml_lang"))
    return templates.TemplateResponse(
        request,
        name,
        {"t": TEXT[lang], "lang": lang, "session": session, "me": session.principal if session else None, **values},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


async def form_of(request: Request) -> dict[str, str]:
    """A url-encoded form body as name -> first value (no other encoding is accepted)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise PageError(403, "csrf")
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


async def checked_form(request: Request, *roles: str) -> tuple[PageSession, dict[str, str]]:
    session = session_of(request, *roles)
    form = await form_of(request)
    if not csrf_ok(session.csrf, form.get("csrf")):
        raise PageError(403, "csrf")
    return session, form


def local(path: str | None, default: str = "/ui/") -> str:
    """A redirect target only within the pages (no open redirect)."""
    return path if path and path.startswith("/ui/") and not path.startswith("//") else default


def home_of(session: PageSession) -> str:
    p = session.principal
    if p.role in REVIEWERS:
        return "/ui/alerts"
    if p.role == "employee":
        return f"/ui/payout/{p.employee_id}"
    return "/ui/models"


# -- sign-in -------------------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def start(request: Request) -> Response:
    return RedirectResponse(home_of(session_of(request)), status_code=303)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str | None = None, failed: bool = False) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request, None, "sign_in.html", status=401 if failed else 200, csrf=token, next=local(next), failed=failed
    )
    response.set_cookie(
        PRE_COOKIE,
        token,
        max_age=600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ui",
    )
    return response


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Exchange the API key for a session cookie (the key is not kept in the browser)."""
    form = await form_of(request)
    pre = request.cookies.get(PRE_COOKIE)
    if not pre or not csrf_ok(pre, form.get("csrf")):
        raise PageError(403, "csrf")
    ctx = ctx_of(request)
    key = form.get("key", "").strip()
    principal = await run_in_threadpool(verify_key, key, ctx.engine)
    if principal is None:
        return RedirectResponse(
            "/ui/sign-in?" + urlencode({"failed": "true", "next": local(form.get("next"))}), status_code=303
        )
    sid, session = store(request).create(key, principal, lang=request.cookies.get("perfml_lang", "en"))
    data.record_view(ctx, principal, "session.start", "ui", rid(request))
    response = RedirectResponse(local(form.get("next"), home_of(session)), status_code=303)
    response.set_cookie(
        COOKIE,
        sid,
        max_age=int(store(request).lifetime),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ui",
    )
    response.delete_cookie(PRE_COOKIE, path="/ui")
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    session, _ = await checked_form(request)
    store(request).end(request.cookies.get(COOKIE))
    data.record_view(ctx_of(request), session.principal, "session.end", "ui", rid(request))
    response = RedirectResponse("/ui/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@router.post("/lang")
async def switch_language(request: Request) -> Response:
    """Remember the reader's language in the session (and a plain cookie for the sign-in page)."""
    session, form = await checked_form(request)
    if form.get("lang") in LANGS:
        session.lang = lang_of(form["lang"])
    response = RedirectResponse(local(form.get("next")), status_code=303)
    response.set_cookie(
        "perfml_lang",
        session.lang,
        max_age=365 * 86400,
        samesite="strict",
        path="/ui",
        secure=request.url.scheme == "https",
    )
    return response


# -- alerts --------------------------------------------------------------------------------------------
def _age(created, now, t: dict) -> str:
    if created is None:
        return ""
    hours = max(0.0, (pd.Timestamp(now) - pd.Timestamp(created)) / pd.Timedelta(hours=1))
    return f"{hours:.0f} {t['hours']}" if hours < 48 else f"{hours / 24:.0f} {t['days']}"


@router.get("/alerts", response_class=HTMLResponse)
def inbox(
    request: Request,
    type: str | None = None,
    status: str | None = None,
    team: str | None = None,
    sort: str = "date",
    page: int = 1,
    per_page: int = PAGE_SIZE,
) -> Response:
    """Alerts the caller may review: filter by model/rule, status and team; sort by date or score; pages of
    `per_page` (at most 200, the API's page limit)."""
    session = session_of(request, *REVIEWERS)
    ctx, p = ctx_of(request), session.principal
    type = type if type in data.alert_types() else None
    status = status if status in data.alert_statuses() else None
    team_choices = data.teams(ctx, p)
    team = team if team in team_choices else None
    sort = "score" if sort == "score" else "date"
    page = max(1, min(page, 10**6))
    per_page = max(1, min(per_page, MAX_PAGE))
    rows, total = data.alert_page(
        ctx,
        p,
        type=type,
        status=status,
        team=team,
        sort=sort,
        limit=per_page,
        offset=(page - 1) * per_page,
        lang=session.lang,
    )
    now, t = data.now(), TEXT[session.lang]
    for r in rows:
        r["age"] = _age(r["created_at"], now, t)
    pages = max(1, math.ceil(total / per_page))
    query = {
        k: v
        for k, v in (
            ("type", type),
            ("status", status),
            ("team", team),
            ("sort", sort),
            ("per_page", per_page if per_page != PAGE_SIZE else None),
        )
        if v
    }
    return render(
        request,
        session,
        "inbox.html",
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        query=urlencode(query),
        types=data.alert_types(),
        statuses=data.alert_statuses(),
        teams=team_choices,
        chosen={"type": type, "status": status, "team": team, "sort": sort},
    )


def _alert_id(text: str) -> int:
    if not text.isdigit() or len(text) > 10 or not 1 <= int(text) <= MAX_ROW_ID:
        raise PageError(404, "not_found")
    return int(text)


def _alert_view(ctx, row: dict, lang: Lang) -> dict:
    """Everything the alert page shows beyond the row: factors, waterfall, trajectory, evidence, timeline."""
    t = TEXT[lang]
    expl = row.get("explanation") or {}
    view: dict[str, object] = {
        "summary": data.alert_service.summary_line(row, lang),
        "expl": expl,
        "waterfall": None,
        "factors": [],
        "timeline": [],
    }
    if expl.get("kind") == "model":
        factors = data.factors(expl, lang)
        view["factors"] = factors
        steps = charts.waterfall_steps(expl["base_value"], factors, expl.get("other_contribution") or 0.0, t["other"])
        view["waterfall"] = charts.waterfall_svg(
            steps, base_label=t["base"], final_label=t["this_alert"], title=t["factors"]
        )
        view["steps"] = steps
        if row["type"] == "transfer_anomaly":
            view["timeline"] = data.customer_timeline(ctx, expl.get("context") or {})
    months = data.employee_months(ctx, row["employee_id"], until=row["as_of"])
    view["trajectory"] = charts.trajectory_svg(months, labels=t, title=t["trajectory"])
    return view


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: str, saved: bool = False, error: str | None = None) -> Response:
    """One alert explained: summary, factor waterfall, months, evidence, the customer's timeline, review form."""
    session = session_of(request, *REVIEWERS)
    ctx = ctx_of(request)
    try:
        row = data.alert(ctx, session.principal, _alert_id(alert_id))
    except data.NotVisible:
        raise PageError(404, "not_found") from None
    data.record_view(ctx, session.principal, "alert.view", f"alert:{row['id']}", rid(request), via="page")
    return render(
        request, session, "alert.html", row=row, saved=saved, error=error, **_alert_view(ctx, row, session.lang)
    )


@router.post("/alerts/{alert_id}/review")
async def review(request: Request, alert_id: str) -> Response:
    """Confirm or dismiss with a note, through the API's review path (a transfer review labels the change)."""
    session, form = await checked_form(request, *REVIEWERS)
    ident = _alert_id(alert_id)
    decision, note = form.get("decision"), form.get("note", "").strip()[:MAX_NOTE]
    if decision not in ("confirm", "dismiss") or not note:
        return RedirectResponse(f"/ui/alerts/{ident}?error=note_required", status_code=303)
    try:
        await run_in_threadpool(
            data.review,
            ctx_of(request),
            session.principal,
            ident,
            decision=decision,
            note=note,
            request_id=rid(request),
        )
    except data.NotVisible:
        raise PageError(404, "not_found") from None
    return RedirectResponse(f"/ui/alerts/{ident}?saved=true", status_code=303)


# -- payout --------------------------------------------------------------------------------------------
@router.get("/payout/{employee_id}", response_class=HTMLResponse)
def payout(request: Request, employee_id: str, period: str | None = None) -> Response:
    """The period's scorecard and payout with its trace, and what changed since the month before."""
    session = session_of(request, "hr_admin", "manager", "employee")
    ctx = ctx_of(request)
    try:
        person = data.employee(ctx, session.principal, employee_id)
    except data.NotVisible:
        raise PageError(404, "not_found") from None
    periods = data.periods(ctx)
    period = period if period in periods else (periods[0] if periods else None)
    current = previous = None
    if period is not None:
        current = data.payout(ctx, employee_id, period)
        previous = (
            data.payout(ctx, employee_id, data.previous_period(period))
            if data.previous_period(period) in periods
            else None
        )
    data.record_payout_view(ctx, session.principal, employee_id, period or "", rid(request), current)
    return render(
        request,
        session,
        "payout.html",
        person=person,
        period=period,
        periods=periods,
        result=current,
        previous=previous,
        changes=payout_changes(previous, current),
    )


# -- team ----------------------------------------------------------------------------------------------
STATE_WORD = {"scored": "scored", "insufficient_history": "insufficient_history", "no_activity": "no_activity"}


@router.get("/team", response_class=HTMLResponse)
def team(request: Request, team: str | None = None) -> Response:
    """A manager's team: decline risk with its state, reminders due, review list, high-performer match."""
    session = session_of(request, *REVIEWERS)
    ctx, p = ctx_of(request), session.principal
    choices = data.teams(ctx, p)
    if team is not None and team not in choices:
        raise PageError(404, "not_found")
    team = team or (p.team_id if p.role == "manager" else (choices[0] if choices else None))
    if team is None:
        raise PageError(404, "not_found")
    members = [m for m in data.team_members(ctx, team) if not m["left"]]
    ids = [m["employee_id"] for m in members]
    decline = data.scores(ctx, "decline", ids, session.lang)
    match = data.scores(ctx, "high-performer", ids, session.lang)
    for m in members:
        m["decline"], m["match"] = decline.get(m["employee_id"]), match.get(m["employee_id"])
    data.record_view(ctx, p, "team.view", f"team:{team}", rid(request))
    return render(
        request,
        session,
        "team.html",
        team=team,
        teams=choices,
        members=members,
        reminders=data.team_alerts(ctx, team, "reminder", session.lang),
        review_list=data.team_alerts(ctx, team, "review_list", session.lang),
        traits=data.high_performer_traits(ctx, session.lang),
        state_word=STATE_WORD,
    )


# -- models --------------------------------------------------------------------------------------------
@router.get("/models", response_class=HTMLResponse)
def models(request: Request) -> Response:
    """Champions and versions with held-out metrics against the baseline, report images, bias audits."""
    session = session_of(request, "hr_admin")
    ctx = ctx_of(request)
    overview = data.model_versions(ctx)
    for m in overview:
        m["bias"] = data.bias_table(ctx, m["name"]) if m["status"].get("loaded") else None
    return render(request, session, "models.html", models=overview)


@router.get("/models/{name}/{version}/{image}")
def report_image(request: Request, name: str, version: int, image: str) -> Response:
    session_of(request, "hr_admin")
    body = data.report_image(ctx_of(request), name, version, image)
    if body is None:
        raise PageError(404, "not_found")
    return Response(body, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})
