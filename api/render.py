"""Turning perfml's internal values into API payloads (UTC datetimes, plain JSON, trajectories)."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Any

import pandas as pd
from fastapi import Response

TRAJECTORY_COLUMNS = (
    "revenue",
    "revenue_target",
    "attainment",
    "orders",
    "new_customers",
    "visits",
    "activities",
    "lead_conversion_rate",
    "avg_satisfaction",
)


def utc(value) -> datetime | None:
    """A store timestamp (naive UTC) as an aware UTC datetime; None for missing."""
    if value is None or (not isinstance(value, datetime) and pd.isna(value)):
        return None
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def day(value) -> date | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date()


def number(value) -> float | None:
    """A finite float or None (NaN and infinities have no JSON form)."""
    if value is None or value is pd.NA:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def json_text(payload: Any) -> str:
    """Compact JSON text (UTF-8 kept, NaN refused)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def raw_json_response(text: str, status: int = 200) -> Response:
    return Response(text.encode(), status_code=status, media_type="application/json")


def json_response(payload: Any, status: int = 200) -> Response:
    """Plain `json.dumps` (no response-model round trip) for the hot path; payload must be JSON-ready."""
    return raw_json_response(json_text(payload), status)


def plain(obj: Any) -> Any:
    """Recursively JSON-safe: NaN -> None, numpy scalars -> Python, timestamps -> ISO text."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        try:
            return plain(obj.item())
        except (TypeError, ValueError):
            return str(obj)
    if isinstance(obj, (pd.Timestamp, datetime, date)):
        return obj.isoformat()
    return obj


def trajectory(monthly: pd.DataFrame, employee_id: str | None, months: int = 6, until=None) -> list[dict]:
    """The employee's last `months` months of the metrics layer (those begun before `until`), oldest first."""
    if employee_id is None or monthly.empty or "employee_id" not in monthly.columns:
        return []
    rows = monthly[monthly["employee_id"] == employee_id]
    if until is not None and not pd.isna(until):
        ts = pd.Timestamp(until)
        ts = ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts
        last = (ts - pd.Timedelta(microseconds=1)).strftime("%Y-%m")  # a month starting at `until` has not begun
        rows = rows[rows["period"].astype(str) <= last]
    rows = rows.sort_values("period").tail(months)
    cols = [c for c in TRAJECTORY_COLUMNS if c in rows.columns]
    return [{"period": str(r["period"]), **{c: number(r[c]) for c in cols}} for _, r in rows.iterrows()]


def model_status(s: dict) -> dict:
    """A `ServingModels.status()` entry as the API shows it (UTC datetimes)."""
    return {
        "name": s["name"],
        "loaded": s["loaded"],
        "version": s["version"],
        "champion": s["champion"],
        "kind": s["kind"],
        "threshold": s.get("threshold"),
        "loaded_at": utc(s["loaded_at"]),
        "error": s["error"],
        "source": s.get("source"),
        "degraded": s.get("degraded"),
    }
