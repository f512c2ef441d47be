"""Ingest: batch upsert of contract records, validated, all or nothing, idempotent."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Context, RequestId
from api.errors import ApiProblem, field_error, record_errors, responses
from api.permissions import Integrator
from api.schemas.ingest import IngestRequest, IngestResponse
from perfml.errors import DataValidationError
from perfml.services.ingest import ingest_batch

router = APIRouter(prefix="/v1/ingest", tags=["ingest"])


@router.post(
    "",
    response_model=IngestResponse,
    summary="Upsert a batch of contract records",
    responses=responses(401, 403, 413, 422),
)
def ingest(body: IngestRequest, principal: Integrator, ctx: Context, rid: RequestId) -> dict:
    """Validate every record against the data contract (types, required values, enums, ranges,
    unique keys, references to this batch or the store), then upsert all tables in one transaction.
    One bad record and nothing is written: the problem names the table, record index and field
    (`records.orders[3].amount`). Sending the same records again changes nothing.
    Roles: hr_admin, hr_system."""
    total = sum(len(v) for v in body.records.values())
    limit = ctx.settings.api_max_batch
    if total > limit:
        raise ApiProblem(
            422,
            f"records: at most {limit} records per batch, got {total}",
            kind="batch-too-large",
            errors=[field_error(("body", "records"), f"at most {limit} records, got {total}", "too_long")],
        )
    try:
        # The committed rows go into the service's snapshot as they are: no rebuild, reads never wait.
        # a plain str-keyed copy: the service validates table names itself
        rows = ingest_batch(home=ctx.home, records=dict(body.records.items()), data=ctx.data)
    except DataValidationError as exc:
        errors = record_errors(exc)
        ctx.audit.record(
            principal=principal.name,
            action="ingest.refused",
            target="store",
            request_id=rid,
            details={"records": {k: len(v) for k, v in body.records.items()}, "problems": len(exc.problems)},
        )
        raise ApiProblem(
            422,
            f"nothing written: {errors[0]['path']}: {errors[0]['msg']}"
            + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""),
            kind="invalid-records",
            errors=errors,
        ) from None
    ctx.audit.record(principal=principal.name, action="ingest", target="store", request_id=rid, details={"rows": rows})
    return {"rows": rows, "total": sum(rows.values())}
