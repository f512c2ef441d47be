"""The app factory: `create_app(home=None)` -> FastAPI app serving one perfml home under `/v1`.

Start-up (lifespan): store tables created if missing, audit writer started (it purges expired
entries daily), champions loaded in a background thread - `/healthz` answers at once, `/readyz`
turns true when every champion is loaded - and the alias watched every `watch_interval`
seconds so a newly promoted champion is served without a restart; with `PERFML_SNAPSHOT_POLL_SECONDS`
set (several workers) the store snapshot follows the store's change feed. Shutdown flushes the audit log.

Run it with `perfml serve` (or `uvicorn --factory api.main:create_app`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors, ui
from api.context import ServiceContext
from api.metrics import ServiceMetrics
from api.middleware import ServiceMiddleware
from api.routes import alerts, audit, disputes, employees, health, ingest, kpi, models, scores, statements
from perfml import __version__
from perfml.audit_log import AuditBuffer, purge
from perfml.config import get_settings
from perfml.home import Home
from perfml.pipelines import get_pipeline
from perfml.serving.champions import ServingModels
from perfml.serving.snapshot import DatasetCache
from perfml.store import create_all

log = logging.getLogger("perfml.api")

DESCRIPTION = """\
perfml serves explained predictions (transfer anomaly, decline early warning, high-performer
match), alerts that managers review, and KPI scorecards and bonuses with traces.

**Auth**: every route except `/healthz`, `/readyz` and `/metrics` needs an API key as
`Authorization: Bearer pfm_...` (`perfml keys create --role ROLE [--team T] [--employee E]`).
Roles: `hr_admin` (everything), `hr_system` (ingest, score), `manager` (own team's alerts and
results; other teams' records answer 404), `employee` (own results).

**Errors** are `application/problem+json` with the field path of every invalid field.
**Limits**: request bodies up to `PERFML_API_MAX_BODY_BYTES`, batches up to `PERFML_API_MAX_BATCH`
rows or records, pages up to 200 items. **Explanations** are TreeSHAP in the raw (log-odds) space:
`base_value + sum(factors) + other_contribution == raw_score`, `score = sigmoid(raw_score)`.
"""

ROUTERS = (
    health.router,
    scores.router,
    alerts.router,
    kpi.router,
    statements.router,
    disputes.router,
    employees.router,
    ingest.router,
    models.router,
    audit.router,
)


def create_app(
    home: Home | None = None,
    *,
    model_names: Iterable[str] | None = None,
    load_models: bool = True,
    background: bool = True,
    watch_interval: float | None = 30.0,
    data_max_age: float = 300.0,
    warm: bool = True,
) -> FastAPI:
    """Build the service over `home` (default: the one the `PERFML_*` environment describes): its
    store and its model registry. Keyword options are for tests and embedding: which models to serve
    (default: every pipeline), whether to load them at start-up and in a thread, how often to
    re-check the champion aliases (None: never), how long a store snapshot may be reused, and
    whether to build the snapshot and scoring frames in the background after start-up."""
    home = home or Home(get_settings())
    settings, engine = home.settings, home.engine
    metrics = ServiceMetrics()
    audit_buffer = AuditBuffer(engine, retention_days=settings.audit_retention_days)

    def on_model_change(name: str, old: str | None, new: str, by: str) -> None:
        audit_buffer.record(
            principal=by, action="model.change", target=name, version=new, details={"from": old, "to": new}
        )

    ctx = ServiceContext(
        home=home,
        models=ServingModels(model_names, home=home, on_change=on_model_change),
        # Polling the change feed: the snapshot follows every process's writes, by key (several workers).
        data=DatasetCache(engine, max_age=data_max_age, follow=settings.snapshot_poll_seconds is not None),
        audit=audit_buffer,
        metrics=metrics,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        create_all(engine)
        try:
            purge(engine, retention_days=settings.audit_retention_days)
        except Exception:
            log.exception("audit log purge failed")
        audit_buffer.start()
        if load_models:
            ctx.models.start(background=background, watch_interval=watch_interval)
        if load_models and warm:
            # Build the store snapshot once the models are in, so the first by-id request is quick.
            threading.Thread(target=_warm, args=(ctx,), name="perfml-warm", daemon=True).start()
        if settings.snapshot_poll_seconds is not None:
            ctx.data.start_following(settings.snapshot_poll_seconds)
        try:
            yield
        finally:
            ctx.data.stop_following()
            ctx.models.stop()
            audit_buffer.close()

    app = FastAPI(
        title="perfml",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,  # served from local assets by api.ui
        openapi_tags=[
            {"name": "scores", "description": "Explained predictions from the champions."},
            {"name": "alerts", "description": "Alerts, their explanation and review."},
            {"name": "kpi", "description": "KPI scorecards and bonuses with traces; what-if."},
            {"name": "employees", "description": "Employees and their recent months."},
            {"name": "ingest", "description": "Batch upsert of contract records."},
            {"name": "models", "description": "Versions, metrics, champions, reload."},
            {"name": "audit", "description": "Who did what, when, with which version."},
            {"name": "health", "description": "Liveness, readiness, Prometheus metrics."},
        ],
    )
    app.state.ctx = ctx
    errors.install(app)
    app.add_middleware(ServiceMiddleware, max_body=settings.api_max_body_bytes, metrics=metrics)
    for router in ROUTERS:
        app.include_router(router)
    ui.install(app, settings.session_seconds)  # pages under /ui/, offline /docs and /redoc
    _document_problems(app)
    return app


def _warm(ctx: ServiceContext) -> None:
    """Build the store snapshot, the trajectories and each served model's scoring frame ahead of requests."""
    ctx.models.wait(timeout=600)
    try:
        ctx.data.dataset()
        ctx.data.monthly()
        for name in ctx.models.loaded():
            ctx.data.features(get_pipeline(name, ctx.settings))
    except Exception:
        log.exception("warming the store snapshot failed (it is built on the next request instead)")
    finally:
        ctx.warm.set()


def _document_problems(app: FastAPI) -> None:
    """Add the Problem schemas the routes reference by $ref to the generated OpenAPI document."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(errors.problem_components())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["create_app"]
