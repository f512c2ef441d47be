"""Every error as `application/problem+json` (RFC 9457) with the field path; never a stack trace.

Handlers map: request validation -> 422 with one entry per invalid field; HTTP errors (401,
403, 404, 405, 413) -> their status; perfml's own errors -> 404 (unknown model, alert), 422
(bad records, plans, input), 503 (a model not loaded); anything else -> 500 with only the
request id (the traceback goes to the server log).
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas.common import Problem
from perfml.alerts import AlertNotFound
from perfml.errors import (
    DataValidationError,
    ModelNotFoundError,
    PerfmlError,
    PeriodClosed,
    PlanError,
)
from perfml.serving.champions import ModelUnavailable, UnknownModel

log = logging.getLogger("perfml.api")
PROBLEM_JSON = "application/problem+json"
TYPE = "urn:perfml:problem:"


class ApiProblem(Exception):
    """Raise from a route to answer with a problem: status, detail, optional field errors and headers."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        errors: list[dict] | None = None,
        headers: dict[str, str] | None = None,
        title: str | None = None,
    ):
        super().__init__(detail)
        self.status, self.detail, self.kind, self.errors, self.headers = status, detail, kind, errors, headers
        self.title = title


def not_found(what: str) -> ApiProblem:
    """404 with a clear message (also what a manager gets for another team's record)."""
    return ApiProblem(404, f"{what} not found", kind="not-found")


def path_of(loc: list | tuple) -> str:
    """`["body", "rows", 3, "x"]` -> `rows[3].x` (body/query/path prefixes dropped from the readable path)."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def field_error(loc: list | tuple, msg: str, type_: str, **extra: Any) -> dict:
    loc = [p if isinstance(p, int) else str(p) for p in loc]
    return {"loc": loc, "path": path_of(loc), "msg": msg, "type": type_, **extra}


def problem_body(
    request: Request | None,
    status: int,
    detail: str | None,
    *,
    kind: str | None = None,
    errors: list[dict] | None = None,
    title: str | None = None,
    path: str | None = None,
    request_id: str | None = None,
) -> dict:
    if request is not None:
        path = request.url.path
        request_id = getattr(request.state, "request_id", None)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body = {
        "type": f"{TYPE}{kind}" if kind else "about:blank",
        "title": title or phrase,
        "status": status,
        "detail": detail,
        "instance": path,
        "request_id": request_id,
    }
    if errors:
        body["errors"] = errors
    return body


def problem(
    request: Request | None, status: int, detail: str | None, *, headers: dict | None = None, **kw
) -> JSONResponse:
    return JSONResponse(
        problem_body(request, status, detail, **kw), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


def problem_bytes(status: int, detail: str, *, path: str, request_id: str | None, kind: str | None = None) -> bytes:
    """The encoded body, for ASGI middleware that answers before FastAPI runs (413)."""
    return json.dumps(problem_body(None, status, detail, kind=kind, path=path, request_id=request_id)).encode()


def record_errors(exc: DataValidationError, prefix: tuple = ("body", "records")) -> list[dict]:
    """Contract problems as field errors naming each record: `records.orders[3].amount`."""
    out = []
    for p in exc.problems:
        base = [*prefix, p.table]
        if p.rows:
            for row in p.rows:
                loc = base + [row] + ([p.column] if p.column else [])
                out.append(
                    field_error(
                        loc,
                        p.rule + (f" [{p.detail}]" if p.detail else ""),
                        "record",
                        table=p.table,
                        column=p.column,
                        count=p.count,
                    )
                )
        else:
            loc = base + ([p.column] if p.column else [])
            out.append(
                field_error(
                    loc,
                    p.rule + (f" [{p.detail}]" if p.detail else ""),
                    "record",
                    table=p.table,
                    column=p.column,
                    count=p.count or None,
                )
            )
    return out


def _summary(errors: list[dict]) -> str:
    first = errors[0]
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{first['path']}: {first['msg']}{more}"


def install(app: FastAPI) -> None:
    """Register the problem+json handlers on `app`."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = []
        for e in exc.errors():
            msg = str(e.get("msg", "invalid"))
            errors.append(field_error(tuple(e.get("loc", ())), msg, str(e.get("type", "invalid"))))
        errors = errors or [field_error(("body",), "invalid request", "invalid")]
        return problem(request, 422, _summary(errors), kind="validation", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path}; see /docs"
        return problem(request, exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(ApiProblem)
    async def _api(request: Request, exc: ApiProblem):
        return problem(
            request, exc.status, exc.detail, kind=exc.kind, errors=exc.errors, headers=exc.headers, title=exc.title
        )

    @app.exception_handler(DataValidationError)
    async def _data(request: Request, exc: DataValidationError):
        errors = record_errors(exc)
        return problem(request, 422, _summary(errors) if errors else str(exc), kind="invalid-records", errors=errors)

    @app.exception_handler(PlanError)
    async def _plan(request: Request, exc: PlanError):
        return problem(request, 422, str(exc), kind="invalid-plan")

    @app.exception_handler(PerfmlError)
    async def _perfml(request: Request, exc: PerfmlError):
        if isinstance(exc, (UnknownModel, ModelNotFoundError, AlertNotFound)):
            return problem(request, 404, str(exc), kind="not-found")
        if isinstance(exc, PeriodClosed):
            return problem(request, 409, str(exc), kind="period-closed")
        if isinstance(exc, ModelUnavailable):
            return problem(request, 503, str(exc), kind="model-unavailable", headers={"Retry-After": "30"})
        return problem(request, 422, str(exc), kind="unprocessable")

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        rid = getattr(request.state, "request_id", None)
        log.exception("unhandled error (request %s)", rid)
        return problem(request, 500, f"internal error; quote request id {rid} to the operator", kind="internal")


def responses(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI entries for the problem responses a route can give (400, a malformed request, always)."""
    statuses = tuple(sorted({400, *statuses}))
    text = {
        400: "Malformed request",
        401: "Missing or invalid API key",
        403: "The key's role may not do this",
        404: "Unknown id or model (or another team's record)",
        409: "Conflict",
        413: "Body or batch too large",
        422: "Invalid input; `errors` names every field",
        503: "A model is not loaded yet",
    }
    return {
        s: {
            "description": text.get(s, HTTPStatus(s).phrase),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for s in statuses
    }


def problem_components() -> dict[str, dict]:
    """JSON schemas of `Problem` and `FieldError` for `components.schemas` (routes reference them by $ref)."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {"Problem": schema, **defs}


__all__ = [
    "ApiProblem",
    "PROBLEM_JSON",
    "field_error",
    "install",
    "not_found",
    "path_of",
    "problem",
    "problem_body",
    "problem_bytes",
    "problem_components",
    "record_errors",
    "responses",
]
