"""Batch ingest of contract records."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

TableName = Literal[
    "employees",
    "customers",
    "ownership_changes",
    "activities",
    "leads",
    "orders",
    "targets",
    "satisfaction",
    "transfer_labels",
    "demographics",
    "metrics",
]
Cell = str | Annotated[float, Field(allow_inf_nan=False)] | int | bool | None


class IngestRequest(BaseModel):
    """Records per table in the data contract (column names as in the files); upserted by key."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "records": {
                        "customers": [{"customer_id": "C90001", "created_at": "2024-06-03T09:00:00", "segment": "smb"}],
                        "orders": [
                            {
                                "order_id": "O90001",
                                "customer_id": "C90001",
                                "employee_id": "E0001",
                                "closed_at": "2024-06-20T15:30:00",
                                "amount": "12500.00",
                                "order_type": "new",
                            }
                        ],
                    }
                }
            ]
        },
    )

    records: dict[TableName, list[dict[str, Cell]]] = Field(
        description="table -> records; at most `PERFML_API_MAX_BATCH` (default 1000) records in total."
    )


class IngestResponse(BaseModel):
    rows: dict[str, int] = Field(description="Records written (inserted or updated) per table.")
    total: int
