"""The review workflow: a person confirms or dismisses an alert; a transfer alert's decision becomes a label.

`review_alert` records the decision (with a note) and, for a transfer alert, writes the outcome
to `transfer_labels` (is_anomalous = 1 on confirm, 0 on dismiss, `reviewed_at` = now) in the same
transaction - the next training reads it as an audit label, and the rule engine's crediting
reads it as a void (confirm) or release (dismiss).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perfml import audit_log
from perfml.alerts.queries import get_alert
from perfml.errors import PerfmlError
from perfml.store import (
    ALERT_STATUSES,
    REVIEW_DECISIONS,
    alert_reviews,
    alerts,
    create_all,
    engine_for,
    record_changes,
    upsert_records,
    utcnow,
)

STATUS_OF = {"confirm": "confirmed", "dismiss": "dismissed"}


class AlertNotFound(PerfmlError):
    """No alert with that id."""


def _label_frame(change_id: str, label: int, reviewed_at) -> pd.DataFrame:
    """One `transfer_labels` row, typed as `Dataset` types it."""
    return pd.DataFrame(
        {
            "change_id": pd.Series([change_id], dtype="string"),
            "is_anomalous": pd.Series([float(label)], dtype="float64"),
            "reviewed_at": pd.Series([pd.Timestamp(reviewed_at)], dtype="datetime64[ns]"),
        }
    )


def review_changes(alert: Mapping) -> dict[str, pd.DataFrame]:
    """The canonical rows the latest review of `alert` (as `review_alert` returns it) wrote: table -> typed rows."""
    reviews = alert.get("reviews") or []
    if alert.get("type") != "transfer_anomaly" or not alert.get("change_id") or not reviews:
        return {}
    last = reviews[-1]
    return {
        "transfer_labels": _label_frame(
            alert["change_id"], 1 if last["decision"] == "confirm" else 0, last["reviewed_at"]
        )
    }


def review_alert(
    engine: Engine | str,
    alert_id: int,
    *,
    decision: str,
    note: str | None,
    reviewer: str,
    request_id: str | None = None,
) -> dict:
    """Record a decision on an alert; a transfer alert's decision also becomes a `transfer_labels` row."""
    if decision not in REVIEW_DECISIONS:
        raise PerfmlError(f"decision must be one of {', '.join(REVIEW_DECISIONS)}, got {decision!r}")
    eng = engine_for(engine)
    create_all(eng)
    now = utcnow()
    status = STATUS_OF[decision]
    assert status in ALERT_STATUSES
    with eng.begin() as conn:
        # Write first (SQLite: a transaction that reads and then writes can lose its snapshot to a
        # concurrent writer); RETURNING still gives the values before the status changes below.
        row = conn.execute(
            sa.update(alerts)
            .where(alerts.c.id == alert_id)
            .values(updated_at=now)
            .returning(alerts.c.id, alerts.c.type, alerts.c.change_id, alerts.c.status, alerts.c.model_version)
        ).first()
        if row is None:
            raise AlertNotFound(f"alert {alert_id} does not exist")
        conn.execute(
            sa.insert(alert_reviews).values(
                alert_id=alert_id, decision=decision, note=note, reviewer=reviewer, reviewed_at=now
            )
        )
        conn.execute(sa.update(alerts).where(alerts.c.id == alert_id).values(status=status))
        label = None
        if row.type == "transfer_anomaly" and row.change_id:
            label = 1 if decision == "confirm" else 0
            frame = _label_frame(row.change_id, label, now)
            upsert_records(conn, "transfer_labels", frame, ingested_at=now)
        audit_log.write(
            conn,
            principal=reviewer,
            action="alert.review",
            target=f"alert:{alert_id}",
            version=row.model_version,
            request_id=request_id,
            details={
                "decision": decision,
                "note": note,
                "type": row.type,
                "change_id": row.change_id,
                "previous_status": row.status,
                "transfer_label": label,
            },
        )
        if label is not None:
            record_changes(conn, {"transfer_labels": frame})  # last: see `perfml.store.changes`
    out = get_alert(eng, alert_id)
    assert out is not None
    return out


__all__ = ["AlertNotFound", "STATUS_OF", "review_alert", "review_changes"]
