"""Scores: explained predictions from the champions, from feature rows or by id from the store."""
from __future__ import annotations

from typing import Annotated, Literal

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
from perfml.keys import Principal
from perfml.pipelines import PIPELINE_NAMES
from perfml.serving import ServedModel, UnknownFeatures, explained

router = APIRouter(prefix="/v1/scores", tags=["scores"])

ModelName = Annotated[str, Path(description="Model: " + ", ".join(PIPELINE_NAMES) + ".",
                                json_schema_extra={"enum": list(PIPELINE_NAMES)}, examples=["transfer-anomaly"])]
TopK = Annotated[int, Query(ge=1, le=100, description="Factors per result (largest |contribution| first).")]
Lang = Annotated[Literal["en", "zh"], Query(description="Language of display names and reasons.")]
MAX_IDS_SHOWN = 10
INLINE_ROWS = 16
CHUNKED_ROWS = 300  # from here on, TreeSHAP in overlapping chunks


def _check_batch(n: int, limit: int, field: str) -> None:
    if n > limit:
        raise ApiProblem(422, f"{field}: at most {limit} per request, got {n}", kind="batch-too-large",
                         errors=[field_error(("body", field), f"at most {limit} items, got {n}", "too_long")])


def _payload(served: ServedModel, results: list[dict], top_k: int, lang: str) -> dict:
    return {"model": served.name, "version": served.version, "kind": served.kind, "threshold": served.threshold,
            "lang": lang, "top_k": top_k, "results": results}


def _audit(ctx, principal: Principal, served: ServedModel, rid: str | None, *, how: str, rows: int, alerts: int,
           top_k: int, lang: str, results: list[dict] | None = None) -> None:
    """Count the predictions and write the audit entry (by id: which units and their scores)."""
    ctx.metrics.predictions.labels(served.name).inc(rows)
    details = {"by": how, "rows": rows, "alerts": alerts, "top_k": top_k, "lang": lang}
    if results is not None:
        details["ids"] = [r["id"] for r in results]
        details["scores"] = [round(r["score"], 6) for r in results]
    ctx.audit.record(principal=principal.name, action="score", target=served.name, version=served.version,
                     request_id=rid, details=details)


def _alerts(results: list[dict]) -> int:
    return sum(1 for r in results if r["alert"])


@router.post("/{model}", response_model=ScoreResponse, summary="Score and explain feature rows",
             responses=responses(401, 403, 404, 413, 422, 503))
async def score_rows(model: ModelName, body: ScoreRowsRequest, principal: Scorer, ctx: Context, models: Models,
                     settings: SettingsDep, rid: RequestId, top_k: TopK = 3, lang: Lang = "en") -> Response:
    """Score rows of features with the model's champion; every result carries its top-k SHAP factors.

    Roles: hr_admin, hr_system.
    """
    served = models.get(model)
    n = _check_shape(body, model)
    _check_batch(n, settings.api_max_batch, "rows" if body.rows is not None else "data")

    def work() -> Response:
        X = _matrix(served, body, model)
        results = explained(served.explain(X), top_k=top_k, lang=lang, threshold=served.threshold)
        _audit(ctx, principal, served, rid, how="rows", rows=len(results), alerts=_alerts(results), top_k=top_k,
               lang=lang)
        return json_response(_payload(served, results, top_k, lang))

    def batch() -> Response:
        # Big batches: TreeSHAP chunk by chunk, each chunk's results encoded while the next one's
        # contributions are computed; the body is the same JSON `work` would produce.
        X = _matrix(served, body, model)
        parts, alerts = [], 0
        for ex in served.explain_chunks(X):
            results = explained(ex, top_k=top_k, lang=lang, threshold=served.threshold)
            alerts += _alerts(results)
            parts.append(json_text(results)[1:-1])
        _audit(ctx, principal, served, rid, how="rows", rows=len(X), alerts=alerts, top_k=top_k, lang=lang)
        head = json_text(_payload(served, [], top_k, lang))[:-3]  # drop the closing `[]}`
        return raw_json_response(head + "[" + ",".join(p for p in parts if p) + "]}")

    # A few rows take well under a millisecond: answer on the event loop. Bigger batches go to
    # the threadpool (LightGBM releases the GIL) so they do not stall other requests.
    if n <= INLINE_ROWS:
        return work()
    return await run_in_threadpool(work if n <= CHUNKED_ROWS else batch)


def _invalid(errors: list[dict], summary: str) -> ApiProblem:
    return ApiProblem(422, f"{errors[0]['path']}: {summary}", kind="validation", errors=errors)


def _check_shape(body: ScoreRowsRequest, model: str) -> int:
    """Rows in the request; 422 unless it has `rows` or `columns` + `data` of matching widths."""
    if (body.rows is None) == (body.data is None) or (body.data is None) != (body.columns is None):
        raise _invalid([field_error(("body",), "send either `rows` or `columns` with `data`", "shape")],
                       "send either `rows` or `columns` with `data`")
    if body.rows is not None:
        return len(body.rows)
    width = len(body.columns)
    bad = [i for i, row in enumerate(body.data) if len(row) != width]
    if bad:
        errors = [field_error(("body", "data", i), f"expected {width} values (one per column)", "shape")
                  for i in bad[:50]]
        raise _invalid(errors, f"expected {width} values (one per column)")
    seen: set[str] = set()
    dup = [j for j, c in enumerate(body.columns) if c in seen or seen.add(c)]
    if dup:
        raise _invalid([field_error(("body", "columns", j), "duplicate column", "duplicate") for j in dup[:50]],
                       "duplicate column")
    return len(body.data)


def _matrix(served: ServedModel, body: ScoreRowsRequest, model: str) -> np.ndarray:
    """The request's rows as the booster's float64 matrix (unknown feature names: 422 with their paths)."""
    hint = f"unknown feature of model {model!r} (GET /v1/models/{model} lists its features)"
    if body.rows is not None:
        try:
            return served.matrix(body.rows)
        except UnknownFeatures as exc:
            raise _invalid([field_error(("body", "rows", i, name), f"unknown feature of model {model!r}",
                                        "unknown_feature") for i, name in exc.problems[:50]], hint) from None
    unknown = [j for j, c in enumerate(body.columns) if c not in served.index]
    if unknown:
        raise _invalid([field_error(("body", "columns", j), f"unknown feature of model {model!r}",
                                    "unknown_feature") for j in unknown[:50]], hint)
    M = np.full((len(body.data), len(served.index)), np.nan)
    M[:, [served.index[c] for c in body.columns]] = np.array(body.data, dtype=np.float64).reshape(
        len(body.data), len(body.columns))
    return M


@router.post("/{model}/by-id", response_model=ScoreResponse, summary="Score and explain units from the store",
             responses=responses(401, 403, 404, 413, 422, 503))
def score_ids(model: ModelName, body: ScoreIdsRequest, principal: IdScorer, ctx: Context, models: Models,
              data: Data, settings: SettingsDep, rid: RequestId, top_k: TopK = 3, lang: Lang = "en") -> Response:
    """Build the units' features from the store (as of their cut-off) and score them with the champion.

    Ids are change ids for `transfer-anomaly` and employee ids for `decline` and `high-performer`.
    Roles: hr_admin, hr_system; managers for their own team (other teams' ids answer 404).
    """
    from perfml.pipelines import get_pipeline

    served = models.get(model)
    _check_batch(len(body.ids), settings.api_max_batch, "ids")
    spec = get_pipeline(model)
    as_of = pd.Timestamp(body.as_of) if body.as_of is not None else None
    frame = data.features(spec, as_of)
    key = spec.key[0]
    wanted = list(dict.fromkeys(body.ids))
    rows = frame[frame[key].astype("string").isin(wanted)] if not frame.empty else frame
    if principal.role == "manager" and not rows.empty:
        subjects = rows[spec.subject_column].astype("string").tolist()
        teams = data.team_of(subjects)
        visible = [can_see(principal, employee_id=e, team_id=t) for e, t in zip(subjects, teams)]
        rows = rows[visible]
    found = set(rows[key].astype(str)) if not rows.empty else set()
    missing = [i for i in wanted if i not in found]
    if missing:
        shown = ", ".join(missing[:MAX_IDS_SHOWN]) + (f" (+{len(missing) - MAX_IDS_SHOWN} more)"
                                                      if len(missing) > MAX_IDS_SHOWN else "")
        raise ApiProblem(404, f"model {model!r}: no scoreable {key} {shown}"
                              + (f" as of {body.as_of}" if body.as_of else ""), kind="not-found")
    lacking = [f for f in served.features if f not in rows.columns]
    if lacking:
        raise ApiProblem(503, f"model {model!r} v{served.version} needs features the pipeline no longer builds: "
                              f"{', '.join(lacking[:5])}; retrain it", kind="model-unavailable")
    order = {unit: i for i, unit in enumerate(wanted)}  # answer in the order asked
    rows = rows.iloc[np.argsort(rows[key].astype(str).map(order).to_numpy(), kind="stable")].reset_index(drop=True)
    results = explained(served.explain(rows), top_k=top_k, lang=lang, threshold=served.threshold,
                        ids=rows[key].astype(str).tolist(), rules=spec.rule_alerts(rows))
    at = rows[spec.time_column] if spec.time_column in rows.columns else None
    for i, r in enumerate(results):
        r["at"] = None if at is None or pd.isna(at.iloc[i]) else pd.Timestamp(at.iloc[i]).isoformat()
    _audit(ctx, principal, served, rid, how="id", rows=len(results), alerts=_alerts(results), top_k=top_k,
           lang=lang, results=results)
    return json_response(_payload(served, results, top_k, lang))
