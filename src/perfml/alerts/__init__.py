"""Alerts, one question per module; refreshing them is the use case `perfml.services.alerts`.

- `build` - what an alert says: upsert arguments per alert type (model alerts with their
  TreeSHAP factors, one builder per pipeline in `MODEL_ALERTS`; rule alerts with their evidence).
- `queries` - reading: `list_alerts`, `get_alert`, `transfer_scores`.
- `text` - how an alert reads in a list: `summary_line` (en, zh).
- `review` - the review workflow: `review_alert` (a transfer alert's decision becomes a
  `transfer_labels` row in the same transaction), `review_changes`.
"""

from perfml.alerts.queries import get_alert, list_alerts, transfer_scores
from perfml.alerts.review import AlertNotFound, review_alert, review_changes
from perfml.alerts.text import summary_line

__all__ = [
    "AlertNotFound",
    "get_alert",
    "list_alerts",
    "review_alert",
    "review_changes",
    "summary_line",
    "transfer_scores",
]
