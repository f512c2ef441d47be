"""Models: registered versions with metrics, the served champion, reload when the alias moved."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from api.deps import Context, Models, RequestId
from api.errors import ApiProblem, responses
from api.permissions import Admin, ModelReader
from api.render import model_status, utc
from api.schemas.models import ModelDetail, ModelInfo, ReloadResponse
from perfml import catalog
from perfml.home import Home
from perfml.pipelines import PIPELINE_NAMES, get_pipeline
from perfml.services import models as service

router = APIRouter(prefix="/v1/models", tags=["models"])

ModelName = Annotated[
    str,
    Path(
        description="Model: " + ", ".join(PIPELINE_NAMES) + ".",
        json_schema_extra={"enum": list(PIPELINE_NAMES)},
        examples=["decline"],
    ),
]


def _versions(name: str, home: Home) -> list[dict]:
    try:
        frame = service.versions(home=home, names=[name])
    except Exception:  # the registry is unreadable: the status' error says more
        return []
    out = []
    for _, r in frame.iterrows():
        metrics = {
            k: float(v)
            for k, v in r.items()
            if isinstance(k, str)
            and k.startswith(("model_", "baseline_"))
            and isinstance(v, (int, float))
            and math.isfinite(v)
        }
        out.append(
            {
                "version": int(r["version"]),
                "champion": bool(r["champion"]),
                "kind": r.get("kind") or None,
                "created": utc(r.get("created")),
                "metrics": metrics,
            }
        )
    return out


def _info(models, name: str, home: Home) -> dict:
    return {**model_status(models.status()[name]), "versions": _versions(name, home)}


@router.get(
    "", response_model=list[ModelInfo], summary="Models, versions, metrics and champions", responses=responses(401, 403)
)
def list_models(principal: ModelReader, models: Models, ctx: Context) -> list[dict]:
    """Every model: the served version, the champion alias, load errors, and each registered
    version's test-side metrics (model and baseline). Roles: hr_admin, hr_system."""
    return [_info(models, name, ctx.home) for name in models.names]


@router.post(
    "/reload",
    response_model=ReloadResponse,
    summary="Reload champions whose alias moved",
    responses=responses(401, 403),
)
async def reload(principal: Admin, ctx: Context, rid: RequestId) -> dict:
    """Re-resolve every `champion` alias and load the versions that moved (a version that failed
    before is retried). The swap is atomic per model; requests keep being served. Role: hr_admin."""
    before, status, changed = await run_in_threadpool(lambda: service.reload(models=ctx.models, by=principal.name))
    ctx.audit.record(
        principal=principal.name,
        action="model.reload",
        target="models",
        version=", ".join(f"{n}@{s['version']}" for n, s in status.items() if s["version"]),
        request_id=rid,
        details={
            "before": before,
            "changed": changed,
            "errors": {n: s["error"] for n, s in status.items() if s["error"]},
        },
    )
    ctx.metrics.set_models(status)
    return {"models": [model_status(s) for s in status.values()], "changed": changed}


@router.get(
    "/{name}",
    response_model=ModelDetail,
    summary="One model: versions, metrics and features",
    responses=responses(401, 403, 404, 422),
)
def get_model(name: ModelName, principal: ModelReader, models: Models, ctx: Context) -> dict:
    """The model's status and versions plus the served version's features (catalog names, units,
    descriptions): what `POST /v1/scores/{name}` rows may contain. Roles: hr_admin, hr_system."""
    if name not in models.names:
        raise ApiProblem(404, f"unknown model {name!r}; models: {', '.join(models.names)}", kind="not-found")
    info = _info(models, name, ctx.home)
    features: list[str] = []
    if info["loaded"]:
        features = models.get(name).features
    else:
        try:
            features = list(get_pipeline(name, ctx.settings).features)
        except KeyError:
            features = []
    cat = [catalog.get(f) for f in features]
    return {
        **info,
        "features": [
            {
                "name": f.name,
                "display_name_en": f.display_en,
                "display_name_zh": f.display_zh,
                "unit": f.unit,
                "description": f.description,
            }
            for f in cat
        ],
    }
