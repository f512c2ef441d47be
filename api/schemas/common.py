"""Shared API models: problem details (RFC 9457) and pages."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

Day = Annotated[date, Field(ge=date(1970, 1, 1), le=date(2200, 12, 31))]
"""A calendar day the models and rules can work with (timestamps are nanosecond-based: 1677..2262)."""

MAX_PAGE = 200
"""Largest page any list endpoint returns."""

MAX_ROW_ID = 2**31 - 1
"""Largest id of a stored row (alerts, keys, ...): SQL INTEGER, 32 bits on PostgreSQL."""


class FieldError(BaseModel):
    """One invalid field: where (`loc` and a readable `path`), what is wrong, and for records the rule."""

    loc: list[str | int] = Field(description='Location of the field, e.g. ["body", "rows", 3, "amount"].')
    path: str = Field(description="The same location as a path, e.g. `rows[3].amount`.")
    msg: str
    type: str = Field(description="Machine-readable error kind.")
    table: str | None = Field(None, description="Contract table (record errors).")
    column: str | None = Field(None, description="Contract column (record errors).")
    count: int | None = Field(None, description="How many records break this rule (record errors).")


class Problem(BaseModel):
    """An error as `application/problem+json` (RFC 9457). Never carries a stack trace."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:perfml:problem:validation",
                    "title": "Unprocessable Content",
                    "status": 422,
                    "detail": "records.orders[3].amount: must be >= 0",
                    "instance": "/v1/ingest",
                    "request_id": "4f1c2b0e9a8d4e7f",
                    "errors": [
                        {
                            "loc": ["body", "records", "orders", 3, "amount"],
                            "path": "records.orders[3].amount",
                            "msg": "must be >= 0",
                            "type": "record",
                            "table": "orders",
                            "column": "amount",
                            "count": 1,
                        }
                    ],
                }
            ]
        }
    )

    type: str = Field(description="A URI naming the kind of problem (`about:blank` = see status).")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(None, description="The request path.")
    request_id: str | None = Field(
        None, description="The request id (also in the X-Request-ID header and the audit log)."
    )
    errors: list[FieldError] | None = Field(None, description="Every invalid field, when the problem is about input.")


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first, and how to get the next one."""

    items: list[T]
    total: int = Field(description="Items matching the filters, over all pages.")
    limit: int
    offset: int
    next_offset: int | None = Field(None, description="Offset of the next page; null on the last page.")

    @classmethod
    def of(cls, items: list, total: int, limit: int, offset: int) -> dict:
        nxt = offset + limit if offset + limit < total else None
        return {"items": items, "total": total, "limit": limit, "offset": offset, "next_offset": nxt}
