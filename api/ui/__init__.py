"""Pages for managers, HR and employees under `/ui/`, and the API docs served without a CDN.

`install(app)` adds the page routes, their stylesheet, the session store, the error pages and
local Swagger UI / ReDoc at `/docs` and `/redoc` (assets from the `fastapi-offline` package).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.ui import docs
from api.ui.routes import PageError, SignInNeeded, render, router, session_of
from api.ui.session import SessionStore


def install(app: FastAPI, session_seconds: float) -> None:
    """Serve the pages (sessions lasting `session_seconds`), their static files and the offline docs on `app`."""
    app.state.ui_sessions = SessionStore(session_seconds)
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="ui-static")
    docs.install(app)

    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, exc: SignInNeeded):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/ui/sign-in?next={target if request.method == 'GET' else '/ui/'}", status_code=303)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError):
        try:
            session = session_of(request)
        except SignInNeeded:
            session = None
        return render(request, session, "error.html", status=exc.status, kind=exc.kind)


__all__ = ["install"]
