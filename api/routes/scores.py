"""Scores: explained predictions from the champions (or, without one, the baseline rule), from feature rows
or by id from the store (the use case: `perfml.services.scoring`)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.deps import Context, Data, Models, RequestId, SettingsDep
from api.errors import ApiProblem, field_error, responses
from api.permissions import IdScorer, Scorer, can_see
from api.render import json_response, json_text, raw_json_response
from api.schemas.scores import ScoreIdsRequest, ScoreResponse, ScoreRowsRequest
from perfml import catalog
from perfml.keys import Principal
from perfml.modeling.spec import PipelineSpec
from perfml.pipelines import PIPELINE_NAMES, get_pipeline
from perfml.services import scoring
from perfml.serving.fast import ServedModel, UnknownFeatures
from perfml.serving.render import explained

router = APIRouter(prefix="/v1/scores", tags=["scores"])

ModelName = Annotated[
    str,
    Path(
        description="Model: " + ", ".join(PIPELINE_NAMES) + ".",
        json_schema_extra={"enum": list(PIPELINE_NAMES)},
        examples=["transfer-anomaly"],
    ),
]
TopK = Annotated[int, Query(ge=1, le=100, description="Factors per result (largest |contribution| first).")]
Lang = Annotated[catalog.Lang, Query(description="Language of display names and reasons.")]
INLINE_ROWS = 16
CHUNKED_ROWS = 300  # from here on, TreeSHAP in overlapping chunks


def _check_batch(n: int, limit: int, field: str) -> None:
    if n > limit:
        raise ApiProblem(
            422,
            f"{field}: at most {limit} per request, got {n}",
            kind="batch-too-large",
            errors=[field_error(("body", field), f"at most {limit} items, got {n}", "too_long")],
        )


def _payload(
    model: str, answered_by: ServedModel | PipelineSpec, results: list[dict], top_k: int, lang: catalog.Lang
) -> dict:
    """The response body; `answered_by`: the champion served or, without one, the pipeline whose baseline answered."""
    if not isinstance(answered_by, ServedModel):
        spec = answered_by
        return {
            "model": model,
            "version": None,
            "kind": "baseline",
            "threshold": None,
            "source": "baseline",
            "baseline": spec.baseline_description or None,
            "lang": lang,
            "top_k": top_k,
            "results": results,
        }
    served = answered_by
    return {
        "model": served.name,
        "version": served.version,
        "kind": served.kind,
        "threshold": served.threshold,
        "source": "model",
        "lang": lang,
        "top_k": top_k,
        "results": results,
    }


def _audit(
    ctx,
    principal: Principal,
    model: str,
    served: ServedModel | None,
    rid: str | None,
    *,
    how: str,
    rows: int,
    alerts: int,
    top_k: int,
    lang: catalog.Lang,
    results: list[dict] | None = None,
) -> None:
    """Count the predictions and write the audit entry (by id: which units and their scores)."""
    ctx.metrics.predictions.labels(model).inc(rows)
    details = {
        "by": how,
        "rows": rows,
        "alerts": alerts,
        "top_k": top_k,
        "lang": lang,
        "source": "model" if served is not None else "baseline",
    }
    if results is not None:
        details["ids"] = [r["id"] for r in results]
        details["scores"] = [None if r["score"] is None else round(r["score"], 6) for r in results]
    ctx.audit.record(
        principal=principal.name,
        action="score",
        target=model,
        version=served.version if served is not None else None,
        request_id=rid,
        details=details,
    )


def _alerts(results: list[dict]) -> int:
    return sum(1 for r in results if r["alert"])


def _baseline_rows(spec: PipelineSpec, body: ScoreRowsRequest, model: str, lang: catalog.Lang) -> list[dict]:
    """Feature rows scored by the baseline rule (no champion); unknown feature names: 422 with their paths."""
    known = set(spec.features) | set(spec.baseline_features)
    hint = f"unknown feature of model {model!r} (GET /v1/models/{model} lists its features)"
    if body.rows is not None:
        bad = [(i, n) for i, row in enumerate(body.rows) for n in row if n not in known]
        if bad:
            raise _invalid(
                [
                    field_error(("body", "rows", i, n), f"unknown feature of model {model!r}", "unknown_feature")
                    for i, n in bad[:50]
                ],
                hint,
            )
        frame = pd.DataFrame.from_records(body.rows, columns=sorted({n for row in body.rows for n in row}))
    else:
        columns, data = _columns(body)
        unknown = [j for j, c in enumerate(columns) if c not in known]
        if unknown:
            raise _invalid(
                [
                    field_error(("body", "columns", j), f"unknown feature of model {model!r}", "unknown_feature")
                    for j in unknown[:50]
                ],
                hint,
            )
        frame = pd.DataFrame(data, columns=columns)
    try:
        return scoring.baseline_results(spec, frame.astype("float64"), lang=lang)
    except KeyError as exc:  # the rule reads a unit's context (e.g. its role), not only features
        raise ApiProblem(
            422,
            f"model {model!r} has no champion and its baseline rule needs {exc} besides the "
            f"features; score these units by id (POST /v1/scores/{model}/by-id)",
            kind="unprocessable",
        ) from None


@router.post(
    "/{model}",
    response_model=ScoreResponse,
    summary="Score and explain feature rows",
    responses=responses(401, 403, 404, 413, 422, 503),
)
async def score_rows(
    model: ModelName,
    body: ScoreRowsRequest,
    principal: Scorer,
    ctx: Context,
    models: Models,
    settings: SettingsDep,
    rid: RequestId,
    top_k: TopK = 3,
    lang: Lang = "en",
) -> Response:
    """Score rows of features with the model's champion; every result carries its top-k SHAP factors.

    Roles: hr_admin, hr_system.
    """
    served = models.scorer(model)
    n = _check_shape(body, model)
    _check_batch(n, settings.api_max_batch, "rows" if body.rows is not None else "data")
    if served is None:
        spec = get_pipeline(model, settings)
        results = _baseline_rows(spec, body, model, lang)
        _audit(ctx, principal, model, None, rid, how="rows", rows=len(results), alerts=0, top_k=top_k, lang=lang)
        return json_response(_payload(model, spec, results, top_k, lang))

    def work() -> Response:
        X = _matrix(served, body, model)
        results = explained(served.explain(X), top_k=top_k, lang=lang, threshold=served.threshold)
        _audit(
            ctx,
            principal,
            model,
            served,
            rid,
            how="rows",
            rows=len(results),
            alerts=_alerts(results),
            top_k=top_k,
            lang=lang,
        )
        return json_response(_payload(model, served, results, top_k, lang))

    def batch() -> Response:
        # Big batches: TreeSHAP chunk by chunk, each chunk's results encoded while the next one's
        # contributions are computed; the body is the same JSON `work` would produce.
        X = _matrix(served, body, model)
        parts, alerts = [], 0
        for ex in served.explain_chunks(X):
            results = explained(ex, top_k=top_k, lang=lang, threshold=served.threshold)
            alerts += _alerts(results)
            parts.append(json_text(results)[1:-1])
        _audit(ctx, principal, model, served, rid, how="rows", rows=len(X), alerts=alerts, top_k=top_k, lang=lang)
        head = json_text(_payload(model, served, [], top_k, lang))[:-3]  # drop the closing `[]}`
        return raw_json_response(head + "[" + ",".join(p for p in parts if p) + "]}")

    # A few rows take well under a millisecond: answer on the event loop. Bigger batches go to
    # the threadpool (LightGBM releases the GIL) so they do not stall other requests.
    if n <= INLINE_ROWS:
        return work()
    return await run_in_threadpool(work if n <= CHUNKED_ROWS else batch)


def _invalid(errors: list[dict], summary: str) -> ApiProblem:
    return ApiProblem(422, f"{errors[0]['path']}: {summary}", kind="validation", errors=errors)


def _either_form() -> ApiProblem:
    return _invalid(
        [field_error(("body",), "send either `rows` or `columns` with `data`", "shape")],
        "send either `rows` or `columns` with `data`",
    )


def _columns(body: ScoreRowsRequest) -> tuple[list[str], list[list[float | None]]]:
    """The request's column-wise form (`columns`, `data`); 422 when it lacks either."""
    if body.columns is None or body.data is None:
        raise _either_form()
    return body.columns, body.data


def _check_shape(body: ScoreRowsRequest, model: str) -> int:
    """Rows in the request; 422 unless it has `rows` or `columns` + `data` of matching widths."""
    if (body.rows is None) == (body.data is None) or (body.data is None) != (body.columns is None):
        raise _either_form()
    if body.rows is not None:
        return len(body.rows)
    columns, data = _columns(body)
    width = len(columns)
    bad = [i for i, row in enumerate(data) if len(row) != width]
    if bad:
        errors = [
            field_error(("body", "data", i), f"expected {width} values (one per column)", "shape") for i in bad[:50]
        ]
        raise _invalid(errors, f"expected {width} values (one per column)")
    seen: set[str] = set()
    dup = []
    for j, c in enumerate(columns):
        if c in seen:  # every repeat after the first
            dup.append(j)
        seen.add(c)
    if dup:
        raise _invalid(
            [field_error(("body", "columns", j), "duplicate column", "duplicate") for j in dup[:50]], "duplicate column"
        )
    return len(data)


def _matrix(served: ServedModel, body: ScoreRowsRequest, model: str) -> np.ndarray:
    """The request's rows as the booster's float64 matrix (unknown feature names: 422 with their paths)."""
    hint = f"unknown feature of model {model!r} (GET /v1/models/{model} lists its features)"
    if body.rows is not None:
        try:
            return served.matrix(body.rows)
        except UnknownFeatures as exc:
            raise _invalid(
                [
                    field_error(("body", "rows", i, name), f"unknown feature of model {model!r}", "unknown_feature")
                    for i, name in exc.problems[:50]
                ],
                hint,
            ) from None
    columns, data = _columns(body)
    unknown = [j for j, c in enumerate(columns) if c not in served.index]
    if unknown:
        raise _invalid(
            [
                field_error(("body", "columns", j), f"unknown feature of model {model!r}", "unknown_feature")
                for j in unknown[:50]
            ],
            hint,
        )
    M = np.full((len(data), len(served.index)), np.nan)
    M[:, [served.index[c] for c in columns]] = np.array(data, dtype=np.float64).reshape(len(data), len(columns))
    return M


@router.post(
    "/{model}/by-id",
    response_model=ScoreResponse,
    summary="Score and explain units from the store",
    responses=responses(401, 403, 404, 413, 422, 503),
)
def score_ids(
    model: ModelName,
    body: ScoreIdsRequest,
    principal: IdScorer,
    ctx: Context,
    models: Models,
    data: Data,
    settings: SettingsDep,
    rid: RequestId,
    top_k: TopK = 3,
    lang: Lang = "en",
) -> Response:
    """Build the units' features from the store (as of their cut-off) and score them with the champion
    (or the baseline rule when there is none). One result per id, in the order asked: `outcome` is
    `scored`, or `not_scoreable` with the `reason` (e.g. an assistant, for the decline model) - one such
    id does not fail the batch. Ids not in the data answer 404.

    Ids are change ids for `transfer-anomaly` and employee ids for `decline` and `high-performer`.
    Roles: hr_admin, hr_system; managers for their own team (other teams' ids answer 404).
    """
    served = models.scorer(model)
    _check_batch(len(body.ids), settings.api_max_batch, "ids")
    spec = get_pipeline(model, settings)
    as_of = pd.Timestamp(body.as_of) if body.as_of is not None else None
    visible = None
    if principal.role == "manager":

        def visible(subjects: list[str]) -> list[bool]:
            return [
                can_see(principal, employee_id=e, team_id=t)
                for e, t in zip(subjects, data.team_of(subjects), strict=True)
            ]

    try:
        results = scoring.score_ids(spec, served, data, body.ids, as_of=as_of, top_k=top_k, lang=lang, visible=visible)
    except scoring.UnknownUnits as exc:
        raise ApiProblem(404, str(exc), kind="not-found") from None
    _audit(
        ctx,
        principal,
        model,
        served,
        rid,
        how="id",
        rows=len(results),
        alerts=_alerts(results),
        top_k=top_k,
        lang=lang,
        results=results,
    )
    return json_response(_payload(model, served if served is not None else spec, results, top_k, lang))
