"""Health routes (unauthenticated): liveness, readiness (models loaded, store answers), Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from api.deps import Context
from api.metrics import CONTENT_TYPE_LATEST
from api.render import model_status
from api.schemas.health import Health, Readiness
from perfml import __version__

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
def healthz() -> dict:
    return {"status": "ok", "version": __version__}


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: every model answers (champion or baseline rule) and the store answers",
    responses={
        503: {
            "model": Readiness,
            "description": "Not ready: a champion failed to load or is still "
            "loading (see `error`), or the store does not answer",
        }
    },
)
def readyz(ctx: Context) -> JSONResponse:
    store = ctx.store_ok()
    ready = store and ctx.models.ready
    ctx.metrics.ready.set(1 if ready else 0)
    body = Readiness(
        ready=ready,
        store=store,
        models=[model_status(s) for s in ctx.models.status().values()],
        degraded=ctx.models.degraded,
        warm=ctx.warm.is_set(),
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format",
        }
    },
)
def metrics(ctx: Context) -> Response:
    ctx.metrics.audit_queue.set(ctx.audit.backlog)
    ctx.metrics.set_models(ctx.models.status())
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)
